/**
 * Shared by the fuzz*.test.ts suites (split by subject).
 *
 * Property-based HTTP fuzzing (fast-check) of the real service on real Redis: every route the
 * app registers, with valid, mutated and random bodies, content types and encodings, tokens,
 * hostile ids (`stream`, `..`, unicode, very long, broken percent escapes) and query strings.
 *
 * For every request: never a 5xx, an answer within 5 s, the error shape on every 4xx, no token
 * in any answer, and on every 4xx not one key under the test's prefix added, removed or changed
 * (compared by TYPE and DUMP). Afterwards /healthz and a valid registration still work.
 *
 * About 300 requests by default; `FUZZ_RUNS=5000 npx vitest run test/hostile/fuzz` for a longer
 * run, `FUZZ_SEED=<n>` to replay one.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, expect } from 'vitest';
import { summary } from '../automation/support.ts';
import { OPERATOR, T0, TOKEN_A, TOKEN_B, type TestService, hb, startService } from '../helpers.ts';
import { type RawRequest, type RawResponse, type Route, routesOf } from './support.ts';

export const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
export const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
export const TIMEOUT_MS = 5000;

/**
 * Writes on a refusal that are known, tracked elsewhere and not in this suite's files. A match
 * is recorded (and listed as a todo below), not failed; anything else that writes on a 4xx
 * fails the run.
 */
export const KNOWN_DEFECTS: {
  id: string;
  description: string;
  matches(req: RawRequest, res: RawResponse, written: string[]): boolean;
}[] = [
  // None known. (A refused workspace rollback used to write its baseline; the service now asks
  // the chart before writing: test/deploy/refusals.test.ts.)
];
export const defectsSeen = new Map<string, string>();

export let s: TestService;
export let routes: Route[];

/** Ids the seed creates, so that fuzzed requests reach records and not only 404s. */
export const KNOWN: Record<string, string[]> = {
  connectionId: ['c1', 'c2', 'stream', 'c-new'],
  workspaceId: ['ws-1', 'ws-2', 'ws-new'],
  installationId: ['inst-a', 'inst-b', 'inst-new'],
  sessionId: ['s1', 's-new'],
  actorId: ['connection:c1', 'workspace:ws-1', 'capacity:inst-a', 'connection:c2'],
  id: ['connection', 'workspace', 'capacity', 'nope'],
};

// ---------------------------------------------------------------------------------------------
// Arbitraries

export const hostileId = fc.oneof(
  fc.constantFrom(
    'stream',
    '..',
    '.',
    '%2e%2e',
    '%2F',
    'a%2Fb',
    '%00',
    '%ZZ',
    '%',
    '~',
    ':',
    'connection:',
    'connection:..',
    encodeURIComponent('é'),
    encodeURIComponent('😀'),
    encodeURIComponent('ｃ１'),
    encodeURIComponent('{inst-a}'),
    'a'.repeat(129),
    'a'.repeat(4000),
  ),
  fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent),
);

export const paramValue = (name: string) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...(KNOWN[name] ?? ['x'])) },
    { weight: 2, arbitrary: hostileId },
  );

export const word = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 });

/** A body a route would accept, so that mutations land near the valid space. */
export function validBody(route: Route): fc.Arbitrary<unknown> {
  const id = (name: string) => fc.constantFrom(...KNOWN[name]!);
  const at = fc.integer({ min: -3_600_000, max: 3_600_000 }).map((d) => T0 + d);
  const key = `${route.method} ${route.path}`;
  switch (key) {
    case 'POST /v1/connections':
      return fc.record({
        connectionId: id('connectionId'),
        installationId: id('installationId'),
        workspaceId: id('workspaceId'),
      });
    case 'POST /v1/connections/:connectionId/handshake':
      return fc.record({
        protocolVersion: fc.constantFrom('1.2.0', '1.0.0', '2.0.0', '0.9.0-beta.1'),
        negotiatedCapabilities: fc.array(word, { maxLength: 3 }),
      });
    case 'POST /v1/connections/:connectionId/heartbeats':
      return fc
        .tuple(at, fc.nat(1000), fc.nat(1000))
        .map(([t, ok, failed]) => hb(t, ok, failed, [12]));
    case 'POST /v1/heartbeats':
      return fc
        .array(fc.tuple(id('connectionId'), at, fc.nat(100)), { minLength: 1, maxLength: 5 })
        .map((items) => ({ items: items.map(([c, t, n]) => ({ connectionId: c, ...hb(t, n) })) }));
    case 'POST /v1/connections/:connectionId/dropped':
    case 'POST /v1/connections/:connectionId/rollback':
    case 'POST /v1/workspaces/:workspaceId/rollback':
      return fc.record({ reason: word });
    case 'POST /v1/workspaces/:workspaceId/migrations':
      return fc.record({
        toProtocol: fc.constantFrom('http', 'acp'),
        initiatedBy: fc.constantFrom('operator', 'user'),
      });
    case 'PUT /v1/installations/:installationId/settings':
      return fc.record(
        { migrationEnabled: fc.boolean(), defaultProtocol: fc.constantFrom('http', 'acp') },
        { requiredKeys: [] },
      );
    case 'PUT /v1/installations/:installationId/notifications/settings':
      return fc.record({ channels: fc.record({ rollback: fc.constant(['toast']) }) });
    case 'POST /v1/sessions/:sessionId/automation':
      return fc
        .record({ installationId: id('installationId'), workspaceId: id('workspaceId') })
        .map((o) => summary(o));
    default:
      return fc.constant({});
  }
}

