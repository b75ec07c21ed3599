/**
 * The heartbeat lane (src/http/heartbeat-lane.ts) answers exactly as the ordinary Express stack
 * does. Canonical paths (`/v1/connections/c1/heartbeats`, `/v1/heartbeats`) take the lane; the
 * same routes spelled with a trailing slash are routed by Express through the ordinary stack. For
 * each request below, both spellings get the same status and the same body, on the real service.
 * A plain Express app shows which requests the lane takes and that errors reach the app's error
 * handler.
 */
import express from 'express';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose, heartbeatLane } from '../../src/http/heartbeat-lane.ts';
import {
  OPERATOR,
  T0,
  TOKEN_B,
  type TestService,
  checkInvariants,
  hb,
  startService,
} from '../helpers.ts';

let service: TestService;

beforeAll(async () => {
  service = await startService();
  for (const id of ['c1', 'c2']) {
    const created = await service.api('POST', '/v1/connections', {
      connectionId: id,
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const shook = await service.api('POST', `/v1/connections/${id}/handshake`, {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    expect(shook.status, JSON.stringify(shook.body)).toBe(200);
  }
});

afterAll(async () => {
  await service.close();
});

interface Raw {
  status: number;
  body: unknown;
  requestId: string | null;
}

async function send(path: string, body: string, headers: Record<string, string>): Promise<Raw> {
  const res = await fetch(`${service.url}${path}`, {
    method: 'POST',
    headers: { 'x-request-id': 'lane-test', ...headers },
    body,
  });
  const text = await res.text();
  const parsed = { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
  checkInvariants(parsed);
  return { ...parsed, requestId: res.headers.get('x-request-id') };
}

const json = { 'content-type': 'application/json', authorization: `Bearer ${OPERATOR}` };
const valid = (at: number) => JSON.stringify(hb(at, 10));

/** Requests that change nothing: both spellings must be refused in the same words. */
const refusals: [string, string, string, Record<string, string>][] = [
  ['no token', '/v1/connections/c1/heartbeats', valid(T0), { 'content-type': 'application/json' }],
  [
    'an unknown token',
    '/v1/connections/c1/heartbeats',
    valid(T0),
    { ...json, authorization: 'Bearer nope' },
  ],
  [
    'another installation’s token',
    '/v1/connections/c1/heartbeats',
    valid(T0),
    { ...json, authorization: `Bearer ${TOKEN_B}` },
  ],
  [
    'a missing field',
    '/v1/connections/c1/heartbeats',
    JSON.stringify({ timestamp: new Date(T0).toISOString() }),
    json,
  ],
  ['malformed JSON', '/v1/connections/c1/heartbeats', '{"succeeded":', json],
  ['a prototype key', '/v1/connections/c1/heartbeats', '{"__proto__":{"x":1},"succeeded":1}', json],
  [
    'a compressed body',
    '/v1/connections/c1/heartbeats',
    valid(T0),
    { ...json, 'content-encoding': 'gzip' },
  ],
  [
    'a text body',
    '/v1/connections/c1/heartbeats',
    valid(T0),
    { ...json, 'content-type': 'text/plain' },
  ],
  [
    'a charset other than utf-8',
    '/v1/connections/c1/heartbeats',
    valid(T0),
    { ...json, 'content-type': 'application/json; charset=utf8' },
  ],
  [
    'a batch with a charset other than utf-8',
    '/v1/heartbeats',
    JSON.stringify({ items: [{ connectionId: 'c1', ...hb(T0, 1) }] }),
    { ...json, 'content-type': 'application/json; charset=UTF8' },
  ],
  [
    'a body over the limit',
    '/v1/connections/c1/heartbeats',
    JSON.stringify({ pad: 'x'.repeat(300_000) }),
    json,
  ],
  ['an unknown connection', '/v1/connections/nope/heartbeats', valid(T0), json],
  ['an invalid connection id', '/v1/connections/a%20b/heartbeats', valid(T0), json],
  ['a batch that is not a list', '/v1/heartbeats', JSON.stringify({ items: 3 }), json],
];

describe('the heartbeat lane answers as the ordinary stack does', () => {
  it.each(refusals)('refuses %s in the same words', async (_name, path, body, headers) => {
    const lane = await send(path, body, headers);
    const ordinary = await send(`${path}/`, body, headers);
    expect(lane.status).toBeGreaterThanOrEqual(400);
    expect(lane).toEqual(ordinary);
  });

  it('accepts a heartbeat on both spellings with the same answer shape, counting each once', async () => {
    const lane = await send('/v1/connections/c1/heartbeats', valid(T0 + 1000), json);
    const ordinary = await send('/v1/connections/c1/heartbeats/', valid(T0 + 2000), json);
    expect(lane.status).toBe(200);
    expect(ordinary.status).toBe(200);
    expect(Object.keys(lane.body as object).sort()).toEqual(
      Object.keys(ordinary.body as object).sort(),
    );
    expect((lane.body as { sampleSize: number }).sampleSize).toBe(10);
    expect((ordinary.body as { sampleSize: number }).sampleSize).toBe(20);
    expect(lane.requestId).toBe('lane-test');
  });

  it('answers a batch with a bad item the same way on both spellings', async () => {
    const items = (at: number) =>
      JSON.stringify({ items: [{ connectionId: 'c2', ...hb(at, 5) }, { connectionId: 'c2' }] });
    const lane = await send('/v1/heartbeats', items(T0 + 3000), json);
    const ordinary = await send('/v1/heartbeats/', items(T0 + 4000), json);
    expect(lane.status).toBe(200);
    const strip = (b: unknown) =>
      (b as { results: { result?: unknown }[] }).results.map(({ result, ...rest }) => ({
        ...rest,
        hasResult: result !== undefined,
      }));
    expect(strip(lane.body)).toEqual(strip(ordinary.body));
    expect(lane.body).toMatchObject({ accepted: 1, rejected: 1 });
  });

  it('counts lane requests in the heartbeat metrics (module middleware runs in the lane)', async () => {
    const scrape = async () => (await fetch(`${service.url}/metrics`)).text();
    const count = (text: string) =>
      Number(
        /lumilink_heartbeats_total\{endpoint="single",outcome="accepted"[^}]*\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    const before = count(await scrape());
    expect((await send('/v1/connections/c1/heartbeats', valid(T0 + 5000), json)).status).toBe(200);
    expect(count(await scrape())).toBe(before + 1);
  });
});

describe('which requests the lane takes', () => {
  async function app(): Promise<{ url: string; close(): Promise<void>; seen: string[] }> {
    const seen: string[] = [];
    const a = express();
    a.use(
      heartbeatLane(
        [
          (req, _res, next) => {
            seen.push(`mw ${req.path}`);
            next();
          },
        ],
        {
          single: (req, res) => {
            res.json({ lane: 'single', id: req.params.connectionId });
          },
          batch: () => {
            throw new Error('batch failed');
          },
        },
      ),
    );
    a.use((req, res) => {
      res.status(404).json({ ordinary: req.path });
    });
    a.use(((error: Error, _req, res, _next) => {
      res.status(500).json({ handled: error.message });
    }) as express.ErrorRequestHandler);
    const server = a.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      seen,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  it('takes only POSTs to the canonical paths, with the id decoded', async () => {
    const a = await app();
    try {
      const post = async (path: string, method = 'POST') =>
        (await fetch(`${a.url}${path}`, { method })).json();
      expect(await post('/v1/connections/c%2D1/heartbeats')).toEqual({ lane: 'single', id: 'c-1' });
      expect(await post('/v1/connections/c1/heartbeats', 'GET')).toEqual({
        ordinary: '/v1/connections/c1/heartbeats',
      });
      expect(await post('/v1/connections/c1/heartbeats/')).toEqual({
        ordinary: '/v1/connections/c1/heartbeats/',
      });
      expect(await post('/V1/heartbeats')).toEqual({ ordinary: '/V1/heartbeats' });
      expect(await post('/v1/connections/%E0%A4%A/heartbeats')).toEqual({
        ordinary: '/v1/connections/%E0%A4%A/heartbeats',
      });
      // A handler's error goes to the app's error handler.
      expect(await post('/v1/heartbeats')).toEqual({ handled: 'batch failed' });
      expect(a.seen).toEqual(['mw /v1/connections/c%2D1/heartbeats', 'mw /v1/heartbeats']);
    } finally {
      await a.close();
    }
  });

  it('compose runs handlers in order and sends sync throws and rejections to the end', async () => {
    const calls: string[] = [];
    const done = (error?: unknown) =>
      calls.push(`done ${error instanceof Error ? error.message : String(error)}`);
    const run = (handlers: express.RequestHandler[]) =>
      compose(handlers)({} as express.Request, {} as express.Response, done);
    run([
      (_q, _s, next) => {
        calls.push('a');
        next();
      },
      (_q, _s, next) => {
        calls.push('b');
        next('route');
      },
    ]);
    run([
      () => {
        throw new Error('sync');
      },
    ]);
    run([() => Promise.reject(new Error('async'))]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual(['a', 'b', 'done undefined', 'done sync', 'done async']);
  });
});
