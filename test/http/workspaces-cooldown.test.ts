/**
 * Workspaces end to end after a rollback: cooldown, automatic migration, flap protection, the
 * health window after a transport change, and manual rollback, through the real app
 * (test/http/workspaces-harness.ts: real Redis, a manual clock).
 */
import { describe, it, expect } from 'vitest';
import { T0, TOKEN_A, expectError, hb } from '../helpers.ts';
import {
  SEC,
  MIN,
  UUID,
  iso,
  service,
  call,
  settle,
  elapse,
  connect,
  beat,
  migrate,
  workspace,
  connection,
  audit,
  acpWorkspace,
  autoRollbackCycle,
  useServices,
} from './workspaces-harness.ts';

useServices();

describe('cooldown and automatic migration', () => {
  it('does not migrate automatically before the cooldown has passed, then migrates as system after autoMigrateAfter', async () => {
    const put = await call('PUT', '/v1/installations/inst-a/settings', {
      rolloutMode: 'automatic',
      autoRollout: true,
      thresholds: { autoMigrateAfterMinutes: 1, cooldownMinutes: 30 },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    await acpWorkspace('ws-1', ['c1', 'c2']);
    // The failures happened in the minute the workspace went to ACP; the rollback is decided a
    // minute later, so the health window after the rollback starts clean.
    service.clock.advance(MIN);
    // The breaching heartbeat is answered after the rollback it caused, with its id.
    const breach = await beat('c1', hb(T0, 90, 10));
    expect(breach.status).toBe('rolled-back');
    expect(breach.rollback.eventId).toMatch(UUID);
    // c2 went back with its workspace, in the same transaction.
    expectError(
      await call('POST', '/v1/connections/c2/heartbeats', hb(T0, 90, 10)),
      409,
      'invalid-transition',
    );
    const rolledBackAt = T0 + MIN;
    const cooling = await workspace();
    expect(cooling).toMatchObject({
      state: 'http.cooldown',
      cooldownUntil: iso(rolledBackAt + 30 * MIN),
    });

    // A probe connection registered in the HTTP workspace sends healthy traffic.
    await connect('probe');
    await beat('probe', hb(rolledBackAt, 300, 0));
    await settle();
    expect((await workspace()).health).toMatchObject({ verdict: 'healthy', sampleSize: 300 });

    await elapse(10 * MIN);
    expect((await workspace()).state).toBe('http.cooldown');
    expect((await audit('migrations')).filter((e) => e.initiatedBy === 'system')).toHaveLength(
      1, // only the rollback itself
    );

    await elapse(20 * MIN); // rolledBackAt + 30 min: the cooldown ends
    const warm = await workspace();
    expect(warm.state).not.toBe('http.cooldown');
    expect(warm.state).toBe('http.warming');
    expect(warm.cooldownUntil).toBeNull();
    expect(warm.transport).toBe('http');

    await elapse(MIN); // autoMigrateAfter
    const moving = await workspace();
    expect(['migrating', 'acp']).toContain(moving.state);
    const [started] = await audit('migrations');
    expect(started).toMatchObject({
      initiatedBy: 'system',
      requestedBy: null,
      fromProtocol: 'http',
      toProtocol: 'acp',
      status: 'in-progress',
      startedAt: iso(rolledBackAt + 31 * MIN),
    });
    expect(started.migrationId).toMatch(UUID);
  });

  it('stops an automatic migration when a settings change makes the health a breach', async () => {
    const put = await call('PUT', '/v1/installations/inst-a/settings', {
      rolloutMode: 'automatic',
      autoRollout: true,
      thresholds: { autoMigrateAfterMinutes: 5 },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    // A probe on the HTTP workspace: 99.9 % over 1,000 operations, healthy at 99 %.
    await connect('probe');
    await beat('probe', hb(T0, 999, 1));
    await settle();
    expect(await workspace()).toMatchObject({
      state: 'http.warming',
      health: { verdict: 'healthy', sampleSize: 1000 },
    });

    // The operator now asks for 99.95 %: the same window is a breach, which the chart itself
    // must see (not only the record's view of it), so the warm-up stops.
    const tighten = await call('PUT', '/v1/installations/inst-a/settings', {
      thresholds: { minSuccessRate: 0.9995 },
    });
    expect(tighten.status, JSON.stringify(tighten.body)).toBe(200);
    await settle();
    expect(await workspace()).toMatchObject({
      state: 'http.idle',
      health: { verdict: 'breach', sampleSize: 1000, minSuccessRate: 0.9995 },
    });

    await elapse(5 * MIN);
    expect((await workspace()).state).toBe('http.idle');
    expect(await audit('migrations')).toEqual([]);
  });

  it('lets an operator migrate back to ACP by hand during the cooldown', async () => {
    await acpWorkspace('ws-1', ['c1']);
    await beat('c1', hb(T0, 50, 50));
    await settle();
    expect((await workspace()).state).toBe('http.cooldown');

    service.clock.advance(2 * MIN);
    const res = await migrate('ws-1');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.workspace.state).toBe('migrating');
    await connect('c2');

    const ws = await workspace();
    expect(ws).toMatchObject({ state: 'acp', transport: 'acp' });
    const log = await audit('migrations');
    expect(log.slice(0, 2).map((e) => [e.status, e.initiatedBy])).toEqual([
      ['succeeded', 'operator'],
      ['in-progress', 'operator'],
    ]);
  });
});

describe('flap protection', () => {
  it('blocks automatic migration after 3 automatic rollbacks in 24 h until an operator re-enables it', async () => {
    await autoRollbackCycle('ws-1', 'c1');
    await autoRollbackCycle('ws-1', 'c2');
    expect(await workspace()).toMatchObject({
      autoMigrationBlocked: false,
      autoRollbacksInFlapWindow: 2,
    });
    await autoRollbackCycle('ws-1', 'c3');
    expect(await workspace()).toMatchObject({
      autoMigrationBlocked: true,
      autoRollbacksInFlapWindow: 3,
    });
    expect(await audit('rollbacks')).toHaveLength(3);

    const path = '/v1/workspaces/ws-1/auto-migration/reenable';
    expectError(await call('POST', path, {}, TOKEN_A), 403, 'forbidden');
    expect((await workspace()).autoMigrationBlocked).toBe(true);

    const res = await call('POST', path, {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.autoMigrationBlocked).toBe(false);
    expect(await workspace()).toMatchObject({
      autoMigrationBlocked: false,
      autoRollbacksInFlapWindow: 0,
    });
    const decisions = await audit('decisions');
    const reenabled = decisions.filter((d) => d.decision === 'auto-migration-reenabled');
    expect(reenabled).toHaveLength(1);
    expect(reenabled[0]).toMatchObject({ requestedBy: 'operator-1', at: iso(service.clock.now()) });

    expectError(await call('POST', path, {}), 409, 'migration-refused');
  });

  it('keeps a blocked workspace on HTTP after the cooldown despite healthy traffic, and warms up again once re-enabled', async () => {
    const put = await call('PUT', '/v1/installations/inst-a/settings', {
      rolloutMode: 'automatic',
      autoRollout: true,
      thresholds: { autoMigrateAfterMinutes: 1, cooldownMinutes: 5 },
    });
    expect(put.status).toBe(200);
    for (const id of ['c1', 'c2', 'c3']) await autoRollbackCycle('ws-1', id);
    expect((await workspace()).autoMigrationBlocked).toBe(true);

    await connect('probe');
    await beat('probe', hb(service.clock.now(), 300, 0));
    await settle();
    expect((await workspace()).health.verdict).toBe('healthy');

    await elapse(5 * MIN); // the cooldown is over
    expect((await workspace()).state).toBe('http.idle');
    await elapse(5 * MIN);
    expect((await workspace()).state).toBe('http.idle');
    const systemStarts = async () =>
      (await audit('migrations')).filter(
        (e) => e.initiatedBy === 'system' && e.status === 'in-progress',
      );
    expect(await systemStarts()).toEqual([]);

    const res = await call('POST', '/v1/workspaces/ws-1/auto-migration/reenable', {});
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('http.warming');
    await elapse(MIN);
    expect((await workspace()).state).toBe('migrating');
    expect(await systemStarts()).toHaveLength(1);
  });
});

describe('the health window after a transport change', () => {
  // A regression test. The window's start used to be rounded down to the minute of the
  // per-minute counters, so the operations that caused a rollback still counted after it for the
  // rest of that minute's hour: an operator migration back in the same minute was rolled back
  // automatically before a single operation ran on it, as an auto-threshold rollback (counting
  // towards the flap limit) with 100 samples and no connections.
  it('does not roll back an operator migration back to ACP made in the same minute as the rollback', async () => {
    await acpWorkspace('ws-1', ['c1']);
    service.clock.advance(5 * SEC);
    await beat('c1', hb(T0 + 5 * SEC, 90, 10));
    await settle();
    expect((await workspace()).state).toBe('http.cooldown');

    service.clock.advance(30 * SEC);
    expect((await migrate('ws-1')).status).toBe(201);
    await connect('c2');

    expect(await audit('rollbacks')).toHaveLength(1);
    const ws = await workspace();
    expect(ws.state).toBe('acp');
    expect(ws.health).toMatchObject({ sampleSize: 0, verdict: 'insufficient-data' });
  });
});

describe('manual rollback', () => {
  it('records trigger manual-operator for the operator token', async () => {
    await acpWorkspace('ws-1', ['c1']);
    service.clock.advance(SEC);
    const res = await call('POST', '/v1/workspaces/ws-1/rollback', { reason: 'agent upgrade' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.eventId).toMatch(UUID);
    expect(res.body.workspace.state).toBe('http.cooldown');

    const [event] = await audit('rollbacks');
    expect(event).toMatchObject({
      eventId: res.body.eventId,
      trigger: 'manual-operator',
      reason: 'agent upgrade',
      requestedBy: 'operator-1',
      previousProtocol: 'acp',
      newProtocol: 'http',
      connectionIds: ['c1'],
    });
    expect(event.followUpActions).toContain('notify-users');
    expect(event.notification.toast.body.length).toBeLessThanOrEqual(140);
    expect(await connection('c1')).toMatchObject({
      status: 'rolled-back',
      rollbackTriggered: true,
    });
    const [logged] = await audit('migrations');
    expect(logged).toMatchObject({
      status: 'rolled-back',
      initiatedBy: 'operator',
      rollbackReason: 'agent upgrade',
    });
  });

  it('records trigger manual-user for a tenant token', async () => {
    await acpWorkspace('ws-1', ['c1']);
    const res = await call(
      'POST',
      '/v1/workspaces/ws-1/rollback',
      { reason: 'too slow for me' },
      TOKEN_A,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const [event] = await audit('rollbacks');
    expect(event).toMatchObject({ trigger: 'manual-user', requestedBy: 'api-token-1' });
    expect((await workspace()).lastRollback.trigger).toBe('manual-user');
  });

  it('answers 409 for a workspace on HTTP and records nothing', async () => {
    await connect('c1');
    const res = await call('POST', '/v1/workspaces/ws-1/rollback', { reason: 'x' });
    expectError(res, 409, 'migration-refused');
    expect((await workspace()).state).toBe('http.idle');
    expect(await audit('rollbacks')).toEqual([]);
    expect((await connection('c1')).status).toBe('connected');
  });

  it('answers 400 naming reason for a rollback without one', async () => {
    await acpWorkspace('ws-1', ['c1']);
    expectError(
      await call('POST', '/v1/workspaces/ws-1/rollback', {}),
      400,
      'validation-failed',
      'reason',
    );
    expect((await workspace()).state).toBe('acp');
  });
});
