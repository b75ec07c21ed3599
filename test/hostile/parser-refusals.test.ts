/**
 * Requests Node's HTTP parser refuses before the app sees them still get the one error shape
 * (src/http/client-error.ts), on a raw socket to the real service.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ManualClock } from '../../src/clock.ts';
import { createLogger } from '../../src/logger.ts';
import { type Service, start } from '../../src/main.ts';
import {
  OPERATOR,
  T0,
  type TestService,
  deletePrefix,
  realRedis,
  startService,
  testPrefix,
} from '../helpers.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => {
  await svc.close();
});

/** Sends `raw` on a new connection; the whole answer once the server closes it. */
function rawRequest(
  raw: string,
  to: Pick<Service, 'url'> = svc,
): Promise<{ status: number; headers: string; body: any }> {
  const { port } = new URL(to.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head, body] = [
        text.slice(0, text.indexOf('\r\n\r\n')),
        text.slice(text.indexOf('\r\n\r\n') + 4),
      ];
      resolve({
        status: Number(head.split(' ')[1]),
        headers: head.toLowerCase(),
        body: JSON.parse(body),
      });
    });
    socket.write(raw);
  });
}

describe('requests the HTTP parser refuses', () => {
  it('answers an unknown method 400 in the error shape, with a request id', async () => {
    const res = await rawRequest('FOO /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(res.status).toBe(400);
    expect(res.headers).toContain('content-type: application/json');
    expect(res.body.error).toMatchObject({ code: 'validation-failed', details: { in: 'request' } });
    expect(res.headers).toContain(`x-request-id: ${res.body.error.requestId as string}`);
  });

  it('answers a request line over the header limit 431 in the error shape', async () => {
    const res = await rawRequest(
      `GET /v1/connections/${'a'.repeat(70_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    );
    expect(res.status).toBe(431);
    expect(res.body.error).toMatchObject({ code: 'request-refused', details: { in: 'request' } });
    expect(res.body.error.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a malformed request line 400', async () => {
    const res = await rawRequest('GET\r\n\r\n');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation-failed');
  });

  it('writes nothing after an answer the app already began (a chunked body after Connection: close)', async () => {
    // node:http without an agent sends `Connection: close` and the body chunked; the parser
    // refuses what follows the request, after the app answered it: that is no new request.
    const { port } = new URL(svc.url);
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const r = request(
        {
          host: '127.0.0.1',
          port,
          method: 'DELETE',
          path: '/readyz',
          headers: { 'content-type': 'application/json' },
          agent: false,
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      r.on('error', reject);
      r.end('{"x":[]}');
    });
    // `/readyz` takes GET and HEAD only.
    expect(answer.status).toBe(405);
    expect(JSON.parse(answer.text).error.code).toBe('request-refused');
  });
});

describe('a request whose body stops arriving', () => {
  it('is answered 408 in the error shape after REQUEST_TIMEOUT_MS, and writes nothing', async () => {
    const slow = await startService({ REQUEST_TIMEOUT_MS: '300' });
    try {
      const body = '{"connectionId":"c-cut","installationId":"inst-a","workspaceId":"ws-cut"}';
      const started = Date.now();
      // Content-Length promises 100 bytes more than are sent: the parser waits for them.
      const res = await rawRequest(
        'POST /v1/connections HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
          `Authorization: Bearer ${OPERATOR}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length + 100}\r\n\r\n${body}`,
        slow,
      );
      expect(res.status).toBe(408);
      expect(res.body.error).toMatchObject({
        code: 'request-refused',
        message: 'the request did not arrive in time',
        details: { in: 'request' },
      });
      expect(res.headers).toContain(`x-request-id: ${res.body.error.requestId as string}`);
      // Within the timeout and one check (at most a second), not Node's default 5 minutes.
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await slow.api('GET', '/v1/connections/c-cut')).status).toBe(404);
    } finally {
      await slow.close();
    }
  });

  it('logs the 408 under the request id the client got, as one access line', async () => {
    const lines: Record<string, unknown>[] = [];
    const redis = realRedis();
    const prefix = testPrefix('cut');
    const logged = await start({
      config: loadConfig({
        NODE_ENV: 'test',
        PORT: '0',
        KEY_PREFIX: prefix,
        OPERATOR_TOKENS: OPERATOR,
        REQUEST_TIMEOUT_MS: '300',
      }),
      clock: new ManualClock(T0),
      redis,
      logger: createLogger('info', (line) =>
        lines.push(JSON.parse(line) as Record<string, unknown>),
      ),
      background: false,
    });
    let stopped = false;
    try {
      const res = await rawRequest(
        'POST /v1/connections HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: cut-1\r\n' +
          `Authorization: Bearer ${OPERATOR}\r\nContent-Type: application/json\r\n` +
          'Content-Length: 50\r\n\r\n{"connectionId":',
        logged,
      );
      expect(res.status).toBe(408);
      expect(res.body.error.requestId).toBe('cut-1');
      expect(res.headers).toContain('x-request-id: cut-1');
      await logged.stop();
      stopped = true;
      const access = lines.filter((l) => l.message === 'request' || l.message === 'request failed');
      expect(access).toHaveLength(1);
      expect(access[0]).toMatchObject({
        level: 'warn',
        requestId: 'cut-1',
        req: { method: 'POST', path: '/v1/connections' },
        res: { status: 408 },
      });
    } finally {
      if (!stopped) await logged.stop();
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  });

  it('defaults REQUEST_TIMEOUT_MS to 30 s', () => {
    expect(loadConfig({}).requestTimeoutMs).toBe(30_000);
  });
});
