import { describe, expect, it } from 'vitest';
import { H, MIN, P, T0, automatic, harness, noConnections, onAcp } from './workspace.harness.ts';

const minute = (ms: number) => Math.floor(ms / MIN);

describe('workspace chart', () => {
  it('starts on the installation default protocol', () => {
    expect(harness().state).toBe('http.idle');
    expect(harness({ ...P, defaultProtocol: 'acp' }).state).toBe('acp');
  });

  it('starts knowing nothing but its identity, its policy and when it was created', () => {
    expect(harness().context).toEqual({
      workspaceId: 'w1',
      installationId: 'i1',
      createdAt: T0,
      policy: P,
      transportSince: T0,
      migration: null,
      pending: null,
      connections: noConnections,
      members: {},
      window: [],
      health: null,
      autoRollbacks: [],
      autoMigrationBlocked: false,
      cooldownMs: P.cooldownMs,
      cooldownUntil: null,
      lastRollback: null,
      nextMigrationId: null,
    });
  });

  it('migrates to ACP on request and logs the migration as in progress', () => {
    const h = harness().migrate();
    expect(h.state).toBe('migrating');
    expect(h.audits('migrations')).toMatchObject([
      { status: 'in-progress', fromProtocol: 'http', toProtocol: 'acp', initiatedBy: 'operator' },
    ]);
  });

  it('refuses a migration when migration is disabled for the installation', () => {
    expect(harness().migrate({ policy: { ...P, migrationEnabled: false } }).state).toBe(
      'http.idle',
    );
  });

  it('refuses user opt-in when the installation rolls out on a schedule', () => {
    const h = harness().migrate({
      initiatedBy: 'user',
      policy: { ...P, rolloutMode: 'scheduled' },
    });
    expect(h.state).toBe('http.idle');
  });

  it('completes the migration only when every active connection reports being on ACP', () => {
    const h = harness().migrate().report('c2', 'connecting').report('c1', 'connected');
    expect(h.state).toBe('migrating');
    h.report('c2', 'connected');
    expect(h.state).toBe('acp');
    expect(h.audits('migrations').map((r: any) => r.status)).toEqual(['in-progress', 'succeeded']);
  });

  it('counts a degraded connection as on ACP and one in error or reconnecting as not yet', () => {
    expect(harness().migrate().report('c1', 'degraded').state).toBe('acp');
    expect(harness().migrate().report('c1', 'error').state).toBe('migrating');
    expect(harness().migrate().report('c1', 'reconnecting').state).toBe('migrating');
  });

  it('does not complete a migration while the workspace has no active connection', () => {
    const h = harness().migrate().report('c1', 'rolledBack');
    expect(h.state).toBe('migrating');
    expect(h.context.connections).toEqual({ ...noConnections, onHttp: 1 });
  });

  it('fails a migration whose connections do not make it in time, with the reason', () => {
    const h = harness()
      .migrate()
      .report('c2', 'connecting')
      .report('c3', 'reconnecting')
      .report('c1', 'connected');
    expect(h.timer('migrationTimeout')).toBe(P.migrationTimeoutMs);
    h.fire('migrationTimeout');
    expect(h.state).toBe('http.idle');
    const failed = h.audits('migrations').at(-1);
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed.failureReason).toContain('2 of 3');
  });

  it('schedules a migration and starts it when its time comes', () => {
    const h = harness().migrate({ scheduledAt: T0 + H });
    expect(h.state).toBe('http.scheduled');
    expect(h.timer('scheduleDelay')).toBe(H);
    h.fire('scheduleDelay', T0 + H);
    expect(h.state).toBe('migrating');
    expect(h.context.migration).toMatchObject({ initiatedBy: 'operator', startedAt: T0 + H });
  });

  it('cancels a scheduled migration', () => {
    const h = harness()
      .migrate({ scheduledAt: T0 + H })
      .send({ type: 'CANCEL_MIGRATION', requestedBy: 'op' });
    expect(h.state).toBe('http.idle');
    expect(h.timers.size).toBe(0);
    expect(h.audits('migrations').at(-1)).toMatchObject({
      status: 'failed',
      failureReason: 'cancelled before its scheduled start',
    });
  });
});

describe('workspace members', () => {
  it("keeps each connection's last reported status and counts them by what they mean", () => {
    const h = harness();
    for (const [c, s] of [
      ['a', 'connecting'],
      ['b', 'connected'],
      ['c', 'degraded'],
      ['d', 'error'],
      ['e', 'reconnecting'],
      ['f', 'rolledBack'],
    ] as const)
      h.report(c, s);
    h.report('a', 'connected');
    expect(h.context.members).toEqual({
      a: 'connected',
      b: 'connected',
      c: 'degraded',
      d: 'error',
      e: 'reconnecting',
      f: 'rolledBack',
    });
    expect(h.context.connections).toEqual({ active: 5, onAcp: 3, pending: 2, onHttp: 1 });
  });

  it('takes the health, its time and the spare id of every report', () => {
    const h = harness().report('c1', 'connected', { at: T0 + MIN, spareId: 's1' });
    expect(h.context.health).toEqual({
      successRate: null,
      sampleSize: 0,
      latencyP95: null,
      windowMinutes: 60,
      activeConnections: 1,
      capacityPercent: null,
      verdict: 'insufficient-data',
      at: T0 + MIN,
    });
    expect(h.context.nextMigrationId).toBe('s1');
  });
});

