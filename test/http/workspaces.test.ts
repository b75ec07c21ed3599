/**
 * Workspaces end to end, migration to ACP and automatic rollback at the success-rate threshold,
 * through the real app (test/http/workspaces-harness.ts: real Redis, a manual clock).
 */
import { describe, it, expect } from 'vitest';
import { T0, TOKEN_A, expectError, hb } from '../helpers.ts';
import {
  SEC,
  MIN,
  UUID,
  ISO_UTC,
  iso,
  service,
  call,
  settle,
  register,
  handshake,
  beat,
  migrate,
  workspace,
  connection,
  audit,
  acpWorkspace,
  useServices,
} from './workspaces-harness.ts';

useServices();

describe('a newcomer migrating a workspace to ACP', () => {
  it('registers on HTTP, migrates, and is on ACP once its connection has handshaken, logging in-progress then succeeded', async () => {
    await register('c1', 'ws-1', TOKEN_A);
    const before = await workspace('ws-1', TOKEN_A);
    expect(before).toMatchObject({
      workspaceId: 'ws-1',
      installationId: 'inst-a',
      transport: 'http',
      state: 'http.idle',
      migration: null,
      connections: { total: 1, active: 1, onAcp: 0, pending: 1 },
    });

    const started = await migrate('ws-1', { toProtocol: 'acp', initiatedBy: 'user' }, TOKEN_A);
    expect(started.status).toBe(201);
    expect(started.body.migrationId).toMatch(UUID);
    expect(started.body.workspace).toMatchObject({
      state: 'migrating',
      transport: 'http',
      migration: { migrationId: started.body.migrationId, status: 'in-progress' },
    });
    expect((await workspace('ws-1', TOKEN_A)).state).toBe('migrating');

    service.clock.advance(5 * SEC);
    await handshake('c1');
    const after = await workspace('ws-1', TOKEN_A);
    expect(after).toMatchObject({
      transport: 'acp',
      state: 'acp',
      migration: null,
      transportSince: iso(T0 + 5 * SEC),
      connections: { total: 1, active: 1, onAcp: 1, pending: 0, byStatus: { connected: 1 } },
    });

    const log = await audit('migrations');
    expect(log.map((e) => e.status)).toEqual(['succeeded', 'in-progress']);
    for (const entry of log) {
      expect(entry).toMatchObject({
        migrationId: started.body.migrationId,
        workspaceId: 'ws-1',
        installationId: 'inst-a',
        fromProtocol: 'http',
        toProtocol: 'acp',
        initiatedBy: 'user',
        requestedBy: 'api-token-1',
        startedAt: iso(T0),
      });
    }
    expect(log[0]).toMatchObject({ completedAt: iso(T0 + 5 * SEC), recordedAt: iso(T0 + 5 * SEC) });
    expect(log[1]).toMatchObject({ completedAt: null, recordedAt: iso(T0) });
    expect(await audit('rollbacks')).toEqual([]);
  });

  it('answers 409 for a migration to ACP of a workspace already on ACP, and to HTTP of one on HTTP', async () => {
    await register('c1');
    expectError(
      await migrate('ws-1', { toProtocol: 'http', initiatedBy: 'operator' }),
      409,
      'migration-refused',
    );
    await acpWorkspace('ws-2', ['c2']);
    expectError(await migrate('ws-2'), 409, 'migration-refused');
    expect((await workspace('ws-2')).state).toBe('acp');
  });
});

