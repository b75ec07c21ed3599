/**
 * Every answer of a realistic walk through the API (test/openapi/walkthrough.ts: every route,
 * its success and its main refusals, over real HTTP against the real service on real Redis)
 * matches the schema the OpenAPI document gives for its route and status; an undocumented
 * status fails. The live streams' event data are checked against ToastEvent and TransitionEvent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestService, startService } from '../helpers.ts';
import { type OpenApiDocument, documentRoutes, responseChecker, toOpenApiPath } from './support.ts';
import { WALKTHROUGH_ENV, type Walkthrough, walkthrough } from './walkthrough.ts';

let service: TestService;
let doc: OpenApiDocument;
let walk: Walkthrough;

beforeAll(async () => {
  service = await startService(WALKTHROUGH_ENV);
  doc = (await (await fetch(`${service.url}/openapi.json`)).json()) as OpenApiDocument;
  walk = await walkthrough(service);
});

afterAll(async () => {
  await service.close();
});

describe('the walkthrough against the OpenAPI document', () => {
  it('gets only documented statuses, each body matching its documented schema', () => {
    const check = responseChecker(doc);
    const problems = walk.exchanges
      .filter((e) => e.route !== '/v1/nothing-here')
      .map((e) =>
        check.response(e.documentedAs ?? e.method, e.route, e.status, e.contentType, e.body),
      )
      .filter((p) => p !== null);
    expect(problems).toEqual([]);
  });

  it('sends the documented X-Request-Id header on every answer, Retry-After on a 503 and a 429, and WWW-Authenticate on a 401', () => {
    for (const e of walk.exchanges) {
      expect(e.headers['x-request-id'], `${e.method} ${e.url}`).toBeTruthy();
      if (e.status === 503) {
        // A capacity-shed session starts on HTTP; ACP is worth asking for again after a minute.
        const shed =
          (e.body as { error?: { code?: string } } | null)?.error?.code === 'capacity-shed';
        expect(e.headers['retry-after'], e.url).toBe(shed ? '60' : '1');
      }
      if (e.status === 429) expect(e.headers['retry-after'], e.url).toBe('5');
      if (e.status === 401) {
        expect(e.headers['www-authenticate'], e.url).toMatch(/^Bearer realm="lumilink"/);
      } else {
        expect(e.headers['www-authenticate'], e.url).toBeUndefined();
      }
    }
  });

  it('documents those headers on every 401, 429 and 503 answer', () => {
    const expected: Record<string, string[]> = {
      '401': ['X-Request-Id', 'WWW-Authenticate'],
      '429': ['X-Request-Id', 'Retry-After'],
      '503': ['X-Request-Id', 'Retry-After'],
    };
    let seen = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item ?? {})) {
        const responses = (op as { responses: Record<string, { headers?: object }> }).responses;
        for (const [status, headers] of Object.entries(expected)) {
          if (!responses[status]) continue;
          seen++;
          expect(
            Object.keys(responses[status].headers ?? {}),
            `${method} ${path} ${status}`,
          ).toEqual(headers);
        }
      }
    }
    expect(seen).toBeGreaterThan(20);
  });

  it('answers an unknown route in the documented error shape', () => {
    const unknown = walk.exchanges.find((e) => e.route === '/v1/nothing-here')!;
    expect(unknown.status).toBe(404);
    const check = responseChecker(doc);
    expect(
      check.response(
        'GET',
        '/v1/connections/:connectionId',
        404,
        unknown.contentType,
        unknown.body,
      ),
    ).toBeNull();
  });

  it('calls every documented operation, and sees a success of each', () => {
    const succeeded = new Set(
      walk.exchanges.filter((e) => e.status < 300).map((e) => `${e.method} ${e.route}`),
    );
    const missing = documentRoutes(doc).filter((r) => !succeeded.has(r));
    expect(missing, 'add a step to test/openapi/walkthrough.ts for each').toEqual([]);
  });

  it('sees the main refusals: 400, 401, 403, 404, 405, 409, 413, 415, 426, 429 and 503', () => {
    const statuses = new Set(walk.exchanges.map((e) => e.status));
    for (const status of [400, 401, 403, 404, 405, 409, 413, 415, 426, 429, 503]) {
      expect(statuses, String(status)).toContain(status);
    }
    const codes = new Set(walk.exchanges.map((e) => (e.body as any)?.error?.code).filter(Boolean));
    expect([...codes].sort()).toEqual(
      [
        'already-exists',
        'capacity-shed',
        'forbidden',
        'invalid-transition',
        'migration-refused',
        'not-found',
        'payload-too-large',
        'request-refused',
        'too-many-streams',
        'unauthorized',
        'unsupported-media-type',
        'validation-failed',
      ].sort(),
    );
  });

  it('receives stream events that match ToastEvent and TransitionEvent', () => {
    const check = responseChecker(doc);
    expect(walk.events.toast.length).toBeGreaterThan(0);
    expect(walk.events.transition.length).toBeGreaterThan(0);
    for (const e of walk.events.toast) expect(check.component('ToastEvent', e)).toBeNull();
    for (const e of walk.events.transition)
      expect(check.component('TransitionEvent', e)).toBeNull();
  });

  it('fails a body that does not match (the check is not vacuous)', () => {
    const check = responseChecker(doc);
    const record = walk.exchanges.find(
      (e) => e.route === '/v1/connections/:connectionId' && e.status === 200,
    )!;
    const drifted = { ...(record.body as object), surprise: 1 };
    expect(check.response('GET', record.route, 200, record.contentType, drifted)).toMatch(
      /additional properties/,
    );
    expect(check.response('GET', record.route, 418, record.contentType, {})).toMatch(
      /not documented/,
    );
    expect(toOpenApiPath(record.route)).toBe('/v1/connections/{connectionId}');
  });
});
