/**
 * The workspace chart's migration log records (shared set-up and helpers: unused.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  H,
  MIN,
  P,
  T0,
  harness,
  iso,
  noConnections,
  onAcp,
  snapshotOf,
} from './workspace.harness.ts';

describe('workspace chart: migration log', () => {
  it('logs a requested migration to ACP as in progress, without metrics before any report', () => {
    const h = harness().migrate({ migrationId: 'm1', at: T0 + MIN });
    expect(h.planned()).toEqual([
      {
        stream: 'migrations:w1',
        id: 'm1-in-progress',
        at: T0 + MIN,
        record: {
          migrationId: 'm1',
          workspaceId: 'w1',
          installationId: 'i1',
          initiatedBy: 'operator',
          requestedBy: 'op',
          fromProtocol: 'http',
          toProtocol: 'acp',
          status: 'in-progress',
          startedAt: iso(T0 + MIN),
          completedAt: null,
          scheduledAt: null,
          rollbackReason: null,
          failureReason: null,
          metricsSnapshot: null,
          connections: noConnections,
          recordedAt: iso(T0 + MIN),
        },
      },
    ]);
    expect(h.context.migration).toEqual({
      migrationId: 'm1',
      fromProtocol: 'http',
      toProtocol: 'acp',
      initiatedBy: 'operator',
      requestedBy: 'op',
      startedAt: T0 + MIN,
      scheduledAt: null,
    });
    expect(h.context.window).toEqual([]);
  });

  it('snapshots the last health it computed in the migration log', () => {
    const h = harness().ops(1000, 0, { id: 'p1', status: 'connecting' }).migrate();
    expect(h.planned()[0].record.metricsSnapshot).toEqual(snapshotOf(1, 1000));
  });

  it('logs success with the counts that completed it and moves the workspace to ACP at that time', () => {
    const h = harness()
      .migrate({ migrationId: 'm1' })
      .report('c1', 'connecting')
      .report('c3', 'rolledBack')
      .report('c2', 'connected');
    expect(h.state).toBe('migrating');
    h.report('c1', 'connected', { at: T0 + MIN });
    expect(h.planned()).toEqual([
      {
        stream: 'migrations:w1',
        id: 'm1-succeeded',
        at: T0 + MIN,
        record: {
          migrationId: 'm1',
          workspaceId: 'w1',
          installationId: 'i1',
          initiatedBy: 'operator',
          requestedBy: 'op',
          fromProtocol: 'http',
          toProtocol: 'acp',
          status: 'succeeded',
          startedAt: iso(T0),
          completedAt: iso(T0 + MIN),
          scheduledAt: null,
          rollbackReason: null,
          failureReason: null,
          metricsSnapshot: snapshotOf(null, 0, 2, null),
          connections: { active: 2, onAcp: 2, pending: 0, onHttp: 1 },
          recordedAt: iso(T0 + MIN),
        },
      },
    ]);
    expect(h.context).toMatchObject({
      migration: null,
      transportSince: T0 + MIN,
      connections: { active: 2, onAcp: 2, pending: 0, onHttp: 1 },
    });
  });

  it('logs a timed-out migration as failed with the counts that were missing', () => {
    const h = harness()
      .migrate({ migrationId: 'm1' })
      .report('c2', 'connecting')
      .report('c3', 'error')
      .report('c1', 'degraded');
    expect(h.timer('migrationTimeout')).toBe(10 * MIN);
    h.fire('migrationTimeout', T0 + 10 * MIN);
    expect(h.planned()).toEqual([
      expect.objectContaining({ stream: 'migrations:w1', id: 'm1-failed', at: T0 + 10 * MIN }),
    ]);
    expect(h.planned()[0].record).toMatchObject({
      status: 'failed',
      completedAt: iso(T0 + 10 * MIN),
      failureReason: 'timed out: 2 of 3 active connections were not on ACP (1 were)',
      connections: { active: 3, onAcp: 1, pending: 2, onHttp: 0 },
    });
    expect(h.context.migration).toBeNull();
    expect(h.state).toBe('http.idle');
  });

  it('uses the migration timeout of the policy', () => {
    const h = harness({ ...P, migrationTimeoutMs: 123 }).migrate();
    expect(h.timer('migrationTimeout')).toBe(123);
  });

  it('keeps a scheduled migration pending and logs its cancellation as failed', () => {
    const h = harness().migrate({ migrationId: 'm2', scheduledAt: T0 + H, initiatedBy: 'user' });
    expect(h.context.pending).toEqual({
      migrationId: 'm2',
      fromProtocol: 'http',
      toProtocol: 'acp',
      initiatedBy: 'user',
      requestedBy: 'op',
      startedAt: T0,
      scheduledAt: T0 + H,
    });
    h.send({ type: 'CANCEL_MIGRATION', requestedBy: 'op', at: T0 + MIN });
    expect(h.planned()).toEqual([
      expect.objectContaining({ stream: 'migrations:w1', id: 'm2-cancelled', at: T0 + MIN }),
    ]);
    expect(h.planned()[0].record).toMatchObject({
      migrationId: 'm2',
      status: 'failed',
      startedAt: iso(T0),
      scheduledAt: iso(T0 + H),
      completedAt: iso(T0 + MIN),
    });
    expect(h.context.pending).toBeNull();
  });

  it('starts a migration scheduled for exactly now at once', () => {
    const h = harness().migrate({ scheduledAt: T0 });
    expect(h.state).toBe('migrating');
    expect(h.context.migration).toMatchObject({ scheduledAt: T0 });
  });

  it('refuses a scheduled migration when migration is disabled or a user asks under scheduled rollout', () => {
    expect(
      harness().migrate({ scheduledAt: T0 + H, policy: { ...P, migrationEnabled: false } }).state,
    ).toBe('http.idle');
    expect(
      harness().migrate({
        scheduledAt: T0 + H,
        initiatedBy: 'user',
        policy: { ...P, rolloutMode: 'scheduled' },
      }).state,
    ).toBe('http.idle');
  });

  it('lets an operator migrate under scheduled rollout, and a user under opt-in', () => {
    const scheduled = { ...P, rolloutMode: 'scheduled' as const };
    expect(harness().migrate({ policy: scheduled }).state).toBe('migrating');
    expect(harness().migrate({ policy: scheduled, scheduledAt: T0 + H }).state).toBe(
      'http.scheduled',
    );
    expect(harness().migrate({ initiatedBy: 'user' }).state).toBe('migrating');
  });

  it('logs a migration back to HTTP with the evidence of its own window', () => {
    const h = onAcp()
      .ops(995, 5, { at: T0 + H - MIN })
      .migrate({
        migrationId: 'm3',
        toProtocol: 'http',
        initiatedBy: 'user',
        requestedBy: 'u1',
        at: T0 + H,
      });
    expect(h.planned()).toEqual([
      {
        stream: 'migrations:w1',
        id: 'm3-succeeded',
        at: T0 + H,
        record: {
          migrationId: 'm3',
          workspaceId: 'w1',
          installationId: 'i1',
          initiatedBy: 'user',
          requestedBy: 'u1',
          fromProtocol: 'acp',
          toProtocol: 'http',
          status: 'succeeded',
          startedAt: iso(T0 + H),
          completedAt: iso(T0 + H),
          scheduledAt: null,
          rollbackReason: null,
          failureReason: null,
          metricsSnapshot: snapshotOf(0.995, 1000),
          connections: { active: 1, onAcp: 1, pending: 0, onHttp: 0 },
          recordedAt: iso(T0 + H),
        },
      },
    ]);
    expect(h.emitted()).toEqual([
      { type: 'ROLLBACK', to: { kind: 'connection', id: 'c1' }, reason: 'migrated-to-http' },
    ]);
    expect(h.context).toMatchObject({ transportSince: T0 + H, migration: null, window: [] });
  });

  it('logs a migration back to HTTP with the evidence of the window under the current policy', () => {
    const h = onAcp()
      .ops(995, 5, { opsAt: T0 })
      .ops(10, 0, { opsAt: T0 + 40 * MIN })
      .policyChange({ windowMinutes: 30 })
      .migrate({ toProtocol: 'http' });
    expect(h.planned()[0].record.metricsSnapshot).toEqual({
      ...snapshotOf(1, 10),
      windowMinutes: 30,
    });
  });

  it('ignores a request to migrate to HTTP while on HTTP, now or scheduled', () => {
    for (const scheduledAt of [null, T0 + H]) {
      const h = harness();
      const before = h.context;
      h.migrate({ toProtocol: 'http', scheduledAt });
      expect(h.state).toBe('http.idle');
      expect(h.context).toBe(before);
      expect(h.actions).toEqual([]);
    }
  });

  it('ignores a request to migrate to ACP while already on ACP', () => {
    const h = onAcp();
    const before = h.context;
    h.migrate();
    expect(h.state).toBe('acp');
    expect(h.context).toBe(before);
  });
});
