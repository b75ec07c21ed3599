/**
 * The workspace chart's rollback records and decisions, flap protection at the edge of its window,
 * and automatic migration (shared set-up and helpers: unused.ts).
 */
import { describe, expect, it } from 'vitest';
import { H, MIN, P, T0, automatic, harness, iso, onAcp, snapshotOf } from './workspace.harness.ts';

describe('workspace chart: rollback records', () => {
  it('writes the RollbackEvent, the rolled-back log entry, the notification and the review of an automatic rollback', () => {
    const h = onAcp().report('c2', 'connected');
    const at = T0 + H;
    h.ops(989, 11, { at, eventId: 'rb1', spareId: 'mrb' });
    const notification = {
      toast: {
        severity: 'error',
        title: 'Switched to HTTP',
        body: 'ACP success rate fell to 98.9% (below 99.0%); this workspace now uses HTTP.',
      },
      transcriptNote:
        'Workspace rolled back from ACP to HTTP automatically: success rate 98.9% over 1000 operations in the last 60 min was below the 99.0% threshold.',
    };
    expect(h.planned()).toEqual([
      {
        stream: 'rollbacks:w1',
        id: 'rb1',
        at,
        record: {
          eventId: 'rb1',
          workspaceId: 'w1',
          installationId: 'i1',
          trigger: 'auto-threshold',
          reasonCode: 'success-rate-below-threshold',
          reason: 'aggregated ACP success rate 0.989 over 1000 operations fell below 0.99',
          requestedBy: null,
          initiatedAt: iso(at),
          completedAt: iso(at),
          previousProtocol: 'acp',
          newProtocol: 'http',
          followUpActions: ['notify-users', 'schedule-review'],
          migrationId: 'mrb',
          metricsSnapshot: snapshotOf(0.989, 1000, 2),
          thresholds: { minSuccessRate: 0.99, minSamples: 100, windowMinutes: 60 },
          connectionIds: ['c1', 'c2'],
          cooldownUntil: iso(at + 30 * MIN),
          notification,
        },
      },
      {
        stream: 'migrations:w1',
        id: 'mrb-rolled-back',
        at,
        record: {
          migrationId: 'mrb',
          workspaceId: 'w1',
          installationId: 'i1',
          initiatedBy: 'system',
          requestedBy: null,
          fromProtocol: 'acp',
          toProtocol: 'http',
          status: 'rolled-back',
          startedAt: iso(at),
          completedAt: iso(at),
          scheduledAt: null,
          rollbackReason: 'success-rate-below-threshold',
          failureReason: null,
          metricsSnapshot: snapshotOf(0.989, 1000, 2),
          connections: { active: 2, onAcp: 2, pending: 0, onHttp: 0 },
          recordedAt: iso(at),
          rollbackEventId: 'rb1',
        },
      },
    ]);
    expect(h.planned('notifyUsers')).toEqual([
      {
        workspaceId: 'w1',
        installationId: 'i1',
        eventId: 'rb1',
        kind: 'rollback',
        ...notification,
      },
    ]);
    expect(h.planned('scheduleReview')).toEqual([
      { workspaceId: 'w1', installationId: 'i1', eventId: 'rb1' },
    ]);
    expect(h.emitted()).toEqual(
      ['c1', 'c2'].map((id) => ({
        type: 'ROLLBACK',
        to: { kind: 'connection', id },
        reason: 'workspace-rollback',
      })),
    );
    expect(h.context).toMatchObject({
      migration: null,
      pending: null,
      transportSince: at,
      cooldownMs: 30 * MIN,
      cooldownUntil: at + 30 * MIN,
      autoRollbacks: [at],
      autoMigrationBlocked: false,
      lastRollback: {
        eventId: 'rb1',
        at,
        trigger: 'autoThreshold',
        reasonCode: 'success-rate-below-threshold',
        // What the decision saw, kept as the window is emptied: the metrics envelopes of the
        // rollback come from it.
        health: { ...snapshotOf(0.989, 1000, 2), verdict: 'breach', coveredMinutes: 1 },
      },
      window: [],
      health: null,
      // The connections report their own rollback (the engine routes the ROLLBACKs).
      members: { c1: 'connected', c2: 'connected' },
    });
    expect(h.timer('cooldownDelay')).toBe(30 * MIN);
    h.report('c1', 'rolledBack').report('c2', 'rolledBack');
    expect(h.context.connections).toEqual({ active: 0, onAcp: 0, pending: 0, onHttp: 2 });
  });

  it('rolls back a migration in progress by user request, logging it against that migration', () => {
    const h = harness().migrate({ migrationId: 'm1' });
    h.rollbackRequested({
      eventId: 'rb2',
      migrationId: 'unused',
      trigger: 'manualUser',
      reason: 'too slow',
      requestedBy: 'u1',
      policy: { ...P, cooldownMs: 5 * MIN },
      at: T0 + MIN,
    });
    const [rollback, log] = h.planned();
    expect(rollback.record).toMatchObject({
      trigger: 'manual-user',
      reasonCode: 'manual',
      reason: 'too slow',
      requestedBy: 'u1',
      followUpActions: ['notify-users'],
      migrationId: 'm1',
      connectionIds: [],
      cooldownUntil: iso(T0 + 6 * MIN),
      notification: {
        toast: {
          severity: 'error',
          title: 'Switched to HTTP',
          body: 'This workspace was switched back to HTTP by request; your sessions continue over HTTP.',
        },
        transcriptNote: 'Workspace rolled back from ACP to HTTP (manual-user): too slow',
      },
    });
    expect(log).toMatchObject({ id: 'm1-rolled-back' });
    expect(log.record).toMatchObject({
      migrationId: 'm1',
      initiatedBy: 'operator',
      fromProtocol: 'http',
      toProtocol: 'acp',
      rollbackReason: 'too slow',
      rollbackEventId: 'rb2',
    });
    expect(h.emitted()).toEqual([]);
    expect(h.context).toMatchObject({
      autoRollbacks: [],
      cooldownMs: 5 * MIN,
      policy: { ...P, cooldownMs: 5 * MIN },
      lastRollback: {
        eventId: 'rb2',
        trigger: 'manualUser',
        reasonCode: 'manual',
        // A requested rollback keeps its window's verdict: nothing reported yet.
        health: { ...snapshotOf(null, 0, 0, null), verdict: 'insufficient-data' },
      },
    });
    expect(h.timer('cooldownDelay')).toBe(5 * MIN);
  });

  it('logs a manual rollback from ACP as initiated by who asked, with the evidence of its window', () => {
    for (const [trigger, initiatedBy] of [
      ['manualOperator', 'operator'],
      ['manualUser', 'user'],
    ]) {
      const h = onAcp()
        .ops(999, 1)
        .rollbackRequested({ migrationId: 'mx', trigger, reason: 'r', requestedBy: 'someone' });
      const [rollback, log] = h.planned();
      expect(rollback.record).toMatchObject({
        metricsSnapshot: snapshotOf(0.999, 1000),
        connectionIds: ['c1'],
      });
      expect(log.record).toMatchObject({
        migrationId: 'mx',
        initiatedBy,
        requestedBy: 'someone',
        fromProtocol: 'acp',
        toProtocol: 'http',
        metricsSnapshot: snapshotOf(0.999, 1000),
      });
      expect(h.planned('scheduleReview')).toHaveLength(1);
    }
  });

  it('leaves the cooldown for idle once the cooldown delay fired', () => {
    const h = onAcp().ops(0, 1000);
    h.fire('cooldownDelay', T0 + 30 * MIN);
    expect(h.state).toBe('http.idle');
    expect(h.context.cooldownUntil).toBeNull();
  });
});

