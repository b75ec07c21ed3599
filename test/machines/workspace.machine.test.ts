/**
 * The workspace chart: its states, its members and its rolling window (shared set-up and helpers:
 * unused.ts).
 */
import { describe, expect, it } from 'vitest';
import { H, MIN, P, T0, harness, minute, noConnections, onAcp } from './workspace.harness.ts';

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