export const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** One change to a valid body: a field dropped, replaced, added, or made huge. */
export function mutate(value: unknown): fc.Arbitrary<unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return fc.jsonValue({ maxDepth: 3 });
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  const pick = keys.length > 0 ? fc.constantFrom(...keys) : fc.constant('x');
  return fc.oneof(
    pick.map((k) => {
      const { [k]: _, ...rest } = obj;
      return rest;
    }),
    fc.tuple(pick, fc.jsonValue({ maxDepth: 3 })).map(([k, v]) => ({ ...obj, [k]: v })),
    fc
      .tuple(
        fc.oneof(word, fc.constantFrom('access_token', 'status')),
        fc.jsonValue({ maxDepth: 2 }),
      )
      .map(([k, v]) => ({ ...obj, [k]: v })),
    fc
      .tuple(pick, fc.constantFrom(200, 5000, 40_000))
      .map(([k, n]) => ({ ...obj, [k]: 'a'.repeat(n) })),
  );
}

/** The bytes sent: JSON of a (mutated) value, or something that is not quite JSON. */
export const bodyBytes = (route: Route): fc.Arbitrary<string | Buffer | undefined> =>
  fc.oneof(
    { weight: 4, arbitrary: validBody(route).map((v) => JSON.stringify(v)) },
    {
      weight: 4,
      arbitrary: validBody(route)
        .chain(mutate)
        .map((v) => JSON.stringify(v)),
    },
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(validBody(route), fc.constantFrom(...PROTOTYPE_KEYS))
        .map(([v, k]) => JSON.stringify(v).replace('{', `{"${k}":{"polluted":true},`)),
    },
    {
      weight: 1,
      arbitrary: validBody(route).chain((v) => {
        const text = JSON.stringify(v);
        return fc.nat(text.length).map((n) => text.slice(0, n));
      }),
    },
    { weight: 1, arbitrary: validBody(route).map((v) => gzipSync(JSON.stringify(v))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 64 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        `{"a":"${'x'.repeat(600_000)}"}`,
        `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
        'null',
        '[]',
        '"x"',
        '{"items":[]}',
      ),
    },
  );

export const contentType = fc.constantFrom(
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json;;',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/merge-patch+json',
  '',
  ';',
  '*/*',
  undefined,
);

export const contentEncoding = fc.constantFrom(
  undefined,
  undefined,
  undefined,
  'identity',
  'gzip',
  'deflate',
  'br',
  'zstd',
  'identity, gzip',
  'x-unknown',
);

/** Who asks: a tenant, the operator, nobody, a bad token, or the token in the query. */
export const auth = fc.constantFrom(
  { header: `Bearer ${OPERATOR}` },
  { header: `Bearer ${TOKEN_A}` },
  { header: `Bearer ${TOKEN_A}` },
  { header: `Bearer ${TOKEN_B}` },
  { header: `bearer   ${TOKEN_A}` },
  { header: undefined },
  { header: 'Bearer not-a-valid-token-at-all' },
  { header: `Basic ${Buffer.from('a:b').toString('base64')}` },
  { header: 'Bearer' },
  { header: undefined, query: OPERATOR },
  { header: undefined, query: TOKEN_A },
);

export const queryKey = fc.oneof(
  fc.constantFrom(
    'limit',
    'cursor',
    'order',
    'status',
    'installationId',
    'workspaceId',
    'from',
    'to',
    'sourceId',
    'access_token',
    '__proto__',
    'constructor',
  ),
  word,
);
export const queryValue = fc.oneof(
  fc.constantFrom('1', '0', '-1', '500', '501', '1e3', 'abc', '', 'newest-first', 'connected'),
  fc.constantFrom('2026-11-25T12:00:00Z', '1969-12-31T23:58:00Z', '000000000000001:x'),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
export const query = fc
  .array(fc.tuple(queryKey, queryValue), { maxLength: 4 })
  .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`));