describe('workspace chart: decisions', () => {
  it('records a hold with the numbers that caused it', () => {
    const h = onAcp().ops(25, 25, { eventId: 'd1', spareId: 'n1', at: T0 + MIN });
    expect(h.planned()).toEqual([
      {
        stream: 'decisions:w1',
        id: 'd1',
        at: T0 + MIN,
        record: {
          decisionId: 'd1',
          workspaceId: 'w1',
          installationId: 'i1',
          decision: 'rollback-held',
          reason:
            'success rate 0.5 is below 0.99, but only 50 of the 100 operations needed were seen: holding, not rolling back',
          metricsSnapshot: snapshotOf(0.5, 50),
          at: iso(T0 + MIN),
        },
      },
    ]);
    expect(h.context.health).toEqual({ ...snapshotOf(0.5, 50), verdict: 'held', at: T0 + MIN });
    expect(h.context.nextMigrationId).toBe('n1');
  });

  it('records no decision for a healthy report or one with too few samples to judge', () => {
    const h = onAcp().ops(10, 0);
    expect(h.planned()).toEqual([]);
    h.ops(1000, 0);
    expect(h.planned()).toEqual([]);
    expect(h.audits('decisions')).toEqual([]);
  });

  it('records a new hold after the verdict changed in between', () => {
    const h = onAcp({ ...P, windowMinutes: 1 })
      .ops(25, 25, { at: T0 })
      .ops(1000, 0, { at: T0 + MIN });
    expect(h.context.health?.verdict).toBe('healthy');
    h.ops(25, 25, { at: T0 + 2 * MIN });
    expect(h.audits('decisions')).toHaveLength(2);
  });

  it('records who re-enabled automatic migration and forgets the counted rollbacks', () => {
    const h = onAcp(automatic);
    for (let i = 0; i < 3; i++) h.cycle(T0 + i * H);
    expect(h.context.autoMigrationBlocked).toBe(true);
    h.send({ type: 'REENABLE_AUTO_MIGRATION', eventId: 'd2', requestedBy: 'op', at: T0 + 5 * H });
    expect(h.planned()).toEqual([
      {
        stream: 'decisions:w1',
        id: 'd2',
        at: T0 + 5 * H,
        record: {
          decisionId: 'd2',
          workspaceId: 'w1',
          installationId: 'i1',
          decision: 'auto-migration-reenabled',
          requestedBy: 'op',
          at: iso(T0 + 5 * H),
        },
      },
    ]);
    expect(h.context).toMatchObject({ autoMigrationBlocked: false, autoRollbacks: [] });
  });
});

