/**
 * With Redis down, the answers are the documented 503s: `store-unavailable` in the one error
 * shape with Retry-After on /v1 routes, and `redis-unavailable` on /readyz. Uses a redis-server
 * of its own on a free port (test/outage/support.ts), never the shared one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { type Service, start } from '../../src/main.ts';
import { OPERATOR } from '../helpers.ts';
import { OwnRedis, freePort } from '../outage/support.ts';
import { RecordingClient } from './client.ts';
import { type OpenApiDocument, responseChecker } from './support.ts';

let redis: OwnRedis;
let service: Service;

beforeAll(async () => {
  redis = new OwnRedis(await freePort());
  await redis.start();
  service = await start({
    config: loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: '300',
      KEY_PREFIX: 'openapi-outage',
      OPERATOR_TOKENS: OPERATOR,
    }),
    clock: new ManualClock(Date.now()),
    logger: silentLogger,
    background: false,
  });
});

afterAll(async () => {
  await service?.stop();
  await redis?.destroy();
});

describe('answers while Redis is down', () => {
  it('match the documented 503 responses', async () => {
    const doc = (await (await fetch(`${service.url}/openapi.json`)).json()) as OpenApiDocument;
    const c = new RecordingClient(service.url);
    const registered = await c.send('POST', '/v1/connections', {
      body: { connectionId: 'c1', installationId: 'inst-a', workspaceId: 'ws-1' },
    });
    expect(registered.status).toBe(201);

    await redis.kill();
    const answers = [
      await c.send('GET', '/readyz', { token: null }),
      await c.send('GET', '/v1/connections/:connectionId', { params: { connectionId: 'c1' } }),
      await c.send('POST', '/v1/connections/:connectionId/heartbeats', {
        params: { connectionId: 'c1' },
        body: { timestamp: new Date().toISOString(), succeeded: 1, failed: 0 },
      }),
      await c.send('GET', '/v1/workspaces/:workspaceId', { params: { workspaceId: 'ws-1' } }),
      // A batch of which nothing could be applied is a 503 as a whole, not 200 item by item.
      await c.send('POST', '/v1/heartbeats', {
        body: {
          items: [
            { connectionId: 'c1', timestamp: new Date().toISOString(), succeeded: 1, failed: 0 },
          ],
        },
      }),
    ];
    expect(answers.map((a) => a.status)).toEqual([503, 503, 503, 503, 503]);
    expect((answers[0]!.body as { status: string }).status).toBe('redis-unavailable');
    for (const a of answers.slice(1)) {
      expect((a.body as { error: { code: string } }).error.code).toBe('store-unavailable');
    }
    const check = responseChecker(doc);
    const problems = answers.map((a) =>
      check.response(a.method, a.route, a.status, a.contentType, a.body),
    );
    expect(problems).toEqual([null, null, null, null, null]);
    const header = doc.paths['/v1/connections/{connectionId}']?.get?.responses['503'] as {
      headers?: Record<string, unknown>;
    };
    expect(Object.keys(header.headers ?? {})).toEqual(['X-Request-Id', 'Retry-After']);
    const ready = doc.paths['/readyz']?.get?.responses['503'] as {
      headers?: Record<string, unknown>;
    };
    expect(Object.keys(ready.headers ?? {})).toEqual(['X-Request-Id', 'Retry-After']);
    for (const a of answers) expect(a.headers['retry-after'], a.url).toBe('1');
  });
});
