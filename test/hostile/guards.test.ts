/**
 * The guards every request passes before a route runs (src/http/request-guards.ts), against the
 * real service on real Redis: a body the API would misread is refused with 415, the query token
 * opens only the declared streams, and prototype keys are refused wherever they hide. Every
 * refusal is checked to leave every key under the test's prefix as it was.
 */
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { STREAM_ROUTES, isStreamRoute, prototypeKeyPaths } from '../../src/http/request-guards.ts';
import { connectionIdParams } from '../../src/http/schemas.ts';
import { parse } from '../../src/http/validate.ts';
import { FAKE } from '../automation/fixtures.ts';
import { summary } from '../automation/support.ts';
import {
  OPERATOR,
  T0,
  TOKEN_A,
  type TestService,
  checkInvariants,
  expectError,
  hb,
  namedFields,
  startService,
} from '../helpers.ts';
import { type RawRequest, connectInstA, routesOf, send, sendAndDiff } from './support.ts';

let s: TestService;

beforeEach(async () => {
  s = await startService();
});

afterEach(async () => {
  await s.close();
});

const JSON_TYPE = { 'content-type': 'application/json' };

/** A request with the operator token (unless `token` says otherwise), the keys it wrote. */
async function call(
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string>; token?: string | null } = {},
) {
  const { token = OPERATOR } = opts;
  const req: RawRequest = {
    method,
    path,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  };
  const res = await sendAndDiff(s, req);
  checkInvariants(res);
  return res;
}

const connect = (connectionId: string) => connectInstA(s, connectionId);

const statusOf = async (connectionId: string) =>
  (await s.api('GET', `/v1/connections/${connectionId}`)).body.status as string;

const registration = JSON.stringify({
  connectionId: 'c-new',
  installationId: 'inst-a',
  workspaceId: 'ws-1',
});

describe('Content-Encoding', () => {
  it('refuses gzip over a plain body with 415 on every kind of route, and writes nothing', async () => {
    await connect('c1');
    const attempts: [string, string, string][] = [
      ['POST', '/v1/connections', registration],
      ['POST', '/v1/connections/c1/heartbeats', JSON.stringify(hb(T0, 5))],
      ['POST', '/v1/heartbeats', JSON.stringify({ items: [{ connectionId: 'c1', ...hb(T0, 5) }] })],
      ['POST', '/v1/connections/c1/dropped', '{}'],
      ['PUT', '/v1/installations/inst-a/settings', JSON.stringify({ minSamples: 3 })],
      ['POST', '/v1/sessions/s1/automation', JSON.stringify(summary())],
    ];
    for (const [method, path, body] of attempts) {
      const res = await call(method, path, {
        body,
        headers: { ...JSON_TYPE, 'content-encoding': 'gzip' },
      });
      expectError(res, 415, 'unsupported-media-type');
      expect(res.body.error.details).toEqual({ in: 'header', header: 'content-encoding' });
      expect(res.body.error.message).toContain('Content-Encoding');
      expect(res.written, `${method} ${path}`).toEqual([]);
    }
    expect(await statusOf('c1')).toBe('connected');
  });

  it('refuses a really compressed body too: the server never inflates one', async () => {
    for (const encoding of ['gzip', 'deflate', 'br', 'identity, gzip', 'x-custom']) {
      const res = await call('POST', '/v1/connections', {
        body: encoding === 'gzip' ? gzipSync(registration) : registration,
        headers: { ...JSON_TYPE, 'content-encoding': encoding },
      });
      expectError(res, 415, 'unsupported-media-type');
      expect(res.written, encoding).toEqual([]);
    }
    expect((await s.api('GET', '/v1/connections/c-new')).status).toBe(404);
  });

  it('takes an empty Content-Encoding as none, as the body parser does', async () => {
    const res = await call('POST', '/v1/connections', {
      body: registration,
      headers: { ...JSON_TYPE, 'content-encoding': '' },
    });
    expect(res.status, res.text).toBe(201);
  });

  it('accepts Content-Encoding: identity, the body as sent', async () => {
    const res = await call('POST', '/v1/connections', {
      body: registration,
      headers: { ...JSON_TYPE, 'content-encoding': 'Identity' },
    });
    expect(res.status, res.text).toBe(201);
  });
});