describe('workspace chart: flap protection at the edge of its window', () => {
  const rollbacksAt = (times: number[]) => {
    const h = onAcp(automatic);
    for (const t of times) h.cycle(t);
    return h;
  };

  it('forgets a rollback exactly 24 h old', () => {
    const h = rollbacksAt([T0, T0 + H]).cycle(T0 + 24 * H, false);
    expect(h.context.autoRollbacks).toEqual([T0 + H, T0 + 24 * H]);
    expect(h.context.autoMigrationBlocked).toBe(false);
  });

  it('still counts a rollback one millisecond younger than 24 h and blocks at the third', () => {
    const h = rollbacksAt([T0, T0 + H]).cycle(T0 + 24 * H - 1, false);
    expect(h.context.autoRollbacks).toEqual([T0, T0 + H, T0 + 24 * H - 1]);
    expect(h.context.autoMigrationBlocked).toBe(true);
  });

  it('blocks only at the configured number of rollbacks', () => {
    const h = onAcp({ ...automatic, flapLimit: 2 }).cycle(T0);
    expect(h.context.autoMigrationBlocked).toBe(false);
    h.cycle(T0 + H, false);
    expect(h.context.autoMigrationBlocked).toBe(true);
  });

  it('does not count manual rollbacks toward the flap limit', () => {
    const h = onAcp({ ...automatic, flapLimit: 1 }).rollbackRequested({ policy: automatic });
    expect(h.context).toMatchObject({ autoRollbacks: [], autoMigrationBlocked: false });
  });

  it('does not block on a manual rollback, even when a lower flap limit arrives with it', () => {
    const h = rollbacksAt([T0, T0 + H]);
    h.rollbackRequested({ policy: { ...automatic, flapLimit: 2 }, at: T0 + 2 * H });
    expect(h.context).toMatchObject({ autoRollbacks: [T0, T0 + H], autoMigrationBlocked: false });
  });

  it('stays blocked through later rollbacks until an operator re-enables it', () => {
    const h = onAcp({ ...automatic, flapLimit: 1 }).cycle(T0);
    expect(h.context.autoMigrationBlocked).toBe(true);
    h.rollbackRequested({ at: T0 + 30 * H });
    expect(h.context).toMatchObject({ autoRollbacks: [], autoMigrationBlocked: true });
  });
});

describe('workspace chart: automatic migration', () => {
  it('warms up only when every condition of the policy holds', () => {
    const probe = { id: 'probe' };
    expect(harness(automatic).ops(1000, 0, probe).state).toBe('http.warming');
    for (const policy of [
      { ...automatic, rolloutMode: 'optIn' as const },
      { ...automatic, rolloutMode: 'scheduled' as const },
      { ...automatic, autoRollout: false },
      { ...automatic, migrationEnabled: false },
    ])
      expect(harness(policy).ops(1000, 0, probe).state, JSON.stringify(policy)).toBe('http.idle');
    expect(harness(automatic).ops(99, 0, probe).state).toBe('http.idle');
  });

  it('warms up for the configured time and starts the migration with the spare id of the last report', () => {
    const h = harness({ ...automatic, autoMigrateAfterMs: 7 * MIN })
      .report('c2', 'connecting')
      .ops(1000, 0, { id: 'probe', spareId: 'auto-1' });
    expect(h.timer('autoMigrateDelay')).toBe(7 * MIN);
    h.fire('autoMigrateDelay', T0 + 7 * MIN);
    expect(h.context.migration).toEqual({
      migrationId: 'auto-1',
      fromProtocol: 'http',
      toProtocol: 'acp',
      initiatedBy: 'system',
      requestedBy: null,
      startedAt: T0 + 7 * MIN,
      scheduledAt: null,
    });
    expect(h.context.nextMigrationId).toBeNull();
    expect(h.planned()[0]).toMatchObject({ id: 'auto-1-in-progress', at: T0 + 7 * MIN });
  });

  it('names an automatic migration after its start time when no report came since the last one', () => {
    const h = harness(automatic).report('c2', 'connecting').ops(1000, 0, { id: 'probe' });
    h.fire('autoMigrateDelay', T0 + 15 * MIN).fire('migrationTimeout', T0 + 25 * MIN);
    // The probe is still healthy: the failed migration warms up again at once.
    expect(h.state).toBe('http.warming');
    h.fire('autoMigrateDelay', T0 + 40 * MIN);
    expect(h.context.migration?.migrationId).toBe(`auto-${T0 + 40 * MIN}`);
  });

  it('starts a scheduled migration as the one that was requested, at its start time', () => {
    const h = harness().migrate({ migrationId: 'm9', scheduledAt: T0 + H });
    h.fire('scheduleDelay', T0 + H);
    expect(h.context.migration).toMatchObject({
      migrationId: 'm9',
      startedAt: T0 + H,
      scheduledAt: T0 + H,
    });
    expect(h.context.pending).toBeNull();
  });
});
