/**
 * A request no route takes: 405 with `Allow` when its path is a route's under other methods,
 * 404 when it is no route's path; the one error shape either way, and nothing written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestService, checkInvariants, startWithConnection } from '../helpers.ts';

let s: TestService;

beforeAll(async () => {
  s = await startWithConnection();
});

afterAll(async () => {
  await s.close();
});

async function send(method: string, path: string) {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: 'Bearer operator-token-for-tests-0001' },
  });
  const text = await res.text();
  return {
    status: res.status,
    allow: res.headers.get('allow'),
    body: text ? JSON.parse(text) : null,
  };
}

describe('a method a path does not take', () => {
  it.each([
    ['DELETE', '/v1/connections/c1', 'GET, HEAD'],
    ['PUT', '/v1/connections/c1/heartbeats', 'POST'],
    ['GET', '/v1/heartbeats', 'POST'],
    ['PATCH', '/v1/connections', 'GET, HEAD, POST'],
  ])('%s %s is 405 naming what it takes (%s)', async (method, path, allow) => {
    const res = await send(method, path);
    checkInvariants(res);
    expect(res.status).toBe(405);
    expect(res.allow).toBe(allow);
    expect(res.body.error).toMatchObject({
      code: 'request-refused',
      details: { in: 'request', method, allow: allow.split(', ') },
    });
    expect(res.body.error.message).toContain(allow);
  });

  it('changes nothing', async () => {
    expect((await send('DELETE', '/v1/connections/c1')).status).toBe(405);
    expect((await s.api('GET', '/v1/connections/c1')).body.version).toBe(1);
  });

  it('is 404 on a path no route has', async () => {
    const res = await send('DELETE', '/v1/nothing/here');
    checkInvariants(res);
    expect(res.status).toBe(404);
    expect(res.allow).toBeNull();
    expect(res.body.error.code).toBe('not-found');
  });

  it('still asks for a token first', async () => {
    const res = await fetch(`${s.url}/v1/connections/c1`, { method: 'DELETE' });
    expect(res.status).toBe(401);
  });
});