export const OTHER_PATHS = [
  '/',
  '/v1',
  '/v1/',
  '/v1/nope',
  '/V1/connections',
  '/v1/connections/',
  '/v1//connections',
  '/v1/connections/c1/heartbeats/',
  '/v1/HEARTBEATS',
  '/healthz',
  '/readyz',
  '/metrics',
];

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

/** A route with its parameters filled, or another path. */
export const target = fc.oneof(
  {
    weight: 9,
    // Deferred: `routes` is read from the running app in beforeAll, after this is built.
    arbitrary: fc.constant(null).chain(() =>
      fc.constantFrom(...routes).chain((route) => {
        const names = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
        return fc.tuple(
          fc.constant(route),
          fc.tuple(...names.map((n) => paramValue(n))).map((values) => {
            let i = 0;
            return route.path.replace(/:\w+/g, () => values[i++]!);
          }),
        );
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(...OTHER_PATHS)
      .map((path) => [{ method: 'POST', path: '/v1/unknown' }, path] as const),
  },
);

export const hostileRequest = target.chain(([route, path]) =>
  fc
    .record({
      method: fc.oneof(
        { weight: 6, arbitrary: fc.constant(route.method) },
        { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
      ),
      auth,
      query,
      body: bodyBytes(route),
      contentType,
      contentEncoding,
      chunked: fc.boolean(),
      extra: fc.dictionary(
        fc.constantFrom('x-request-id', 'accept', 'accept-encoding', 'x-forwarded-for'),
        fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
        { maxKeys: 2 },
      ),
    })
    .map((r): RawRequest => {
      const q = [...r.query, ...(r.auth.query ? [`access_token=${r.auth.query}`] : [])];
      const headers: Record<string, string> = { ...r.extra };
      if (r.auth.header !== undefined) headers.authorization = r.auth.header;
      if (r.contentType !== undefined) headers['content-type'] = r.contentType;
      if (r.contentEncoding !== undefined) headers['content-encoding'] = r.contentEncoding;
      if (r.chunked && r.body !== undefined) headers['transfer-encoding'] = 'chunked';
      return {
        method: r.method,
        path: q.length > 0 ? `${path}?${q.join('&')}` : path,
        headers,
        ...(r.body !== undefined && r.method !== 'GET' && r.method !== 'HEAD'
          ? { body: r.body }
          : {}),
      };
    }),
);

// ---------------------------------------------------------------------------------------------

export function reproducer(req: RawRequest): string {
  const body =
    req.body === undefined
      ? ''
      : Buffer.isBuffer(req.body)
        ? ` body=<${req.body.length} bytes>`
        : ` body=${req.body.length > 300 ? `${req.body.slice(0, 300)}… (${req.body.length})` : req.body}`;
  const path = req.path.length > 300 ? `${req.path.slice(0, 300)}… (${req.path.length})` : req.path;
  return `${req.method} ${path} headers=${JSON.stringify(req.headers)}${body}`;
}

/** Registers the per-test set-up and tear-down in the calling test file. */
export function useFuzzService(): void {
  beforeAll(async () => {
    s = await startService();
    const seed = async (token: string, method: string, path: string, body?: unknown) => {
      const res = await s.api(method, path, body, token);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    };
    const handshake = { protocolVersion: '1.2.0', negotiatedCapabilities: ['fs'] };
    for (const [id, inst, ws, token] of [
      ['c1', 'inst-a', 'ws-1', TOKEN_A],
      ['stream', 'inst-a', 'ws-1', TOKEN_A],
      ['c2', 'inst-b', 'ws-2', TOKEN_B],
    ] as const) {
      await seed(token, 'POST', '/v1/connections', {
        connectionId: id,
        installationId: inst,
        workspaceId: ws,
      });
      await seed(token, 'POST', `/v1/connections/${id}/handshake`, handshake);
      await seed(token, 'POST', `/v1/connections/${id}/heartbeats`, hb(T0, 10));
    }
    await seed(TOKEN_A, 'POST', '/v1/sessions/s1/automation', summary());
    routes = routesOf(s);
  });
  afterAll(async () => {
    await s?.close();
  });
}
