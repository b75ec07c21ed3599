/**
 * A query parameter on a /v1 route that takes none is refused with a 400 naming it, and the
 * request changes nothing; routes that take a query still answer it, and so do the probes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentedRoutes } from '../../src/http/openapi/registry.ts';
import '../../src/http/openapi/routes/index.ts';
import { T0, type TestService, checkInvariants, hb, startWithConnection } from '../helpers.ts';
import { snapshotKeys } from '../hostile/support.ts';

let s: TestService;

beforeAll(async () => {
  s = await startWithConnection();
  await s.api('POST', '/v1/connections/c1/handshake', {
    protocolVersion: '1.0.0',
    negotiatedCapabilities: [],
  });
});

afterAll(async () => {
  await s.close();
});

const refusesNaming = (res: { status: number; body: any }, ...fields: string[]) => {
  checkInvariants(res);
  expect(res.status).toBe(400);
  expect(res.body.error).toMatchObject({ code: 'validation-failed', details: { in: 'query' } });
  expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(fields);
};

describe('a query parameter where the route takes none', () => {
  it('is refused naming it, where it used to be ignored (capacity, a workspace)', async () => {
    refusesNaming(await s.api('GET', '/v1/installations/inst-a/capacity?limit=1'), 'limit');
    refusesNaming(await s.api('GET', '/v1/workspaces/ws-1?x=1&y=2'), 'x', 'y');
    refusesNaming(await s.api('GET', '/v1/Workspaces/ws-1/?x=1'), 'x');
  });

  it('is refused on a command and on the heartbeat lane, and nothing is written', async () => {
    const before = await snapshotKeys(s.redis, s.prefix);
    refusesNaming(
      await s.api('POST', '/v1/connections/c1/heartbeats?dryRun=true', hb(T0 + 1000, 5)),
      'dryRun',
    );
    refusesNaming(
      await s.api('POST', '/v1/heartbeats?dryRun=true', {
        heartbeats: [{ connectionId: 'c1', ...hb(T0 + 1000, 5) }],
      }),
      'dryRun',
    );
    refusesNaming(
      await s.api('POST', '/v1/workspaces/ws-1/rollback?force=1', { reason: 'test' }),
      'force',
    );
    expect(await snapshotKeys(s.redis, s.prefix)).toEqual(before);
    expect((await s.api('GET', '/v1/connections/c1')).body.sampleSize).toBe(0);
  });

  it('is refused on every documented /v1 route that takes no query', async () => {
    const takesNone = documentedRoutes().filter(
      (r) => r.path.startsWith('/v1/') && r.query === undefined && r.auth !== 'stream',
    );
    expect(takesNone.length).toBeGreaterThan(20);
    for (const route of takesNone) {
      const path = route.path.replace(/:[A-Za-z]+/g, 'x');
      const res = await s.api(route.method.toUpperCase(), `${path}?zz=1`);
      expect([route.method, route.path, res.status]).toEqual([route.method, route.path, 400]);
      refusesNaming(res, 'zz');
    }
  });

  it('leaves routes that take a query, and the probes, answering', async () => {
    expect((await s.api('GET', '/v1/connections?limit=1')).status).toBe(200);
    expect((await s.api('GET', '/v1/workspaces/ws-1/migrations?limit=1')).status).toBe(200);
    expect((await s.api('GET', '/healthz?probe=1', undefined, null)).status).toBe(200);
  });
});
