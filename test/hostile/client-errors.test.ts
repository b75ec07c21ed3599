/**
 * Errors that are not the engine's own (`AppError`) but carry a 4xx `status` or `statusCode`, as
 * Express and body-parser raise them (http-errors), are the client's fault: the one error
 * middleware answers them with that 4xx in the house shape, never 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppModule } from '../../src/module-context.ts';
import { OPERATOR, type TestService, checkInvariants, startService } from '../helpers.ts';

/** Routes that throw what a library would: a plain Error with a status. */
const throwing: AppModule = {
  name: 'throwing',
  init() {},
  routes(app) {
    app.get('/v1/test/status/:status', (req) => {
      const status = Number(req.params.status);
      throw Object.assign(new Error(`thrown with status ${status}`), { status, expose: true });
    });
    app.get('/v1/test/parser/:type', (req) => {
      // What body-parser throws for a charset or Content-Encoding it does not read.
      throw Object.assign(new Error('unsupported charset "UTF8"'), {
        status: 415,
        type: req.params.type,
      });
    });
    app.get('/v1/test/status-code/:status', (req) => {
      const statusCode = Number(req.params.status);
      throw Object.assign(new Error(`thrown with statusCode ${statusCode}`), { statusCode });
    });
  },
};

let s: TestService;

beforeAll(async () => {
  s = await startService({}, undefined, [throwing]);
});

afterAll(async () => {
  await s.close();
});

describe('the error middleware with errors of Express and body-parser', () => {
  it.each([
    ['status', 400, 400, 'validation-failed'],
    ['status', 413, 413, 'payload-too-large'],
    ['status', 415, 415, 'unsupported-media-type'],
    ['status', 408, 408, 'request-refused'],
    ['status', 431, 431, 'request-refused'],
    ['status-code', 400, 400, 'validation-failed'],
    ['status-code', 416, 416, 'request-refused'],
  ])(
    'answers an error with %s %i as %i %s, with its message',
    async (kind, thrown, status, code) => {
      const res = await s.api('GET', `/v1/test/${kind}/${thrown}`);
      checkInvariants(res);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.message).toContain(String(thrown));
    },
  );

  it.each([
    ['status', 500],
    ['status', 503],
    ['status', 302],
    ['status-code', 502],
  ])('still answers an error with %s %i as 500 internal, without its message', async (kind, n) => {
    const res = await s.api('GET', `/v1/test/${kind}/${n}`);
    checkInvariants(res);
    expect(res.status).toBe(500);
    expect(res.body.error).toEqual({
      code: 'internal',
      message: 'internal error',
      details: {},
      requestId: 'test-request',
    });
  });

  it.each([
    ['charset.unsupported', 'content-type'],
    ['encoding.unsupported', 'content-encoding'],
  ])("answers the parser's %s as the guard's 415 naming the %s header", async (type, header) => {
    const res = await s.api('GET', `/v1/test/parser/${type}`);
    checkInvariants(res);
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported-media-type');
    expect(res.body.error.details).toEqual({ in: 'header', header });
  });

  it('challenges a 401 thrown by a library too (WWW-Authenticate), and gives a 429 a Retry-After', async () => {
    for (const [status, header, value] of [
      [401, 'www-authenticate', 'Bearer realm="lumilink"'],
      [429, 'retry-after', '5'],
    ] as const) {
      const res = await fetch(`${s.url}/v1/test/status/${status}`, {
        headers: { authorization: `Bearer ${OPERATOR}` },
      });
      checkInvariants({ status: res.status, body: await res.json() });
      expect(res.status).toBe(status);
      expect(res.headers.get(header)).toBe(value);
    }
  });
});