describe('automatic rollback at the success-rate threshold', () => {
  it('keeps a workspace at exactly 99.0% (990 ok / 10 failed over two connections) on ACP', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    await beat('c1', hb(T0, 495, 5));
    await beat('c2', hb(T0, 495, 5));
    await settle();

    const ws = await workspace();
    expect(ws.state).toBe('acp');
    expect(ws.health).toMatchObject({ sampleSize: 1000, successRate: 0.99, verdict: 'healthy' });
    expect(await audit('rollbacks')).toEqual([]);
    expect(await audit('decisions')).toEqual([]);
    expect((await connection('c1')).rollbackTriggered).toBe(false);
  });

  it('rolls a workspace just below 99.0% (989 ok / 11 failed over two connections) back to HTTP with all its connections', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    service.clock.advance(SEC);
    await beat('c1', hb(T0, 495, 5));
    await beat('c2', hb(T0, 494, 6));
    await settle();

    const ws = await workspace();
    expect(ws).toMatchObject({
      state: 'http.cooldown',
      transport: 'http',
      connections: { total: 2, active: 0, onHttp: 2, byStatus: { 'rolled-back': 2 } },
      lastRollback: { trigger: 'auto-threshold', reasonCode: 'success-rate-below-threshold' },
    });
    const rollbacks = await audit('rollbacks');
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0].metricsSnapshot).toMatchObject({ sampleSize: 1000, successRate: 0.989 });
    for (const id of ['c1', 'c2']) {
      expect(await connection(id)).toMatchObject({
        status: 'rolled-back',
        rollbackTriggered: true,
      });
    }
    const [newest] = await audit('migrations');
    expect(newest).toMatchObject({
      fromProtocol: 'acp',
      toProtocol: 'http',
      status: 'rolled-back',
      initiatedBy: 'system',
      rollbackReason: 'success-rate-below-threshold',
      rollbackEventId: rollbacks[0].eventId,
    });
  });

  it('names every connection in a rollback decided inside one batch, before the others report back rolled back', async () => {
    // One request, one chain: the workspace takes c1's and c2's reports (the breach, at c2), c3's,
    // and then the rolled-back reports its own ROLLBACK caused. Those come after the decision.
    await acpWorkspace('ws-1', ['c1', 'c2', 'c3']);
    service.clock.advance(SEC);
    const items = [
      { connectionId: 'c1', ...hb(T0, 500, 0) },
      { connectionId: 'c2', ...hb(T0, 480, 20) },
      { connectionId: 'c3', ...hb(T0, 100, 0) },
    ];
    const res = await call('POST', '/v1/heartbeats', { items });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const [rollback] = await audit('rollbacks');
    expect([...rollback.connectionIds].sort()).toEqual(['c1', 'c2', 'c3']);
    expect(rollback.metricsSnapshot).toMatchObject({ sampleSize: 1000, successRate: 0.98 });
    for (const id of ['c1', 'c2', 'c3']) {
      const record = await connection(id);
      expect(record).toMatchObject({ status: 'rolled-back' });
      expect(record.diagnostics.at(-1)).toMatchObject({
        to: 'rolled-back',
        cause: 'workspace-rollback',
      });
    }
  });

  it('never rolls back on too few samples (50 ok / 49 failed), recording one rollback-held decision, then rolls back at the 100th operation', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    const beats: [string, number, number][] = [
      ['c1', 10, 10],
      ['c2', 10, 10],
      ['c1', 10, 10],
      ['c2', 10, 9],
      ['c1', 10, 10],
    ];
    for (const [id, ok, ko] of beats) {
      await beat(id, hb(T0, ok, ko));
      await settle();
      expect((await workspace()).state).toBe('acp');
    }

    const ws = await workspace();
    expect(ws.health).toMatchObject({ sampleSize: 99, verdict: 'held' });
    expect(ws.health.successRate).toBeCloseTo(50 / 99, 10);
    expect(await audit('rollbacks')).toEqual([]);
    const decisions = await audit('decisions');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({
      decision: 'rollback-held',
      workspaceId: 'ws-1',
      installationId: 'inst-a',
    });
    expect(decisions[0].reason).toContain('100');

    await beat('c2', hb(T0, 0, 1));
    await settle();
    expect((await workspace()).state).toBe('http.cooldown');
    expect(await audit('rollbacks')).toHaveLength(1);
    expect(await audit('decisions')).toHaveLength(1);
  });

  it('lets old failures leave the window as event time passes: failures at T0 do not count 61 minutes later', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    await beat('c1', hb(T0, 90, 9));
    await settle();
    expect((await workspace()).health).toMatchObject({ sampleSize: 99, verdict: 'held' });

    service.clock.advance(61 * MIN);
    // 200/201 is healthy alone; with the 99 from T0 it would be 290/300 = 96.7%, a breach.
    await beat('c2', hb(T0 + 61 * MIN, 200, 1));
    await settle();

    const ws = await workspace();
    expect(ws.state).toBe('acp');
    expect(ws.health).toMatchObject({ sampleSize: 201, verdict: 'healthy', windowMinutes: 60 });
    expect(ws.health.successRate).toBeCloseTo(200 / 201, 10);
    expect(await audit('rollbacks')).toEqual([]);
  });

  it('still counts failures from 59 minutes ago: the same traffic inside the hour rolls back', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    await beat('c1', hb(T0, 90, 9));
    await settle();
    service.clock.advance(59 * MIN);
    await beat('c2', hb(T0 + 59 * MIN, 200, 1));
    await settle();

    expect((await workspace()).state).toBe('http.cooldown');
    const [rollback] = await audit('rollbacks');
    expect(rollback.metricsSnapshot).toMatchObject({ sampleSize: 300 });
    expect(rollback.metricsSnapshot.successRate).toBeCloseTo(290 / 300, 10);
  });

  it('records a complete RollbackEvent: ids, trigger, protocols, follow-ups, metrics, a short error toast and the connections moved', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2', 'c3']);
    service.clock.advance(7 * SEC);
    const latencies = [...Array<number>(95).fill(40), ...Array<number>(5).fill(900)];
    await beat('c1', hb(T0, 495, 5, latencies));
    await beat('c2', hb(T0, 494, 6, latencies));
    await settle();

    const rollbacks = await audit('rollbacks');
    expect(rollbacks).toHaveLength(1);
    const event = rollbacks[0];
    expect(event.eventId).toMatch(UUID);
    expect(event).toMatchObject({
      workspaceId: 'ws-1',
      installationId: 'inst-a',
      trigger: 'auto-threshold',
      reasonCode: 'success-rate-below-threshold',
      previousProtocol: 'acp',
      newProtocol: 'http',
      requestedBy: null,
      initiatedAt: iso(T0 + 7 * SEC),
      thresholds: { minSuccessRate: 0.99, minSamples: 100, windowMinutes: 60 },
      cooldownUntil: iso(T0 + 7 * SEC + 30 * MIN),
    });
    expect(event.initiatedAt).toMatch(ISO_UTC);
    expect(event.followUpActions).toEqual(
      expect.arrayContaining(['notify-users', 'schedule-review']),
    );
    expect(event.metricsSnapshot).toMatchObject({
      successRate: 0.989,
      sampleSize: 1000,
      windowMinutes: 60,
      activeConnections: 3,
      capacityPercent: null, // the workspace knows its own connections, not the installation's capacity
    });
    expect(event.metricsSnapshot.latencyP95).toBeTypeOf('number');
    expect(event.metricsSnapshot.latencyP95).toBeGreaterThanOrEqual(40);
    expect(event.notification.toast.severity).toBe('error');
    expect(event.notification.toast.body.length).toBeGreaterThan(0);
    expect(event.notification.toast.body.length).toBeLessThanOrEqual(140);
    expect(event.notification.toast.body).toContain('98.9%');
    expect([...event.connectionIds].sort()).toEqual(['c1', 'c2', 'c3']);

    const ws = await workspace();
    expect(ws.lastRollback).toMatchObject({ eventId: event.eventId, at: event.initiatedAt });
    expect(ws.cooldownUntil).toBe(event.cooldownUntil);
    const c3 = await connection('c3');
    expect(c3).toMatchObject({ status: 'rolled-back', rollbackTriggered: true });
  });
});
