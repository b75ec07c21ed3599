/**
 * Redis outages, injected by the test on a redis-server of its own: stopped (SIGKILL, restarted
 * from its append-only file) and frozen (SIGSTOP). Every request must get a clear 503
 * store-unavailable with Retry-After within about a second over the command timeout, /readyz
 * must answer within a second, and the service must heal by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type Service, start } from '../../src/main.ts';
import { OPERATOR } from '../helpers.ts';
import { OwnRedis, freePort, until } from './support.ts';

const COMMAND_TIMEOUT_MS = 500;
/** The bound the issue sets: about one second over the command timeout. */
const ANSWER_WITHIN_MS = COMMAND_TIMEOUT_MS + 1_000;

let redis: OwnRedis;
let service: Service;
const logLines: string[] = [];

beforeAll(async () => {
  redis = new OwnRedis(await freePort());
  await redis.start();
  service = await start({
    config: loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      KEY_PREFIX: 'outage',
      OPERATOR_TOKENS: OPERATOR,
    }),
    clock: new ManualClock(Date.now()),
    logger: createLogger('debug', (line) => logLines.push(line)),
    background: false,
  });
});

afterAll(async () => {
  redis.thaw();
  await service?.stop();
  await redis.destroy();
});

async function timed(method: string, path: string, body?: unknown) {
  const started = performance.now();
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${OPERATOR}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? JSON.parse(text) : null,
    retryAfter: res.headers.get('retry-after'),
    ms: performance.now() - started,
  };
}

let beat = 0;
const heartbeat = () =>
  timed('POST', '/v1/connections/c1/heartbeats', {
    timestamp: new Date(service.engine.clock.now()).toISOString(),
    succeeded: 1,
    failed: 0,
    heartbeatId: `hb-${++beat}`,
  });

function expectUnavailable(res: Awaited<ReturnType<typeof timed>>) {
  expect(res.status, JSON.stringify(res.body)).toBe(503);
  expect(res.body.error.code).toBe('store-unavailable');
  expect(res.retryAfter).toBe('1');
  expect(res.ms).toBeLessThan(ANSWER_WITHIN_MS);
}

async function healthy() {
  await until('/readyz to answer 200', async () => (await timed('GET', '/readyz')).status === 200);
  await until('a heartbeat to succeed', async () => (await heartbeat()).status === 200);
}

describe('Redis outages', () => {
  it('registers and heartbeats while Redis answers', async () => {
    expect(
      (
        await timed('POST', '/v1/connections', {
          connectionId: 'c1',
          installationId: 'inst-a',
          workspaceId: 'ws-1',
        })
      ).status,
    ).toBe(201);
    await timed('POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    expect((await heartbeat()).status).toBe(200);
  });

  it('answers 503 store-unavailable quickly while Redis is frozen, /readyz within 1 s, and heals after', async () => {
    redis.freeze();
    try {
      const answers = await Promise.all([
        heartbeat(),
        heartbeat(),
        timed('GET', '/v1/connections/c1'),
      ]);
      for (const res of answers) expectUnavailable(res);
      const ready = await timed('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.ms).toBeLessThan(1_000);
    } finally {
      redis.thaw();
    }
    await healthy();
  });

  it('answers 503 at once while Redis is down, and heals when it is back with its data', async () => {
    const before = (await timed('GET', '/v1/connections/c1')).body.sampleSize as number;
    await redis.kill();
    const answers = await Promise.all([
      heartbeat(),
      heartbeat(),
      timed('GET', '/v1/connections/c1'),
    ]);
    for (const res of answers) expectUnavailable(res);
    const ready = await timed('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(1_000);

    await redis.start();
    await healthy();
    // Everything acknowledged before the crash was fsynced to the AOF and is still there, plus
    // the heartbeat that healthy() got through.
    const after = (await timed('GET', '/v1/connections/c1')).body.sampleSize as number;
    expect(after).toBe(before + 1);
  });

  it('heals when Redis, frozen, is killed and restarted (a supervisor replacing a hung server)', async () => {
    redis.freeze();
    // A command times out: from now on commands fail fast until a PING answers.
    expectUnavailable(await heartbeat());
    await redis.kill();
    await redis.start();
    // The reconnection's own ready check (INFO) must not be failed fast, or no PING ever could be
    // sent on a connection that never becomes ready.
    await healthy();
    expect((await heartbeat()).status).toBe(200);
  });

  it('logged the outage and the recovery, every line JSON', () => {
    const messages = logLines.map((l) => (JSON.parse(l) as { message: string }).message);
    expect(messages).toContain(
      'redis stopped answering; failing commands fast until a PING answers',
    );
    expect(messages).toContain('redis answers again; commands flow');
    for (const line of logLines) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });
});
