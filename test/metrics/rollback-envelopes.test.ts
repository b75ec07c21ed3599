/**
 * The workspace envelopes of a rollback (README "Metrics": at once when the verdict moves,
 * breached while it is a breach). A rollback empties the workspace's window in the commit that
 * decides it, so its envelopes carry what the chart decided on: the rollback's evidence (the
 * RollbackEvent's `metricsSnapshot`) and its verdict. Real service with only the metrics module,
 * real Redis under a per-test key prefix, manual clock, everything through HTTP.
 */
import { describe, expect, it } from 'vitest';
import { hb } from '../helpers.ts';
import {
  SEC,
  beat,
  call,
  envelopes,
  register,
  service,
  settle,
  useMetricsService,
} from './support.ts';

const iso = (ms: number) => new Date(ms).toISOString();

useMetricsService();

/** Registers the connections, migrates ws-1 to ACP (operator) and completes their handshakes. */
async function acpWorkspace(connectionIds: string[]): Promise<void> {
  for (const id of connectionIds) await register(service, id);
  const migration = await call(service, 'POST', '/v1/workspaces/ws-1/migrations', {
    toProtocol: 'acp',
    initiatedBy: 'operator',
  });
  expect(migration.status, JSON.stringify(migration.body)).toBe(201);
  for (const id of connectionIds) {
    const res = await call(service, 'POST', `/v1/connections/${id}/handshake`, {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: ['fs'],
    });
    expect(res.body.status).toBe('connected');
  }
  await settle(service);
  expect((await workspaceOf()).state).toBe('acp');
}

async function workspaceOf() {
  const res = await call(service, 'GET', '/v1/workspaces/ws-1');
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** The workspace's one RollbackEvent. */
async function rollbackEvent() {
  const res = await call(service, 'GET', '/v1/workspaces/ws-1/rollbacks');
  expect(res.body.items).toHaveLength(1);
  return res.body.items[0];
}

/**
 * Workspace envelopes (no connectionId) from `from` on, without their stream ids, and without
 * `rollback-count`: that one is written by the rollback's effect, in its own order.
 */
async function workspaceEnvelopes(from = 0) {
  return (await envelopes(service))
    .slice(from)
    .filter((e) => e.connectionId === undefined && e.metricType !== 'rollback-count')
    .map(({ id: _id, ...e }) => e);
}

/** The `rollback-count` envelopes, without their stream ids. */
async function rollbackCounts() {
  return (await envelopes(service))
    .filter((e) => e.metricType === 'rollback-count')
    .map(({ id: _id, ...e }) => e);
}

const envelope = (at: number, metricType: string, value: number, thresholdBreached: boolean) => ({
  timestamp: iso(at),
  installationId: 'inst-a',
  workspaceId: 'ws-1',
  metricType,
  value,
  thresholdBreached,
});

describe('workspace envelopes of a rollback', () => {
  it('emits the breach a heartbeat rolls back on: success rate, p95 and throughput of the window it decided on, breached', async () => {
    await acpWorkspace(['c1']);
    service.clock.advance(10 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 2000, 0, [40]));
    const healthy = await workspaceEnvelopes();
    expect(healthy.map((e) => [e.metricType, e.value, e.thresholdBreached])).toEqual([
      ['success-rate', 1, false],
      // The p95 of one 40 ms operation, as the connection reports it.
      ['latency-p95', 50, false],
      ['throughput', 2000, false],
    ]);
    const seen = (await envelopes(service)).length;

    service.clock.advance(SEC);
    const at = service.clock.now();
    await beat(service, 'c1', hb(at, 0, 100, [900]));
    await settle(service);
    expect((await workspaceOf()).state).toBe('http.cooldown');
    const event = await rollbackEvent();
    expect(event).toMatchObject({
      trigger: 'auto-threshold',
      initiatedAt: iso(at),
      metricsSnapshot: { successRate: 2000 / 2100, sampleSize: 2100, latencyP95: 1000 },
    });

    // Only what the decision saw: no envelope of the emptied window after it.
    expect(await workspaceEnvelopes(seen)).toEqual([
      envelope(at, 'success-rate', 2000 / 2100, true),
      // Below DEGRADED_LATENCY_P95_MS, but the verdict is a breach.
      envelope(at, 'latency-p95', 1000, true),
      // Both heartbeats fell in the window's one minute (T0 + 10 s and + 11 s).
      envelope(at, 'throughput', 2100, true),
    ]);
    expect(await rollbackCounts()).toEqual([envelope(at, 'rollback-count', 1, true)]);
  });

  it('emits the breach a settings change (POLICY) rolls back on, with the values under the new threshold', async () => {
    await acpWorkspace(['c1', 'c2']);
    service.clock.advance(10 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 1000, 5, [30]));
    service.clock.advance(SEC);
    await beat(service, 'c2', hb(service.clock.now(), 1000, 10, [70]));
    // 2000 of 2015 = 99.26 %: healthy under the default 99 %.
    expect((await workspaceOf()).health).toMatchObject({ verdict: 'healthy', sampleSize: 2015 });
    const seen = (await envelopes(service)).length;

    // A minute later, within the window: the threshold tightens to 99.5 %, a breach.
    service.clock.advance(60 * SEC);
    const at = service.clock.now();
    const res = await call(service, 'PUT', '/v1/installations/inst-a/settings', {
      thresholds: { minSuccessRate: 0.995 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await settle(service);
    expect((await workspaceOf()).state).toBe('http.cooldown');
    expect(await rollbackEvent()).toMatchObject({
      trigger: 'auto-threshold',
      initiatedAt: iso(at),
      thresholds: { minSuccessRate: 0.995 },
      metricsSnapshot: { successRate: 2000 / 2015, sampleSize: 2015, latencyP95: 75 },
    });

    expect(await workspaceEnvelopes(seen)).toEqual([
      envelope(at, 'success-rate', 2000 / 2015, true),
      envelope(at, 'latency-p95', 75, true),
      // Both heartbeats fell in the window's one minute (T0 + 10 s and + 11 s).
      envelope(at, 'throughput', 2015, true),
    ]);
    expect(await rollbackCounts()).toEqual([envelope(at, 'rollback-count', 1, true)]);
  });

  it('emits the unbreached evidence of a requested rollback, as its verdict was', async () => {
    await acpWorkspace(['c1']);
    service.clock.advance(10 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 300, 0, [30]));
    const seen = (await envelopes(service)).length;

    service.clock.advance(SEC);
    const at = service.clock.now();
    const res = await call(service, 'POST', '/v1/workspaces/ws-1/rollback', { reason: 'test' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await settle(service);
    expect((await workspaceOf()).state).toBe('http.cooldown');
    expect(await workspaceEnvelopes(seen)).toEqual([
      envelope(at, 'success-rate', 1, false),
      envelope(at, 'latency-p95', 35, false),
      envelope(at, 'throughput', 300, false),
    ]);
    expect(await rollbackCounts()).toEqual([envelope(at, 'rollback-count', 1, true)]);
  });
});