describe('Content-Type', () => {
  it.each([
    ['/v1/connections/c1/dropped', 'connected'],
    ['/v1/connections/c1/recovered', 'connected'],
  ])('refuses POST %s with text/plain and leaves the connection as it was', async (path, was) => {
    await connect('c1');
    const res = await call('POST', path, {
      body: 'please drop it',
      headers: { 'content-type': 'text/plain' },
    });
    expectError(res, 415, 'unsupported-media-type');
    expect(res.body.error.details).toEqual({ in: 'header', header: 'content-type' });
    expect(res.written).toEqual([]);
    expect(await statusOf('c1')).toBe(was);
  });

  it('refuses the workspace commands with a non-JSON type, with or without a body', async () => {
    await connect('c1');
    for (const command of ['migrations/cancel', 'auto-migration/reenable']) {
      for (const body of ['x', '']) {
        const res = await call('POST', `/v1/workspaces/ws-1/${command}`, {
          body,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expectError(res, 415, 'unsupported-media-type');
        expect(res.written, command).toEqual([]);
      }
    }
  });

  it('refuses JSON sent without a Content-Type, and does not register', async () => {
    const res = await call('POST', '/v1/connections', { body: registration });
    expectError(res, 415, 'unsupported-media-type');
    expect(res.written).toEqual([]);
    expect((await s.api('GET', '/v1/connections/c-new')).status).toBe(404);
  });

  it('refuses every charset but utf-8 (utf8 and UTF8 too) with 415 naming the header on every route, heartbeat lane included, and writes nothing', async () => {
    await connect('c1');
    const heartbeat = JSON.stringify(hb(T0, 5));
    const batch = JSON.stringify({ items: [{ connectionId: 'c1', ...hb(T0, 5) }] });
    const attempts: [string, string, string][] = [
      ['POST', '/v1/connections', registration],
      // The lane (canonical spelling) and the ordinary stack (other spellings).
      ['POST', '/v1/connections/c1/heartbeats', heartbeat],
      ['POST', '/v1/connections/c1/heartbeats/', heartbeat],
      ['POST', '/v1/heartbeats', batch],
      ['POST', '/V1/Heartbeats/', batch],
      ['POST', '/v1/connections/c1/dropped', '{}'],
      ['PUT', '/v1/installations/inst-a/settings', JSON.stringify({ autoRollout: true })],
      ['POST', '/v1/sessions/s1/automation', JSON.stringify(summary())],
      // A GET that carries a body is read too.
      ['GET', '/v1/connections/c1', '{}'],
    ];
    for (const charset of ['utf8', 'UTF8', '"utf8"', 'latin1', 'us-ascii', 'utf-16', '']) {
      for (const [method, path, body] of attempts) {
        const res = await call(method, path, {
          body,
          headers: {
            'content-type': `application/json; charset=${charset}`,
            // node:http sends a GET's body without framing unless told its length.
            'content-length': String(Buffer.byteLength(body)),
          },
        });
        expectError(res, 415, 'unsupported-media-type');
        expect(res.body.error.details, `${charset} ${method} ${path}`).toEqual({
          in: 'header',
          header: 'content-type',
        });
        expect(res.body.error.message).toContain('charset=utf-8');
        expect(res.written, `${charset} ${method} ${path}`).toEqual([]);
      }
    }
    expect(await statusOf('c1')).toBe('connected');
    expect((await s.api('GET', '/v1/connections/c1')).body.sampleSize).toBe(0);
  });

  it('accepts utf-8 in any case, quoted or not, on the heartbeat routes as on the others', async () => {
    await connect('c1');
    for (const charset of ['utf-8', 'UTF-8', '"Utf-8"']) {
      const type = { 'content-type': `application/json; charset=${charset}` };
      const one = await call('POST', '/v1/connections/c1/heartbeats', {
        body: JSON.stringify(hb(T0, 1)),
        headers: type,
      });
      expect(one.status, one.text).toBe(200);
      const many = await call('POST', '/v1/heartbeats', {
        body: JSON.stringify({ items: [{ connectionId: 'c1', ...hb(T0, 1) }] }),
        headers: type,
      });
      expect(many.status, many.text).toBe(200);
      expect(many.body.accepted).toBe(1);
    }
    expect((await s.api('GET', '/v1/connections/c1')).body.sampleSize).toBe(6);
  });

  it('refuses a charset other than UTF-8 and accepts UTF-8 spelled any way', async () => {
    const refused = await call('POST', '/v1/connections', {
      body: registration,
      headers: { 'content-type': 'application/json; charset=utf-16' },
    });
    expectError(refused, 415, 'unsupported-media-type');
    expect(refused.written).toEqual([]);
    const accepted = await call('POST', '/v1/connections', {
      body: registration,
      headers: { 'content-type': 'Application/JSON; Charset="UTF-8"' },
    });
    expect(accepted.status, accepted.text).toBe(201);
  });

  it('runs a bodiless command sent with no body and no Content-Type, as fetch and curl send it', async () => {
    await connect('c1');
    const res = await call('POST', '/v1/connections/c1/dropped');
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).not.toBe('connected');
    expect(res.written.length).toBeGreaterThan(0);
  });
});

describe('?access_token=', () => {
  it('does not authenticate a route that merely ends in /stream', async () => {
    await connect('stream');
    for (const path of [
      '/v1/connections/stream',
      '/v1/workspaces/stream',
      '/v1/machines',
      '/v1/installations/inst-a/toasts/stream/',
      '/v1/Installations/inst-a/toasts/stream',
      '/v1/installations/inst-a/transitions/stream/extra',
    ]) {
      const res = await call('GET', `${path}?access_token=${OPERATOR}`, { token: null });
      expectError(res, 401, 'unauthorized');
      expect(res.body.error.message).toContain('only by the live streams');
    }
    // With the header, the record behind one of those paths is there to read.
    expect((await s.api('GET', '/v1/connections/stream')).status).toBe(200);
  });

  it('refuses it on a stream route for any method but GET and HEAD', async () => {
    const res = await call(
      'POST',
      `/v1/installations/inst-a/toasts/stream?access_token=${OPERATOR}`,
      { token: null },
    );
    expectError(res, 401, 'unauthorized');
  });

  it('opens every declared stream route', async () => {
    await connect('c1');
    expect((await s.api('POST', '/v1/sessions/s1/automation', summary())).status).toBe(201);
    const values: Record<string, string> = {
      installationId: 'inst-a',
      sessionId: 's1',
      actorId: 'connection:c1',
    };
    for (const route of STREAM_ROUTES) {
      const path = route.replace(/:(\w+)/g, (_, name: string) => values[name]!);
      const res = await send(s.url, { method: 'GET', path: `${path}?access_token=${OPERATOR}` });
      expect(res.status, path).toBe(200);
      expect(res.contentType, path).toContain('text/event-stream');
    }
  });

  it('declares exactly the GET routes of the app that end in /stream', () => {
    const streams = routesOf(s)
      .filter((r) => r.method === 'GET' && r.path.endsWith('/stream'))
      .map((r) => r.path);
    expect(streams.sort()).toEqual([...STREAM_ROUTES].sort());
  });

  it('matches a declared route segment by segment, one non-empty segment per parameter', () => {
    expect(isStreamRoute('/v1/actors/connection:c1/transitions/stream')).toBe(true);
    expect(isStreamRoute('/v1/actors//transitions/stream')).toBe(false);
    expect(isStreamRoute('/v1/actors/a/b/transitions/stream')).toBe(false);
    expect(isStreamRoute('/v1/connections/stream')).toBe(false);
  });
});

describe('prototype keys', () => {
  it('refuses __proto__ inside automation logs[].data with a 400 naming its path, and records nothing', async () => {
    const body = JSON.stringify(summary({ logs: [{ message: 'm', data: { ok: 1 } }] })).replace(
      '"ok":1',
      '"ok":1,"__proto__":{"polluted":true}',
    );
    const res = await call('POST', '/v1/sessions/s1/automation', { body, headers: JSON_TYPE });
    expectError(res, 400, 'validation-failed', 'logs.0.data.__proto__');
    expect(res.body.error.details.in).toBe('body');
    expect(res.written).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(['__proto__', 'constructor', 'prototype'])(
    'refuses %s at the root of a heartbeat and inside a batch item',
    async (key) => {
      await connect('c1');
      const single = JSON.stringify(hb(T0, 5)).replace('{', `{"${key}":{},`);
      const one = await call('POST', '/v1/connections/c1/heartbeats', {
        body: single,
        headers: JSON_TYPE,
      });
      expectError(one, 400, 'validation-failed', key);
      expect(one.written).toEqual([]);

      const items = [
        { connectionId: 'c1', ...hb(T0, 5) },
        { connectionId: 'c1', ...hb(T0, 6) },
      ];
      const batch = JSON.stringify({ items }).replace(/\{"connectionId"/g, (m, offset: number) =>
        offset > 20 ? `{"${key}":1,"connectionId"` : m,
      );
      const many = await call('POST', '/v1/heartbeats', { body: batch, headers: JSON_TYPE });
      expectError(many, 400, 'validation-failed', `items.1.${key}`);
      expect(many.written).toEqual([]);
    },
  );

  it('refuses a key spelled with JSON escapes, since it reads the parsed body', async () => {
    const res = await call('POST', '/v1/connections', {
      body: registration.replace('{', '{"\\u005f_proto__":{},'),
      headers: JSON_TYPE,
    });
    expectError(res, 400, 'validation-failed', '__proto__');
    expect(res.written).toEqual([]);
  });

  it('redacts a secret-looking key on the way to a prototype key instead of echoing it', async () => {
    const body = JSON.stringify({
      logs: [{ message: 'm', data: { [FAKE.ghp]: { x: 1 } } }],
    }).replace('"x":1', '"constructor":1');
    const res = await call('POST', '/v1/sessions/s1/automation', { body, headers: JSON_TYPE });
    expectError(res, 400, 'validation-failed', 'logs.0.data.[redacted github-token].constructor');
    expect(res.text).not.toContain(FAKE.ghp.slice(4, 24));
  });

  it('names paths in document order and at most ten', () => {
    const parsed: unknown = JSON.parse(
      `{"a":[{"b":{"prototype":1}}],"constructor":2,"c":[${Array(20).fill('{"__proto__":0}').join(',')}]}`,
    );
    const paths = prototypeKeyPaths(parsed);
    expect(paths.slice(0, 3)).toEqual(['a.0.b.prototype', 'constructor', 'c.0.__proto__']);
    expect(paths).toHaveLength(10);
  });

  it('finds none in a body without them, and walks bodies nested deeper than the call stack', () => {
    const items = Array.from({ length: 100 }, (_, i) => ({
      connectionId: `c-${i}`,
      latencyMs: [1, 2, 3],
      nested: { constructorName: 'x', proto: null },
    }));
    expect(prototypeKeyPaths({ items })).toEqual([]);
    // 100,000 levels: a recursive walk would overflow the stack.
    const deep = (inner: string) => '{"a":'.repeat(100_000) + inner + '}'.repeat(100_000);
    expect(prototypeKeyPaths(JSON.parse(deep('1')))).toEqual([]);
    const found = prototypeKeyPaths(JSON.parse(deep('{"__proto__":1}')));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^(a\.){100000}__proto__$/);
  });
});

describe('unknown fields', () => {
  it('names each unknown key of a body in an entry of its own, and registers nothing', async () => {
    const body = JSON.stringify({ ...JSON.parse(registration), foo: 1, bar: 2 });
    const res = await call('POST', '/v1/connections', { body, headers: JSON_TYPE });
    expectError(res, 400, 'validation-failed', 'foo');
    expect(res.body.error.details).toEqual({
      in: 'body',
      fields: [
        { field: 'foo', message: 'unknown field' },
        { field: 'bar', message: 'unknown field' },
      ],
    });
    expect(namedFields(res.body.error)).toEqual(['foo', 'bar']);
    expect(res.body.error.message).toBe('invalid body: foo: unknown field; bar: unknown field');
    expect(res.written).toEqual([]);
    expect((await s.api('GET', '/v1/connections/c-new')).status).toBe(404);
  });

  it('names nested unknown keys by their path', async () => {
    const res = await call('PUT', '/v1/installations/inst-a/settings', {
      body: JSON.stringify({ autoRollout: true, thresholds: { colour: 'blue', size: 2 } }),
      headers: JSON_TYPE,
    });
    expectError(res, 400, 'validation-failed', 'thresholds.colour');
    expect(namedFields(res.body.error)).toEqual(['thresholds.colour', 'thresholds.size']);
    expect(res.written).toEqual([]);
  });

  it('names each unknown query parameter in an entry of its own', async () => {
    const res = await call('GET', '/v1/connections?foo=1&limit=5&bar=2');
    expectError(res, 400, 'validation-failed', 'bar');
    expect(res.body.error.details).toEqual({
      in: 'query',
      fields: [
        { field: 'foo', message: 'unknown field' },
        { field: 'bar', message: 'unknown field' },
      ],
    });
  });

  it('names each unknown path parameter in an entry of its own', () => {
    let thrown: unknown;
    try {
      parse(connectionIdParams, { connectionId: 'c1', a: '1', b: '2' }, 'path');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect((thrown as ValidationError).details).toEqual({
      in: 'path',
      fields: [
        { field: 'a', message: 'unknown field' },
        { field: 'b', message: 'unknown field' },
      ],
    });
  });

  it('names at most ten of 3,000 unknown keys, the first in document order, and applies nothing', async () => {
    await connect('c1');
    const extra = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, i]));
    const body = JSON.stringify({ items: [{ connectionId: 'c1', ...hb(T0, 5) }], ...extra });
    const res = await call('POST', '/v1/heartbeats', { body, headers: JSON_TYPE });
    expectError(res, 400, 'validation-failed', 'k0');
    expect(namedFields(res.body.error)).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`));
    expect(res.text.length).toBeLessThan(2000);
    expect(res.written).toEqual([]);
    expect((await s.api('GET', '/v1/connections/c1')).body.sampleSize).toBe(0);
  });

  it('counts the ten across every object of the body', async () => {
    const eight = (p: string) =>
      Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`${p}${i}`, 1]));
    const res = await call('PUT', '/v1/installations/inst-a/settings', {
      body: JSON.stringify({ ...eight('a'), thresholds: eight('b') }),
      headers: JSON_TYPE,
    });
    expectError(res, 400, 'validation-failed');
    const named = namedFields(res.body.error);
    const sent = [
      ...Object.keys(eight('a')),
      ...Object.keys(eight('b')).map((k) => `thresholds.${k}`),
    ];
    expect(named).toHaveLength(10);
    expect(new Set(named).size).toBe(10);
    for (const field of named) expect(sent).toContain(field);
    expect(res.written).toEqual([]);
  });
});

describe('WWW-Authenticate', () => {
  const CHALLENGE = 'Bearer realm="lumilink"';
  const INVALID = 'Bearer realm="lumilink", error="invalid_token"';

  it('challenges every 401, naming invalid_token only when a token was sent and refused, and writes nothing', async () => {
    await connect('c1');
    const heartbeat = JSON.stringify(hb(T0, 5));
    const batch = JSON.stringify({ items: [{ connectionId: 'c1', ...hb(T0, 5) }] });
    const routes: [string, string, string?][] = [
      ['GET', '/v1/connections/c1'],
      ['POST', '/v1/connections', registration],
      // The heartbeat lane and the ordinary stack.
      ['POST', '/v1/connections/c1/heartbeats', heartbeat],
      ['POST', '/v1/connections/c1/heartbeats/', heartbeat],
      ['POST', '/v1/heartbeats', batch],
      ['GET', '/v1/installations/inst-a/toasts/stream'],
      ['GET', '/v1/nothing-here'],
    ];
    const cases: [string, Record<string, string>, string][] = [
      ['no token', {}, CHALLENGE],
      ['another scheme', { authorization: `Basic ${OPERATOR}` }, CHALLENGE],
      ['an unknown token', { authorization: 'Bearer not-a-token-0001' }, INVALID],
    ];
    for (const [name, auth, challenge] of cases) {
      for (const [method, path, body] of routes) {
        const res = await call(method, path, {
          token: null,
          headers: { ...auth, ...(body ? JSON_TYPE : {}) },
          ...(body ? { body } : {}),
        });
        expectError(res, 401, 'unauthorized');
        expect(res.headers['www-authenticate'], `${name}: ${method} ${path}`).toBe(challenge);
        expect(res.written, `${name}: ${method} ${path}`).toEqual([]);
      }
    }
    expect((await s.api('GET', '/v1/connections/c1')).body.sampleSize).toBe(0);
  });

  it('says invalid_token for an unknown ?access_token= on a stream, and not for one where none is read', async () => {
    const stream = await call(
      'GET',
      '/v1/installations/inst-a/toasts/stream?access_token=not-a-token-0001',
      { token: null },
    );
    expectError(stream, 401, 'unauthorized');
    expect(stream.headers['www-authenticate']).toBe(INVALID);
    const elsewhere = await call('GET', `/v1/connections/stream?access_token=${OPERATOR}`, {
      token: null,
    });
    expectError(elsewhere, 401, 'unauthorized');
    expect(elsewhere.headers['www-authenticate']).toBe(CHALLENGE);
  });

  it('sends no challenge on answers that are not 401', async () => {
    const ok = await call('GET', '/v1/connections');
    expect(ok.status).toBe(200);
    expect(ok.headers['www-authenticate']).toBeUndefined();
    const forbidden = await call('PUT', '/v1/installations/inst-a/settings', {
      token: TOKEN_A,
      body: JSON.stringify({ autoRollout: true }),
      headers: JSON_TYPE,
    });
    expectError(forbidden, 403, 'forbidden');
    expect(forbidden.headers['www-authenticate']).toBeUndefined();
  });
});
