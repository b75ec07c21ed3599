/**
 * Secrets through the API: every pattern, in nested fields, is refused with a 400 naming the
 * field path and the pattern, and the value appears nowhere: not in the response, not in any
 * Redis key or value under the test's prefix, not in a log line.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CASES, FAKE } from './fixtures.ts';
import { type Harness, dumpKeys, expectError, startAutomation, summary } from './support.ts';

let h: Harness;

beforeEach(async () => {
  h = await startAutomation();
});

afterEach(async () => {
  await h.service.close();
});

/** The value, and a distinctive slice of it (a partial echo counts as a leak too). */
function fragments(secret: string): string[] {
  return [secret, secret.slice(8, 28)];
}

async function expectNowhere(secret: string, ...texts: string[]): Promise<void> {
  const dump = await dumpKeys(h.service);
  for (const f of fragments(secret)) {
    for (const t of texts) expect(t).not.toContain(f);
    expect(dump.text).not.toContain(f);
    for (const line of h.logLines) expect(line).not.toContain(f);
  }
}

describe('secret detection on POST /v1/sessions/:sessionId/automation', () => {
  it.each(CASES)('refuses $name', async ({ secret, kind, place }) => {
    // A valid record first, so the Redis scan below has something to look through.
    const ok = await h.call('POST', '/v1/sessions/s1/automation', summary());
    expect(ok.status).toBe(201);

    const { body, path } = place(secret);
    const res = await h.call('POST', '/v1/sessions/s1/automation', summary(body));
    expectError(res, 400, 'validation-failed', path);
    expect(res.body.error.message).toContain(kind);
    expect(res.body.error.details).toMatchObject({ in: 'body', secretKind: kind });
    await expectNowhere(secret, JSON.stringify(res.body));

    // Nothing was written: still the one record and its transcript entry.
    const list = await h.call('GET', '/v1/sessions/s1/automation');
    expect(list.body.items).toHaveLength(1);
    expect((await h.call('GET', '/v1/sessions/s1/transcript')).body.items).toHaveLength(1);
  });

  it('refuses a secret in an object key without naming the key', async () => {
    const res = await h.call(
      'POST',
      '/v1/sessions/s1/automation',
      summary({ logs: [{ message: 'env', data: { [FAKE.ghp]: 'set' } }] }),
    );
    expectError(res, 400, 'validation-failed', 'logs.0.data');
    await expectNowhere(FAKE.ghp, JSON.stringify(res.body));
  });

  it('refuses a secret in an unknown field before reporting the field as unknown', async () => {
    const res = await h.call(
      'POST',
      '/v1/sessions/s1/automation',
      summary({ [`token ${FAKE.akia}`]: 1, note: FAKE.akia }),
    );
    expectError(res, 400, 'validation-failed');
    expect(res.body.error.details.secretKind).toBe('aws-access-key-id');
    await expectNowhere(FAKE.akia, JSON.stringify(res.body));
  });

  it('refuses a session id that looks like a secret on every route, and echoes nothing', async () => {
    for (const [method, body] of [
      ['POST', summary()],
      ['GET', undefined],
    ] as const) {
      for (const route of method === 'POST' ? ['automation'] : ['automation', 'transcript']) {
        const res = await h.call(method, `/v1/sessions/${FAKE.ghp}/${route}`, body);
        expectError(res, 400, 'validation-failed', 'sessionId');
        await expectNowhere(FAKE.ghp, JSON.stringify(res.body));
      }
    }
  });

  it('refuses every secret kind in one body, naming the first in document order', async () => {
    const res = await h.call(
      'POST',
      '/v1/sessions/s1/automation',
      summary({
        toastMessage: 'fine',
        logs: [{ message: 'ok' }, { message: FAKE.bearer }, { message: FAKE.pat }],
        transcriptNote: FAKE.awsSecret,
      }),
    );
    expectError(res, 400, 'validation-failed', 'logs.1.message');
    for (const s of [FAKE.bearer, FAKE.pat, FAKE.awsSecret])
      await expectNowhere(s, JSON.stringify(res.body));
  });

  it('accepts text that only resembles a secret', async () => {
    const res = await h.call(
      'POST',
      '/v1/sessions/s1/automation',
      summary({
        transcriptNote:
          'Push failed: missing Bearer token; set up the deploy key (-----BEGIN PUBLIC KEY-----).',
        logs: [
          {
            message:
              'cloned git@github.com:acme/app.git via https://octocat@github.com/acme/app.git',
          },
          { message: 'aws_secret_access_key is not configured' },
        ],
      }),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });
});