describe('the rolling window of the workspace', () => {
  it('counts only operations since the migration began, from exactly its start', () => {
    const h = harness().migrate({ at: T0 + MIN });
    h.ops(1, 1, { id: 'c2', status: 'connecting', at: T0 + 2 * MIN, opsAt: T0 + MIN - 1 });
    expect(h.context.window).toEqual([]);
    h.ops(3, 1, { id: 'c2', status: 'connecting', at: T0 + 2 * MIN, opsAt: T0 + MIN });
    expect(h.context.window).toEqual([[minute(T0 + MIN), 3, 1, 20]]);
  });

  it('starts a new window when the migration completes and counts from that time', () => {
    const h = harness().migrate().ops(5, 0, { status: 'connecting', opsAt: T0 });
    expect(h.context.window).toHaveLength(1);
    h.report('c1', 'connected', { at: T0 + 2 * MIN });
    expect(h.state).toBe('acp');
    expect(h.context.window).toEqual([]);
    h.ops(7, 0, { at: T0 + 3 * MIN, opsAt: T0 + 2 * MIN - 1 });
    expect(h.context.window).toEqual([]);
    h.ops(7, 0, { at: T0 + 3 * MIN, opsAt: T0 + 2 * MIN });
    expect(h.context.window).toEqual([[minute(T0 + 2 * MIN), 7, 0, 20]]);
  });

  it("merges the operations of one minute across connections and keeps that minute's worst p95", () => {
    const h = onAcp()
      .ops(10, 1, { opsAt: T0 + 10_000, latencyP95: 30 })
      .ops(5, 0, { id: 'c2', opsAt: T0 + 50_000, latencyP95: 20 })
      .ops(1, 0, { opsAt: T0 + 59_999, latencyP95: null });
    expect(h.context.window).toEqual([[minute(T0), 16, 1, 30]]);
    h.ops(1, 0, { opsAt: T0 + MIN, latencyP95: null }).ops(1, 0, { opsAt: T0 + MIN + 1 });
    expect(h.context.window).toEqual([
      [minute(T0), 16, 1, 30],
      [minute(T0 + MIN), 2, 0, 20],
    ]);
    expect(h.context.health).toMatchObject({ sampleSize: 19, latencyP95: 30 });
  });

  it('keeps the minutes in order when a late heartbeat arrives', () => {
    const h = onAcp()
      .ops(1, 0, { opsAt: T0 + 2 * MIN })
      .ops(2, 0, { opsAt: T0 })
      .ops(3, 0, { opsAt: T0 + MIN });
    expect(h.context.window.map((e) => e[0] - minute(T0))).toEqual([0, 1, 2]);
    expect(h.context.window.map((e) => e[1])).toEqual([2, 3, 1]);
  });

  it('keeps at most windowMinutes minutes and ignores operations older than that', () => {
    const h = onAcp({ ...P, windowMinutes: 3 });
    for (let m = 0; m < 3; m++) h.ops(10 + m, 0, { opsAt: T0 + m * MIN });
    expect(h.context.window).toHaveLength(3);
    h.ops(20, 0, { opsAt: T0 + 3 * MIN });
    expect(h.context.window.map((e) => e[0] - minute(T0))).toEqual([1, 2, 3]);
    expect(h.context.health).toMatchObject({ sampleSize: 11 + 12 + 20, windowMinutes: 3 });
    h.ops(99, 99, { opsAt: T0 + MIN - 1 });
    expect(h.context.window.map((e) => e[1])).toEqual([11, 12, 20]);
  });

  it('forgets failures once their minute left the window', () => {
    const h = onAcp({ ...P, windowMinutes: 2, minSamples: 100 })
      .ops(50, 10, { opsAt: T0 })
      .ops(200, 0, { opsAt: T0 + 2 * MIN });
    expect(h.state).toBe('acp');
    expect(h.context.health).toMatchObject({ successRate: 1, sampleSize: 200, verdict: 'healthy' });
  });

  it('ignores a heartbeat without operations', () => {
    const h = onAcp().ops(0, 0);
    expect(h.context.window).toEqual([]);
  });

  it('judges all connections together: a breach can come from their sum alone', () => {
    const h = onAcp().report('c2', 'connected').ops(500, 0).ops(489, 11, { id: 'c2' });
    expect(h.state).toBe('http.cooldown');
    expect(h.audits('rollbacks')[0].metricsSnapshot).toMatchObject({
      successRate: 0.989,
      sampleSize: 1000,
      activeConnections: 2,
    });
  });
});

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
