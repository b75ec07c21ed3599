/**
 * The workspace chart's automatic rollback, policy changes, manual rollback and migration, and
 * anti-flap (shared set-up and helpers: unused.ts).
 */
import { describe, expect, it } from 'vitest';
import { H, MIN, T0, automatic, harness, onAcp } from './workspace.harness.ts';

describe('automatic rollback', () => {
  it('rolls back just below 99 % and not at exactly 99 %', () => {
    expect(onAcp().ops(990, 10).state).toBe('acp');
    expect(onAcp().ops(989, 11).state).toBe('http.cooldown');
  });

  it('rolls back from exactly the minimum number of samples, and holds one fewer', () => {
    expect(onAcp().ops(98, 2).state).toBe('http.cooldown');
    const h = onAcp().ops(97, 2);
    expect(h.state).toBe('acp');
    expect(h.context.health?.verdict).toBe('held');
  });

  it('rolls back a migration in progress', () => {
    const h = harness().migrate().report('c1', 'connecting').ops(450, 50, { id: 'c2' });
    expect(h.state).toBe('http.cooldown');
    expect(h.audits('migrations').at(-1)).toMatchObject({
      status: 'rolled-back',
      fromProtocol: 'http',
      toProtocol: 'acp',
    });
  });

  it('never rolls back while on HTTP', () => {
    const h = harness().ops(0, 1000);
    expect(h.state).toBe('http.idle');
    expect(h.context.health?.verdict).toBe('breach');
    expect(h.audits('rollbacks')).toEqual([]);
  });

  it('records a hold on the very first report it gets', () => {
    const h = harness().migrate().ops(25, 25, { status: 'connecting' });
    expect(h.audits('decisions')).toMatchObject([{ decision: 'rollback-held' }]);
  });

  it('records a hold, once, when the rate is low but samples are too few', () => {
    const h = onAcp().ops(25, 25).ops(0, 10);
    expect(h.state).toBe('acp');
    expect(h.audits('decisions')).toHaveLength(1);
    expect(h.audits('decisions')[0]).toMatchObject({ decision: 'rollback-held' });
    expect(h.audits('decisions')[0].reason).toContain('50 of the 100');
  });

  it('tells every live connection to roll back, and none that already did', () => {
    const h = onAcp()
      .report('c3', 'degraded')
      .report('c2', 'rolledBack')
      .report('c0', 'error')
      .ops(0, 1000);
    expect(h.emitted()).toEqual(
      ['c0', 'c1', 'c3'].map((id) => ({
        type: 'ROLLBACK',
        to: { kind: 'connection', id },
        reason: 'workspace-rollback',
      })),
    );
    expect(h.audits('rollbacks')[0].connectionIds).toEqual(['c0', 'c1', 'c3']);
  });

  it('includes the connection whose report breached, even one not seen before', () => {
    const h = harness().migrate().ops(0, 500, { id: 'new', status: 'connecting' });
    expect(h.emitted().map((e: any) => e.to.id)).toEqual(['new']);
    expect(h.audits('rollbacks')[0]).toMatchObject({
      connectionIds: ['new'],
      metricsSnapshot: { activeConnections: 1 },
    });
  });

  it('emits nothing when the report does not breach', () => {
    expect(onAcp().ops(1000, 0).emitted()).toEqual([]);
  });

  it('forgets the health it rolled back on: no automatic migration after the cooldown without new evidence', () => {
    const h = onAcp(automatic).ops(1000, 0, { at: T0 + MIN });
    expect(h.context.health?.verdict).toBe('healthy');
    h.ops(0, 200, { at: T0 + 2 * MIN });
    expect(h.context.health).toBeNull();
    expect(h.context.window).toEqual([]);
    h.fire('cooldownDelay', T0 + 32 * MIN);
    expect(h.state).toBe('http.idle');
  });
});

describe('policy changes', () => {
  it('rolls back at once when a tighter threshold turns the window into a breach', () => {
    const h = onAcp().ops(995, 5);
    expect(h.state).toBe('acp');
    h.policyChange(
      { minSuccessRate: 0.996, cooldownMs: 7 * MIN },
      { eventId: 'p1', spareId: 's1' },
    );
    expect(h.state).toBe('http.cooldown');
    expect(h.context.policy.minSuccessRate).toBe(0.996);
    expect(h.timer('cooldownDelay')).toBe(7 * MIN);
    expect(h.audits('rollbacks')[0]).toMatchObject({
      eventId: 'p1',
      migrationId: 's1',
      trigger: 'auto-threshold',
      reason: 'aggregated ACP success rate 0.995 over 1000 operations fell below 0.996',
      thresholds: { minSuccessRate: 0.996, minSamples: 100, windowMinutes: 60 },
      connectionIds: ['c1'],
    });
    expect(h.emitted()).toEqual([
      { type: 'ROLLBACK', to: { kind: 'connection', id: 'c1' }, reason: 'workspace-rollback' },
    ]);
  });

  it('rolls back a migration in progress on a tighter threshold', () => {
    const h = harness().migrate({ migrationId: 'm1' }).ops(995, 5, { status: 'connecting' });
    h.policyChange({ minSamples: 10, minSuccessRate: 0.999 }, { eventId: 'p2' });
    expect(h.state).toBe('http.cooldown');
    expect(h.context.policy).toMatchObject({ minSamples: 10, minSuccessRate: 0.999 });
    expect(h.planned()).toMatchObject([
      { id: 'p2', record: { thresholds: { minSuccessRate: 0.999, minSamples: 10 } } },
      { id: 'm1-rolled-back', record: { status: 'rolled-back', rollbackEventId: 'p2' } },
    ]);
    expect(h.planned('notifyUsers')).toHaveLength(1);
    expect(h.emitted()).toEqual([
      { type: 'ROLLBACK', to: { kind: 'connection', id: 'c1' }, reason: 'workspace-rollback' },
    ]);
  });

  it('takes a policy that does not breach without stopping a migration in progress', () => {
    const h = harness().migrate().ops(995, 5, { status: 'connecting' });
    h.policyChange({ minSuccessRate: 0.995 });
    expect(h.state).toBe('migrating');
    expect(h.context.policy.minSuccessRate).toBe(0.995);
    expect(h.planned()).toEqual([]);
  });

  it('takes a policy that does not breach without leaving ACP', () => {
    const h = onAcp().ops(995, 5).policyChange({ minSuccessRate: 0.995 });
    expect(h.state).toBe('acp');
    expect(h.context.policy.minSuccessRate).toBe(0.995);
    expect(h.audits('rollbacks')).toEqual([]);
  });

  it('takes a policy on HTTP, which may start the automatic rollout', () => {
    const h = harness().ops(1000, 0, { id: 'probe' });
    expect(h.state).toBe('http.idle');
    h.policyChange({ rolloutMode: 'automatic', autoRollout: true });
    expect(h.context.policy).toEqual(automatic);
    expect(h.state).toBe('http.warming');
  });
});

