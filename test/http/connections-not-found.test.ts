/**
 * Every connection route answers an id it cannot serve with the one 404: `not-found`, the
 * message naming the connection, `details: { field: "connectionId" }`. Also an id that is
 * claimed but has no snapshot: a registration the capacity chart vetoed in its commit keeps its
 * id claimed, and the engine's own 404 named the actor (`details: { id }`) instead.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { T0, type TestService, hb, startService } from '../helpers.ts';

let svc: TestService;

beforeEach(async () => {
  svc = await startService({ CAPACITY_PER_WORKER: '20' });
});

afterEach(async () => {
  await svc.close();
});

/** Every route that names one connection, for connection `id`. */
const routes = (id: string): [string, string, unknown][] => [
  ['GET', `/v1/connections/${id}`, undefined],
  ['POST', `/v1/connections/${id}/heartbeats`, hb(T0, 1)],
  [
    'POST',
    `/v1/connections/${id}/handshake`,
    { protocolVersion: '1.0.0', negotiatedCapabilities: [] },
  ],
  ['POST', `/v1/connections/${id}/dropped`, { reason: 'x' }],
  ['POST', `/v1/connections/${id}/recovered`, {}],
  ['POST', `/v1/connections/${id}/rollback`, { reason: 'x' }],
];

const notFound = (id: string) => ({
  error: {
    code: 'not-found',
    message: `connection ${id} not found`,
    details: { field: 'connectionId' },
    requestId: 'test-request',
  },
});

describe('404 of the connection routes', () => {
  it('names the field connectionId for an unknown id and for one claimed by a vetoed registration', async () => {
    // 25 at once: the capacity chart vetoes 6 in their commits; their ids stay claimed.
    const ids = Array.from({ length: 25 }, (_, i) => `b${i}`);
    const results = await Promise.all(
      ids.map((id) =>
        svc.api('POST', '/v1/connections', {
          connectionId: id,
          installationId: 'inst-a',
          workspaceId: 'ws-b',
        }),
      ),
    );
    const vetoed = ids.find((_, i) => results[i]!.status === 503);
    expect(vetoed).toBeDefined();
    for (const id of ['unknown', vetoed!]) {
      for (const [method, path, body] of routes(id)) {
        const res = await svc.api(method, path, body);
        expect({ method, path, status: res.status, body: res.body as unknown }).toEqual({
          method,
          path,
          status: 404,
          body: notFound(id),
        });
      }
      const batch = await svc.api('POST', '/v1/heartbeats', {
        items: [{ connectionId: id, ...hb(T0, 1) }],
      });
      expect(batch.status).toBe(200);
      expect((batch.body as { results: unknown[] }).results).toEqual([
        { connectionId: id, ok: false, status: 404, ...notFound(id) },
      ]);
    }
  });
});
