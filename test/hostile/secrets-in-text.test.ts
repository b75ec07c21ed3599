/**
 * Text a person writes into a command (a rollback's reason, who asked for a migration) is stored
 * in records and audit entries, logged and shown: a secret pasted into it is refused with a 400
 * naming the field and the kind of secret, never echoed, and the command changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestService, checkInvariants, namedFields, startWithConnection } from '../helpers.ts';
import { settle } from './support.ts';

// Built at run time, so that no secret-looking literal sits in the source.
const GITHUB_TOKEN = `ghp_${'A1b2C3d4E5'.repeat(4).slice(0, 36)}`;
const URL_PASSWORD = `see https://deploy:${'hunter2-long'}@git.example.com/repo`;
const SLACK_WEBHOOK = `https://hooks.slack.com/services/T0AB12CD/B0EF34GH/${'hunter2'.repeat(4)}`;

let s: TestService;

beforeAll(async () => {
  s = await startWithConnection();
});

afterAll(async () => {
  await s.close();
});

/**
 * Every stored key's text under the service's prefix, once what earlier requests caused (the
 * registration's effects and metrics) is committed: read before that, a write still in flight
 * would show as a change the refused request made.
 */
async function storedText(): Promise<string> {
  await settle(s);
  // Sorted: KEYS answers in the order of Redis's table, which other tests' keys can rehash.
  const keys = (await s.redis.keys(`${s.prefix}:*`)).sort();
  const parts: string[] = [];
  for (const key of keys) {
    const type = await s.redis.type(key);
    if (type === 'string') parts.push((await s.redis.get(key)) ?? '');
    else if (type === 'hash') parts.push(JSON.stringify(await s.redis.hgetall(key)));
    else if (type === 'list') parts.push(JSON.stringify(await s.redis.lrange(key, 0, -1)));
    else if (type === 'zset') parts.push(JSON.stringify(await s.redis.zrange(key, 0, -1)));
    else if (type === 'stream') parts.push(JSON.stringify(await s.redis.xrange(key, '-', '+')));
  }
  return parts.join('\n');
}

describe('a secret in free text', () => {
  it.each([
    [
      'a connection rollback reason',
      '/v1/connections/c1/rollback',
      { reason: `token ${GITHUB_TOKEN}` },
      'reason',
      'github-token',
    ],
    [
      'a drop reason',
      '/v1/connections/c1/dropped',
      { reason: URL_PASSWORD },
      'reason',
      'url-password',
    ],
    [
      'a workspace rollback reason',
      '/v1/workspaces/ws-1/rollback',
      { reason: `x ${GITHUB_TOKEN}` },
      'reason',
      'github-token',
    ],
    [
      'who asked for a workspace rollback',
      '/v1/workspaces/ws-1/rollback',
      { reason: 'flaky', requestedBy: GITHUB_TOKEN },
      'requestedBy',
      'github-token',
    ],
    [
      'who asked for a migration',
      '/v1/workspaces/ws-1/migrations',
      { toProtocol: 'acp', initiatedBy: 'operator', requestedBy: GITHUB_TOKEN },
      'requestedBy',
      'github-token',
    ],
    [
      'a webhook URL (listed back to the installation)',
      'PUT /v1/installations/inst-a/notifications/settings',
      {
        webhookUrls: [
          'https://hooks.example.com/ok',
          `https://x.example.com/h?token=${GITHUB_TOKEN}`,
        ],
      },
      'webhookUrls.1',
      'github-token',
    ],
    [
      'a chat incoming-webhook URL, whose path is the secret',
      'PUT /v1/installations/inst-a/notifications/settings',
      { webhookUrls: [SLACK_WEBHOOK] },
      'webhookUrls.0',
      'webhook-url',
    ],
  ])(
    'is refused in %s, naming the field, and changes nothing',
    async (_, route, body, field, kind) => {
      const before = await storedText();
      const [method, path] = route.includes(' ') ? route.split(' ') : ['POST', route];
      const res = await s.api(method!, path!, body);
      checkInvariants(res);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation-failed');
      expect(namedFields(res.body.error)).toEqual([field]);
      expect(JSON.stringify(res.body)).toContain(kind);
      expect(JSON.stringify(res.body)).not.toContain(GITHUB_TOKEN);
      expect(JSON.stringify(res.body)).not.toContain('hunter2');
      expect(await storedText()).toBe(before);
    },
  );

  it('lets ordinary text through', async () => {
    const res = await s.api('POST', '/v1/connections/c1/rollback', {
      reason: 'the agent kept timing out; token rotation is on the runbook',
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('rolled-back');
  });
});
