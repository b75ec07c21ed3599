/**
 * A request is answered after every decision it caused: no settle(), no wait, no sleep between
 * the request and the read that checks it. Runs on Redis and on Cluster.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { T0, type TestService, checkInvariants, hb, startService } from '../helpers.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let services: TestService[] = [];

afterEach(async () => {
  for (const s of services.slice(1)) await s.stopKeepingKeys();
  await services[0]?.close();
  services = [];
});

async function serve(env: Record<string, string> = {}) {
  const first = await startService(env);
  const second = await startService({ ...env, KEY_PREFIX: first.prefix });
  services = [first, second];
  return [first, second] as const;
}

async function call(svc: TestService, method: string, path: string, body?: unknown) {
  const res = await svc.api(method, path, body);
  checkInvariants(res);
  return res;
}

describe('a heartbeat that breaches the workspace threshold', () => {
  it('answers with the rollback, and an immediate read shows the rollback event, the rolled-back migration and every connection rolled back', async () => {
    const [a, b] = await serve();
    for (const id of ['c1', 'c2', 'c3']) {
      await call(a, 'POST', '/v1/connections', {
        connectionId: id,
        installationId: 'inst-a',
        workspaceId: 'ws-1',
      });
    }
    expect(
      (
        await call(a, 'POST', '/v1/workspaces/ws-1/migrations', {
          toProtocol: 'acp',
          initiatedBy: 'operator',
        })
      ).status,
    ).toBe(201);
    for (const id of ['c1', 'c2', 'c3']) {
      await call(b, 'POST', `/v1/connections/${id}/handshake`, {
        protocolVersion: '1.2.0',
        negotiatedCapabilities: [],
      });
    }
    expect((await call(a, 'GET', '/v1/workspaces/ws-1')).body.state).toBe('acp');

    // 980 ok + 20 failed = 98 % < 99 % over 1,000 operations.
    const breach = await call(b, 'POST', '/v1/connections/c1/heartbeats', hb(T0, 980, 20));
    expect(breach.status).toBe(200);
    expect(breach.body.status).toBe('rolled-back');
    expect(breach.body.rollback.eventId).toMatch(UUID);

    const rollbacks = (await call(a, 'GET', '/v1/workspaces/ws-1/rollbacks')).body.items;
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toMatchObject({
      eventId: breach.body.rollback.eventId,
      trigger: 'auto-threshold',
    });
    expect([...rollbacks[0].connectionIds].sort()).toEqual(['c1', 'c2', 'c3']);
    const migrations = (await call(a, 'GET', '/v1/workspaces/ws-1/migrations')).body.items;
    const rolledBack = migrations.find((m: any) => m.status === 'rolled-back');
    expect(rolledBack.metricsSnapshot).toMatchObject({ successRate: 0.98, sampleSize: 1000 });
    for (const id of ['c1', 'c2', 'c3']) {
      expect((await call(a, 'GET', `/v1/connections/${id}`)).body.status).toBe('rolled-back');
    }
    expect((await call(b, 'GET', '/v1/workspaces/ws-1')).body.transport).toBe('http');
  });
});

describe('breaching heartbeats of one workspace arriving together', () => {
  it('roll it back once, and every answer that ends rolled back names that rollback', async () => {
    const [a, b] = await serve();
    const ids = Array.from({ length: 6 }, (_, i) => `c${i}`);
    for (const id of ids) {
      await call(a, 'POST', '/v1/connections', {
        connectionId: id,
        installationId: 'inst-a',
        workspaceId: 'ws-1',
      });
    }
    await call(a, 'POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
    });
    for (const id of ids) {
      await call(b, 'POST', `/v1/connections/${id}/handshake`, {
        protocolVersion: '1.2.0',
        negotiatedCapabilities: [],
      });
    }
    const answers = await Promise.all(
      ids.map((id, i) =>
        call(i % 2 ? a : b, 'POST', `/v1/connections/${id}/heartbeats`, hb(T0, 90, 10)),
      ),
    );
    const rollbacks = (await call(a, 'GET', '/v1/workspaces/ws-1/rollbacks')).body.items;
    expect(rollbacks).toHaveLength(1);
    const rolledBack = answers.filter((r) => r.status === 200 && r.body.status === 'rolled-back');
    expect(rolledBack.length).toBeGreaterThan(0);
    for (const r of rolledBack) expect(r.body.rollback?.eventId).toBe(rollbacks[0].eventId);
    // The others arrived after the rollback and were refused: their connection had gone back.
    for (const r of answers.filter((x) => x.status !== 200)) expect(r.status).toBe(409);
  });
});

describe('a registration that crosses a capacity threshold', () => {
  it('is answered after the warning at 85 % and the critical alert at 95 % exist', async () => {
    const [a, b] = await serve({ CAPACITY_PER_WORKER: '20' });
    const register = (svc: TestService, i: number) =>
      call(svc, 'POST', '/v1/connections', {
        connectionId: `c${i}`,
        installationId: 'inst-a',
        workspaceId: `ws-${i % 3}`,
      });
    for (let i = 0; i < 16; i++) await register(i % 2 ? a : b, i);
    expect((await call(a, 'GET', '/v1/installations/inst-a/capacity')).body.state).toBe('normal');

    expect((await register(a, 16)).status).toBe(201);
    const warning = (await call(b, 'GET', '/v1/installations/inst-a/capacity')).body;
    expect(warning).toMatchObject({ state: 'warning', activeConnections: 17 });
    expect(warning.openAlert).toMatchObject({ trigger: 'warning', activeConnections: 17 });

    await register(b, 17);
    expect((await register(a, 18)).status).toBe(201);
    const critical = (await call(b, 'GET', '/v1/installations/inst-a/capacity')).body;
    expect(critical).toMatchObject({ state: 'critical', activeConnections: 19 });
    expect(critical.openAlert).toMatchObject({ trigger: 'critical', activeConnections: 19 });
  });

  it('counts exactly the active connections under concurrent registrations and drops on two processes', async () => {
    const [a, b] = await serve({ CAPACITY_PER_WORKER: '100' });
    const ids = Array.from({ length: 40 }, (_, i) => `c${i}`);
    await Promise.all(
      ids.map((id, i) =>
        call(i % 2 ? a : b, 'POST', '/v1/connections', {
          connectionId: id,
          installationId: 'inst-a',
          workspaceId: `ws-${i % 4}`,
        }),
      ),
    );
    // Roll back every fourth connection while the others handshake, concurrently.
    await Promise.all(
      ids.map((id, i) =>
        i % 4 === 0
          ? call(i % 2 ? b : a, 'POST', `/v1/connections/${id}/rollback`, { reason: 'test' })
          : call(i % 2 ? b : a, 'POST', `/v1/connections/${id}/handshake`, {
              protocolVersion: '1.2.0',
              negotiatedCapabilities: [],
            }),
      ),
    );
    const capacity = (await call(a, 'GET', '/v1/installations/inst-a/capacity')).body;
    expect(capacity.activeConnections).toBe(30);
    expect(capacity.capacityPercent).toBe(0.3);
  });
});
