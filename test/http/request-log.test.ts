/**
 * Request ids and access logs: every answer carries X-Request-Id (the caller's, or a new one),
 * errors repeat it, and each request is one JSON log line without query strings or tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type Service, start } from '../../src/main.ts';
import { OPERATOR, T0, realRedis, testPrefix, deletePrefix } from '../helpers.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const lines: Record<string, unknown>[] = [];
const redis = realRedis();
const prefix = testPrefix('reqlog');
let service: Service;

beforeAll(async () => {
  service = await start({
    config: loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      KEY_PREFIX: prefix,
      OPERATOR_TOKENS: OPERATOR,
    }),
    clock: new ManualClock(T0),
    redis,
    logger: createLogger('info', (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
    background: false,
  });
});

afterAll(async () => {
  await service.stop();
  await deletePrefix(redis, prefix);
  redis.disconnect();
});

async function send(path: string, init: RequestInit = {}) {
  const res = await fetch(`${service.url}${path}`, init);
  return { res, body: (await res.json()) as any };
}

const accessLines = (requestId: string) =>
  lines.filter(
    (l) => l.requestId === requestId && (l.message === 'request' || l.message === 'request failed'),
  );

describe('request ids', () => {
  it('honours a caller X-Request-Id, echoes it, and logs the request with method, path, status, duration and installation', async () => {
    const { res } = await send('/v1/connections', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${OPERATOR}`,
        'content-type': 'application/json',
        'x-request-id': 'caller-42',
      },
      body: JSON.stringify({ connectionId: 'c1', installationId: 'inst-a', workspaceId: 'ws-1' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe('caller-42');
    const [line] = accessLines('caller-42');
    expect(line).toMatchObject({
      level: 'info',
      req: { method: 'POST', path: '/v1/connections' },
      res: { status: 201 },
      installation: 'inst-a',
    });
    expect(line!.durationMs).toBeTypeOf('number');
  });

  it('makes a new id when the caller sends none or an unusable one, and puts it in error answers', async () => {
    const { res, body } = await send('/v1/connections/nope', {
      headers: { authorization: `Bearer ${OPERATOR}`, 'x-request-id': 'has spaces and {braces}' },
    });
    expect(res.status).toBe(404);
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(UUID);
    expect(body.error.requestId).toBe(id);
    expect(accessLines(id)[0]).toMatchObject({ level: 'warn', res: { status: 404 } });
  });

  it('never logs a query string, so an access_token in it stays out of the logs', async () => {
    const { res } = await send(`/v1/connections/c1?access_token=${OPERATOR}`);
    const id = res.headers.get('x-request-id')!;
    expect(accessLines(id)[0]).toMatchObject({ req: { path: '/v1/connections/c1' } });
    expect(JSON.stringify(lines)).not.toContain(OPERATOR);
  });
});

describe('unexpected errors', () => {
  it('logs one failure that broke every item of a batch once, and answers each item 500', async () => {
    // A fault injected at the service boundary: every heartbeat fails with the same error, as
    // a commit that broke answers every command it carried.
    const broken = new Error('the commit broke');
    const original = service.connections.heartbeat.bind(service.connections);
    service.connections.heartbeat = () => Promise.reject(broken);
    try {
      const items = Array.from({ length: 5 }, () => ({
        connectionId: 'c1',
        timestamp: new Date(T0).toISOString(),
        succeeded: 1,
        failed: 0,
      }));
      const { res, body } = await send('/v1/heartbeats', {
        method: 'POST',
        headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items }),
      });
      expect(res.status).toBe(200);
      expect(body.results.map((r: { status: number }) => r.status)).toEqual([
        500, 500, 500, 500, 500,
      ]);
      const id = res.headers.get('x-request-id')!;
      const logged = lines.filter((l) => l.message === 'unhandled error' && l.requestId === id);
      expect(logged).toHaveLength(1);
      expect(JSON.stringify(logged[0])).toContain('the commit broke');
    } finally {
      service.connections.heartbeat = original;
    }
  });

  it("writes a 5xx access line without pino-http's made-up error: the cause is on its own line", async () => {
    const original = service.connections.heartbeat.bind(service.connections);
    service.connections.heartbeat = () => Promise.reject(new Error('the commit broke'));
    try {
      const { res } = await send('/v1/connections/c1/heartbeats', {
        method: 'POST',
        headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
        body: JSON.stringify({ timestamp: new Date(T0).toISOString(), succeeded: 1, failed: 0 }),
      });
      expect(res.status).toBe(500);
      const id = res.headers.get('x-request-id')!;
      const [access, ...more] = accessLines(id);
      expect(more).toEqual([]);
      expect(access).toMatchObject({
        level: 'error',
        message: 'request failed',
        res: { status: 500 },
        requestId: id,
      });
      expect(access).not.toHaveProperty('err');
      const cause = lines.filter((l) => l.message === 'unhandled error' && l.requestId === id);
      expect(JSON.stringify(cause)).toContain('the commit broke');
    } finally {
      service.connections.heartbeat = original;
    }
  });
});