describe('manual rollback and migration', () => {
  it('rolls back by operator request with the reason and tells the connections', () => {
    const h = onAcp().report('c2', 'rolledBack').rollbackRequested();
    expect(h.state).toBe('http.cooldown');
    expect(h.audits('rollbacks')[0]).toMatchObject({
      trigger: 'manual-operator',
      reason: 'incident 42',
      requestedBy: 'alice',
      connectionIds: ['c1'],
    });
    expect(h.emitted()).toEqual([
      { type: 'ROLLBACK', to: { kind: 'connection', id: 'c1' }, reason: 'workspace-rollback' },
    ]);
  });

  it('migrates back to HTTP on request and moves every live connection with it', () => {
    const h = onAcp().report('c2', 'reconnecting').report('c3', 'rolledBack').ops(1000, 0);
    h.migrate({ toProtocol: 'http' });
    expect(h.state).toBe('http.idle');
    expect(h.audits('migrations').at(-1)).toMatchObject({
      status: 'succeeded',
      fromProtocol: 'acp',
      toProtocol: 'http',
    });
    expect(h.emitted()).toEqual(
      ['c1', 'c2'].map((id) => ({
        type: 'ROLLBACK',
        to: { kind: 'connection', id },
        reason: 'migrated-to-http',
      })),
    );
    expect(h.context).toMatchObject({ window: [], health: null });
  });

  it('does not migrate back to HTTP by itself after a request, even under automatic rollout', () => {
    const h = onAcp(automatic).ops(1000, 0).migrate({ toProtocol: 'http' });
    expect(h.state).toBe('http.idle');
  });

  it('allows a manual migration to ACP during the cooldown', () => {
    const h = onAcp().ops(0, 1000).report('c1', 'rolledBack').migrate();
    expect(h.state).toBe('migrating');
  });
});

describe('anti-flap', () => {
  it('holds automatic migration until the cooldown has passed', () => {
    const h = onAcp(automatic).ops(500, 500);
    h.ops(1000, 0, { id: 'probe', at: T0 + MIN });
    expect(h.context.health?.verdict).toBe('healthy');
    expect(h.state).toBe('http.cooldown');
    h.fire('cooldownDelay', T0 + 30 * MIN);
    expect(h.state).toBe('http.warming');
  });

  it('migrates by itself once health has stayed above threshold for the configured time', () => {
    const h = harness(automatic).report('c2', 'connecting').ops(1000, 0, { id: 'probe' });
    expect(h.state).toBe('http.warming');
    h.fire('autoMigrateDelay', T0 + 15 * MIN);
    expect(h.state).toBe('migrating');
    expect(h.context.migration).toMatchObject({ initiatedBy: 'system' });
    h.report('c2', 'connected');
    expect(h.state).toBe('acp');
  });

  it('stops warming when health drops', () => {
    const h = harness(automatic).ops(1000, 0, { id: 'probe' }).ops(0, 1000, { id: 'probe' });
    expect(h.state).toBe('http.idle');
    expect(h.timers.size).toBe(0);
  });

  it('blocks automatic migration after the flap limit until an operator re-enables it', () => {
    const h = onAcp(automatic);
    for (let i = 0; i < 3; i++) h.cycle(T0 + i * H);
    expect(h.state).toBe('acp');
    h.cycle(T0 + 3 * H, false);
    expect(h.context.autoMigrationBlocked).toBe(true);
    h.fire('cooldownDelay', T0 + 4 * H).ops(1000, 0, { id: 'probe', at: T0 + 4 * H });
    expect(h.state).toBe('http.idle');
    h.send({ type: 'REENABLE_AUTO_MIGRATION', requestedBy: 'op' });
    expect(h.context.autoMigrationBlocked).toBe(false);
    expect(h.state).toBe('http.warming');
    expect(h.audits('decisions').at(-1)).toMatchObject({ decision: 'auto-migration-reenabled' });
  });

  it('forgets automatic rollbacks older than the flap window', () => {
    const h = onAcp(automatic)
      .cycle(T0)
      .cycle(T0 + 25 * H);
    h.cycle(T0 + 26 * H, false);
    expect(h.context.autoRollbacks).toHaveLength(2);
    expect(h.context.autoMigrationBlocked).toBe(false);
  });

  it('accepts no re-enable when nothing is blocked', () => {
    const h = harness();
    const before = h.context;
    h.send({ type: 'REENABLE_AUTO_MIGRATION', requestedBy: 'op' });
    expect(h.context).toBe(before);
  });
});
