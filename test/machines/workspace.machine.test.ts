import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WORKSPACE_POLICY as P,
  type WorkspacePolicy,
} from '../../machines/shared/workspace-policy.ts';
import { type WorkspaceContext, createWorkspaceMachine } from '../../machines/workspace.machine.ts';
import { type PlannedAction, Stepper } from '../../src/engine/step.ts';
import { workspaceState } from '../../src/workspaces/workspaces.ts';

const T0 = Date.parse('2026-11-25T12:00:00.000Z');
const MIN = 60_000;
const evidence = (successRate: number | null, sampleSize: number) => ({
  successRate,
  sampleSize,
  latencyP95: 20,
  windowMinutes: 60,
  activeConnections: 2,
  capacityPercent: 0.002,
});
let ids = 0;
const id = () => `id-${++ids}`;

function harness(policy: WorkspacePolicy = P) {
  const stepper = new Stepper(createWorkspaceMachine());
  const first = stepper.initial({ workspaceId: 'w1', installationId: 'i1', policy, at: T0 });
  let snapshot = first.snapshot;
  let actions: PlannedAction[] = first.actions;
  const timers = new Map<string, number>();
  const all: PlannedAction[] = [];
  const track = (acts: PlannedAction[]) => {
    for (const a of acts) {
      const p = a.params as any;
      if (a.type === 'xstate.raise' && typeof p.delay === 'number') timers.set(p.id, p.delay);
      if (a.type === 'xstate.cancel') timers.delete(p.sendId);
      all.push(a);
    }
  };
  track(actions);
  const h: any = {
    policy,
    get state() {
      return workspaceState(snapshot.value);
    },
    get context() {
      return snapshot.context as WorkspaceContext;
    },
    get actions() {
      return actions;
    },
    timers,
    audits: (stream: string) =>
      all
        .filter((a) => a.type === 'appendAudit' && (a.params as any).stream.startsWith(stream))
        .map((a) => (a.params as any).record),
    send(event: any) {
      const r = stepper.step(snapshot, { at: T0, eventId: id(), ...event });
      snapshot = r.snapshot;
      actions = r.actions;
      track(r.actions);
      return h;
    },
    fire(prefix: string, at = T0) {
      const key = [...timers.keys()].find((k) => k.startsWith(`xstate.after.${prefix}`));
      expect(key, `a ${prefix} timer is pending`).toBeDefined();
      timers.delete(key!);
      return h.send({ type: key, at });
    },
    migrate(extra: any = {}) {
      return h.send({
        type: 'REQUEST_MIGRATION',
        migrationId: id(),
        toProtocol: 'acp',
        initiatedBy: 'operator',
        requestedBy: 'op',
        scheduledAt: null,
        policy: h.policy,
        evidence: evidence(null, 0),
        connectionIds: [],
        ...extra,
      });
    },
    connections(active: number, onAcp: number) {
      return h.send({
        type: 'CONNECTIONS',
        counts: { active, onAcp, pending: active - onAcp, onHttp: 0 },
      });
    },
    health(rate: number | null, samples: number, policy = h.policy, at = T0) {
      return h.send({
        type: 'HEALTH',
        evidence: evidence(rate, samples),
        policy,
        nextMigrationId: id(),
        at,
      });
    },
    autoRollback(rate: number, samples: number, at = T0) {
      return h.send({
        type: 'AUTO_ROLLBACK',
        migrationId: id(),
        evidence: evidence(rate, samples),
        policy: h.policy,
        connectionIds: ['c1'],
        at,
      });
    },
  };
  return h;
}

const onAcp = (policy?: WorkspacePolicy) => harness(policy).migrate().connections(1, 1);

describe('workspace chart', () => {
  it('starts on the installation default protocol', () => {
    expect(harness().state).toBe('http.idle');
    expect(harness({ ...P, defaultProtocol: 'acp' }).state).toBe('acp');
  });

  it('migrates to ACP on request and logs the migration as in progress', () => {
    const h = harness().migrate();
    expect(h.state).toBe('migrating');
    expect(h.audits('migrations')).toMatchObject([
      { status: 'in-progress', fromProtocol: 'http', toProtocol: 'acp', initiatedBy: 'operator' },
    ]);
  });

  it('refuses a migration when migration is disabled for the installation', () => {
    const h = harness();
    h.migrate({ policy: { ...P, migrationEnabled: false } });
    expect(h.state).toBe('http.idle');
  });

  it('refuses user opt-in when the installation rolls out on a schedule', () => {
    const h = harness();
    h.migrate({ initiatedBy: 'user', policy: { ...P, rolloutMode: 'scheduled' } });
    expect(h.state).toBe('http.idle');
  });

  it('completes the migration only when every active connection is on ACP', () => {
    const h = harness().migrate().connections(2, 1);
    expect(h.state).toBe('migrating');
    h.connections(2, 2);
    expect(h.state).toBe('acp');
    expect(h.audits('migrations').map((r: any) => r.status)).toEqual(['in-progress', 'succeeded']);
  });

  it('fails a migration whose connections do not make it in time, with the reason', () => {
    const h = harness().migrate().connections(3, 1);
    expect(h.timers.get([...h.timers.keys()].find((k) => k.includes('migrationTimeout')))).toBe(
      P.migrationTimeoutMs,
    );
    h.fire('migrationTimeout');
    expect(h.state).toBe('http.idle');
    const failed = h.audits('migrations').at(-1);
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed.failureReason).toContain('2 of 3');
  });

  it('schedules a migration and starts it when its time comes', () => {
    const h = harness().migrate({ scheduledAt: T0 + 60 * MIN });
    expect(h.state).toBe('http.scheduled');
    expect([...h.timers.entries()].find(([k]) => k.includes('scheduleDelay'))![1]).toBe(60 * MIN);
    h.fire('scheduleDelay', T0 + 60 * MIN);
    expect(h.state).toBe('migrating');
    expect(h.context.migration).toMatchObject({
      initiatedBy: 'operator',
      startedAt: T0 + 60 * MIN,
    });
  });

  it('cancels a scheduled migration', () => {
    const h = harness()
      .migrate({ scheduledAt: T0 + 60 * MIN })
      .send({ type: 'CANCEL_MIGRATION', requestedBy: 'op' });
    expect(h.state).toBe('http.idle');
    expect(h.timers.size).toBe(0);
    expect(h.audits('migrations').at(-1)).toMatchObject({
      status: 'failed',
      failureReason: 'cancelled before its scheduled start',
    });
  });

  describe('automatic rollback', () => {
    it('rolls back on a breach with the records, notification and review', () => {
      const h = onAcp().autoRollback(0.989, 1000);
      expect(h.state).toBe('http.cooldown');
      const [rollback] = h.audits('rollbacks');
      expect(rollback).toMatchObject({
        trigger: 'auto-threshold',
        reasonCode: 'success-rate-below-threshold',
        previousProtocol: 'acp',
        newProtocol: 'http',
        followUpActions: ['notify-users', 'schedule-review'],
        metricsSnapshot: {
          successRate: 0.989,
          sampleSize: 1000,
          latencyP95: 20,
          capacityPercent: 0.002,
        },
        connectionIds: ['c1'],
      });
      expect(rollback.notification.toast.severity).toBe('error');
      expect(rollback.notification.toast.body.length).toBeLessThanOrEqual(140);
      expect(h.audits('migrations').at(-1)).toMatchObject({
        status: 'rolled-back',
        fromProtocol: 'acp',
        toProtocol: 'http',
        rollbackReason: 'success-rate-below-threshold',
      });
      expect(h.actions.map((a: PlannedAction) => a.type)).toEqual(
        expect.arrayContaining(['notifyUsers', 'scheduleReview']),
      );
    });

    it('refuses an automatic rollback exactly at the threshold or without enough samples', () => {
      expect(onAcp().autoRollback(0.99, 1000).state).toBe('acp');
      expect(onAcp().autoRollback(0.5, 99).state).toBe('acp');
    });

    it('rolls back a migration in progress', () => {
      const h = harness().migrate().autoRollback(0.9, 500);
      expect(h.state).toBe('http.cooldown');
      expect(h.audits('migrations').at(-1)).toMatchObject({
        status: 'rolled-back',
        fromProtocol: 'http',
        toProtocol: 'acp',
      });
    });

    it('records a hold, once, when the rate is low but samples are too few', () => {
      const h = onAcp().health(0.5, 50).health(0.4, 60);
      expect(h.state).toBe('acp');
      expect(h.audits('decisions')).toHaveLength(1);
      expect(h.audits('decisions')[0]).toMatchObject({ decision: 'rollback-held' });
      expect(h.audits('decisions')[0].reason).toContain('50 of the 100');
    });
  });

  describe('manual rollback and migration', () => {
    it('rolls back by operator request with the reason', () => {
      const h = onAcp().send({
        type: 'ROLLBACK_REQUESTED',
        migrationId: id(),
        trigger: 'manualOperator',
        reason: 'incident 42',
        requestedBy: 'alice',
        evidence: evidence(1, 500),
        policy: P,
        connectionIds: [],
      });
      expect(h.state).toBe('http.cooldown');
      expect(h.audits('rollbacks')[0]).toMatchObject({
        trigger: 'manual-operator',
        reason: 'incident 42',
        requestedBy: 'alice',
      });
    });

    it('migrates back to HTTP on request', () => {
      const h = onAcp().migrate({ toProtocol: 'http' });
      expect(h.state).toBe('http.idle');
      expect(h.audits('migrations').at(-1)).toMatchObject({
        status: 'succeeded',
        fromProtocol: 'acp',
        toProtocol: 'http',
      });
    });

    it('allows a manual migration to ACP during the cooldown', () => {
      const h = onAcp().autoRollback(0.5, 1000).migrate();
      expect(h.state).toBe('migrating');
    });
  });

  describe('anti-flap', () => {
    const automatic: WorkspacePolicy = { ...P, rolloutMode: 'automatic', autoRollout: true };

    it('holds automatic migration until the cooldown has passed', () => {
      const h = onAcp(automatic).autoRollback(0.5, 1000);
      h.health(1, 1000);
      expect(h.state).toBe('http.cooldown');
      h.fire('cooldownDelay', T0 + 30 * MIN);
      expect(h.state).toBe('http.warming');
    });

    it('migrates by itself once health has stayed above threshold for the configured time', () => {
      const h = harness(automatic).health(1, 1000);
      expect(h.state).toBe('http.warming');
      h.fire('autoMigrateDelay', T0 + 15 * MIN);
      expect(h.state).toBe('migrating');
      expect(h.context.migration).toMatchObject({ initiatedBy: 'system' });
    });

    it('stops warming when health drops', () => {
      const h = harness(automatic).health(1, 1000).health(0.5, 1000);
      expect(h.state).toBe('http.idle');
      expect(h.timers.size).toBe(0);
    });

    it('blocks automatic migration after the flap limit until an operator re-enables it', () => {
      const h = onAcp(automatic);
      for (let i = 0; i < 3; i++) {
        h.autoRollback(0.5, 1000, T0 + i * 60 * MIN)
          .migrate({ at: T0 + i * 60 * MIN + 1 })
          .connections(1, 1);
      }
      expect(h.state).toBe('acp');
      h.autoRollback(0.5, 1000, T0 + 3 * 60 * MIN);
      expect(h.context.autoMigrationBlocked).toBe(true);
      h.fire('cooldownDelay', T0 + 4 * 60 * MIN).health(1, 1000);
      expect(h.state).toBe('http.idle');
      h.send({ type: 'REENABLE_AUTO_MIGRATION', requestedBy: 'op' });
      expect(h.context.autoMigrationBlocked).toBe(false);
      expect(h.state).toBe('http.warming');
      expect(h.audits('decisions').at(-1)).toMatchObject({ decision: 'auto-migration-reenabled' });
    });

    it('forgets automatic rollbacks older than the flap window', () => {
      const h = onAcp(automatic);
      h.autoRollback(0.5, 1000, T0).migrate().connections(1, 1);
      h.autoRollback(0.5, 1000, T0 + 25 * 60 * MIN)
        .migrate()
        .connections(1, 1);
      h.autoRollback(0.5, 1000, T0 + 26 * 60 * MIN);
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
});

describe('workspace chart records and edges', () => {
  const H = 60 * MIN;
  const iso = (ms: number) => new Date(ms).toISOString();
  const planned = (h: any, type = 'appendAudit') =>
    h.actions.filter((a: PlannedAction) => a.type === type).map((a: PlannedAction) => a.params);
  const automatic: WorkspacePolicy = { ...P, rolloutMode: 'automatic', autoRollout: true };
  const snapshotOf = (successRate: number | null, sampleSize: number) => ({
    ...evidence(successRate, sampleSize),
  });
  const noConnections = { active: 0, onAcp: 0, pending: 0, onHttp: 0 };
  const timer = (h: any, name: string) =>
    [...h.timers.entries()].find(([k]: [string]) => k.includes(name))?.[1];

  describe('migration log', () => {
    it('logs a requested migration to ACP as in progress, without metrics before any health report', () => {
      const h = harness().migrate({ migrationId: 'm1', at: T0 + MIN });
      expect(planned(h)).toEqual([
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
    });

    it('snapshots the last health report in the migration log', () => {
      const h = harness().health(1, 1000).migrate();
      expect(planned(h)[0].record.metricsSnapshot).toEqual(snapshotOf(1, 1000));
    });

    it('logs success with the counts that completed it and moves the workspace to ACP at that time', () => {
      const h = harness()
        .migrate({ migrationId: 'm1' })
        .send({
          type: 'CONNECTIONS',
          at: T0 + MIN,
          counts: { active: 2, onAcp: 2, pending: 0, onHttp: 1 },
        });
      expect(planned(h)).toEqual([
        expect.objectContaining({ stream: 'migrations:w1', id: 'm1-succeeded', at: T0 + MIN }),
      ]);
      expect(planned(h)[0].record).toMatchObject({
        status: 'succeeded',
        startedAt: iso(T0),
        completedAt: iso(T0 + MIN),
        connections: { active: 2, onAcp: 2, pending: 0, onHttp: 1 },
        recordedAt: iso(T0 + MIN),
      });
      expect(h.context).toMatchObject({
        migration: null,
        transportSince: T0 + MIN,
        connections: { active: 2, onAcp: 2, pending: 0, onHttp: 1 },
      });
    });

    it('does not complete a migration while the workspace has no active connection', () => {
      const h = harness().migrate().connections(0, 0);
      expect(h.state).toBe('migrating');
      expect(h.context.connections).toEqual(noConnections);
    });

    it('logs a timed-out migration as failed with the counts that were missing', () => {
      const h = harness().migrate({ migrationId: 'm1' }).connections(3, 1);
      expect(timer(h, 'migrationTimeout')).toBe(10 * MIN);
      h.fire('migrationTimeout', T0 + 10 * MIN);
      expect(planned(h)).toEqual([
        expect.objectContaining({ stream: 'migrations:w1', id: 'm1-failed', at: T0 + 10 * MIN }),
      ]);
      expect(planned(h)[0].record).toMatchObject({
        status: 'failed',
        completedAt: iso(T0 + 10 * MIN),
        failureReason: 'timed out: 2 of 3 active connections were not on ACP (1 were)',
      });
      expect(h.context.migration).toBeNull();
    });

    it('uses the migration timeout of the policy', () => {
      const h = harness({ ...P, migrationTimeoutMs: 123 }).migrate();
      expect(timer(h, 'migrationTimeout')).toBe(123);
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
      expect(planned(h)).toEqual([
        expect.objectContaining({ stream: 'migrations:w1', id: 'm2-cancelled', at: T0 + MIN }),
      ]);
      expect(planned(h)[0].record).toMatchObject({
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

    it('logs a migration back to HTTP with the evidence it was decided on', () => {
      const h = onAcp().migrate({
        migrationId: 'm3',
        toProtocol: 'http',
        initiatedBy: 'user',
        requestedBy: 'u1',
        evidence: evidence(0.97, 300),
        at: T0 + H,
      });
      expect(planned(h)).toEqual([
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
            metricsSnapshot: snapshotOf(0.97, 300),
            connections: { active: 1, onAcp: 1, pending: 0, onHttp: 0 },
            recordedAt: iso(T0 + H),
          },
        },
      ]);
      expect(h.context).toMatchObject({ transportSince: T0 + H, migration: null });
    });

    it('ignores a request to migrate to HTTP while on HTTP, now or scheduled', () => {
      for (const scheduledAt of [null, T0 + H]) {
        const h = harness();
        const before = h.context;
        h.migrate({ toProtocol: 'http', scheduledAt });
        expect(h.state).toBe('http.idle');
        expect(h.context).toBe(before);
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

  describe('rollback records', () => {
    it('writes the RollbackEvent, the rolled-back log entry, the notification and the review of an automatic rollback', () => {
      const h = onAcp();
      const at = T0 + H;
      h.send({
        type: 'AUTO_ROLLBACK',
        eventId: 'rb1',
        migrationId: 'mrb',
        evidence: evidence(0.989, 1000),
        policy: P,
        connectionIds: ['c1', 'c2'],
        at,
      });
      const notification = {
        toast: {
          severity: 'error',
          title: 'Switched to HTTP',
          body: 'ACP success rate fell to 98.9% (below 99.0%); this workspace now uses HTTP.',
        },
        transcriptNote:
          'Workspace rolled back from ACP to HTTP automatically: success rate 98.9% over 1000 operations in the last 60 min was below the 99.0% threshold.',
      };
      expect(planned(h)).toEqual([
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
            metricsSnapshot: snapshotOf(0.989, 1000),
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
            metricsSnapshot: snapshotOf(0.989, 1000),
            connections: { active: 1, onAcp: 1, pending: 0, onHttp: 0 },
            recordedAt: iso(at),
            rollbackEventId: 'rb1',
          },
        },
      ]);
      expect(planned(h, 'notifyUsers')).toEqual([
        {
          workspaceId: 'w1',
          installationId: 'i1',
          eventId: 'rb1',
          kind: 'rollback',
          ...notification,
        },
      ]);
      expect(planned(h, 'scheduleReview')).toEqual([
        { workspaceId: 'w1', installationId: 'i1', eventId: 'rb1' },
      ]);
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
        },
        connections: { active: 0, onAcp: 0, pending: 0, onHttp: 1 },
      });
      expect(timer(h, 'cooldownDelay')).toBe(30 * MIN);
    });

    it('rolls back a migration in progress by user request, logging it against that migration', () => {
      const h = harness().migrate({ migrationId: 'm1' });
      h.send({
        type: 'ROLLBACK_REQUESTED',
        eventId: 'rb2',
        migrationId: 'unused',
        trigger: 'manualUser',
        reason: 'too slow',
        requestedBy: 'u1',
        evidence: evidence(null, 0),
        policy: { ...P, cooldownMs: 5 * MIN },
        connectionIds: [],
        at: T0 + MIN,
      });
      const [rollback, log] = planned(h);
      expect(rollback.record).toMatchObject({
        trigger: 'manual-user',
        reasonCode: 'manual',
        reason: 'too slow',
        requestedBy: 'u1',
        followUpActions: ['notify-users'],
        migrationId: 'm1',
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
      expect(h.context).toMatchObject({
        autoRollbacks: [],
        cooldownMs: 5 * MIN,
        lastRollback: { eventId: 'rb2', trigger: 'manualUser', reasonCode: 'manual' },
      });
      expect(timer(h, 'cooldownDelay')).toBe(5 * MIN);
    });

    it('logs a manual rollback from ACP as initiated by the operator or the user who asked', () => {
      for (const [trigger, initiatedBy] of [
        ['manualOperator', 'operator'],
        ['manualUser', 'user'],
      ]) {
        const h = onAcp().send({
          type: 'ROLLBACK_REQUESTED',
          migrationId: 'mx',
          trigger,
          reason: 'r',
          requestedBy: 'someone',
          evidence: evidence(1, 500),
          policy: P,
          connectionIds: [],
        });
        expect(planned(h)[1].record).toMatchObject({
          migrationId: 'mx',
          initiatedBy,
          requestedBy: 'someone',
          fromProtocol: 'acp',
          toProtocol: 'http',
        });
      }
    });

    it('leaves the cooldown for idle once the cooldown delay fired', () => {
      const h = onAcp().autoRollback(0.5, 1000);
      h.fire('cooldownDelay', T0 + 30 * MIN);
      expect(h.state).toBe('http.idle');
      expect(h.context.cooldownUntil).toBeNull();
    });
  });

  describe('decisions', () => {
    it('records a hold with the numbers that caused it', () => {
      const h = onAcp().send({
        type: 'HEALTH',
        eventId: 'd1',
        evidence: evidence(0.5, 50),
        policy: P,
        nextMigrationId: 'n1',
        at: T0 + MIN,
      });
      expect(planned(h)).toEqual([
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
      expect(h.context.health).toEqual({ ...evidence(0.5, 50), verdict: 'held', at: T0 + MIN });
      expect(h.context.nextMigrationId).toBe('n1');
    });

    it('records no decision for a healthy report or one with too few samples to judge', () => {
      const h = onAcp().health(1, 1000);
      expect(planned(h)).toEqual([]);
      h.health(1, 10);
      expect(planned(h)).toEqual([]);
      expect(h.audits('decisions')).toEqual([]);
    });

    it('records a new hold after the verdict changed in between', () => {
      const h = onAcp().health(0.5, 50).health(1, 1000).health(0.5, 50);
      expect(h.audits('decisions')).toHaveLength(2);
    });

    it('records who re-enabled automatic migration and forgets the counted rollbacks', () => {
      const h = onAcp(automatic);
      for (let i = 0; i < 3; i++)
        h.autoRollback(0.5, 1000, T0 + i * H)
          .migrate({ at: T0 + i * H + 1 })
          .connections(1, 1);
      expect(h.context.autoMigrationBlocked).toBe(true);
      h.send({ type: 'REENABLE_AUTO_MIGRATION', eventId: 'd2', requestedBy: 'op', at: T0 + 5 * H });
      expect(planned(h)).toEqual([
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

  describe('flap protection at the edge of its window', () => {
    const rollbacksAt = (times: number[]) => {
      const h = onAcp(automatic);
      for (const t of times)
        h.autoRollback(0.5, 1000, t)
          .migrate({ at: t + 1 })
          .connections(1, 1);
      return h;
    };

    it('forgets a rollback exactly 24 h old', () => {
      const h = rollbacksAt([T0, T0 + H]).autoRollback(0.5, 1000, T0 + 24 * H);
      expect(h.context.autoRollbacks).toEqual([T0 + H, T0 + 24 * H]);
      expect(h.context.autoMigrationBlocked).toBe(false);
    });

    it('still counts a rollback one millisecond younger than 24 h and blocks at the third', () => {
      const h = rollbacksAt([T0, T0 + H]).autoRollback(0.5, 1000, T0 + 24 * H - 1);
      expect(h.context.autoRollbacks).toEqual([T0, T0 + H, T0 + 24 * H - 1]);
      expect(h.context.autoMigrationBlocked).toBe(true);
    });

    it('blocks only at the configured number of rollbacks', () => {
      const h = onAcp({ ...automatic, flapLimit: 2 });
      h.autoRollback(0.5, 1000, T0);
      expect(h.context.autoMigrationBlocked).toBe(false);
      h.migrate({ at: T0 + 1 })
        .connections(1, 1)
        .autoRollback(0.5, 1000, T0 + H);
      expect(h.context.autoMigrationBlocked).toBe(true);
    });
  });

  describe('automatic migration', () => {
    it('warms up only when every condition of the policy holds', () => {
      expect(harness(automatic).health(1, 1000).state).toBe('http.warming');
      for (const policy of [
        { ...automatic, rolloutMode: 'optIn' as const },
        { ...automatic, rolloutMode: 'scheduled' as const },
        { ...automatic, autoRollout: false },
        { ...automatic, migrationEnabled: false },
      ])
        expect(harness(policy).health(1, 1000).state, JSON.stringify(policy)).toBe('http.idle');
      expect(harness(automatic).health(1, 99).state).toBe('http.idle');
    });

    it('warms up for the configured time and starts the migration with the id src/ sent along', () => {
      const h = harness({ ...automatic, autoMigrateAfterMs: 7 * MIN });
      h.send({
        type: 'HEALTH',
        evidence: evidence(1, 1000),
        policy: h.policy,
        nextMigrationId: 'auto-1',
        at: T0,
      });
      expect(timer(h, 'autoMigrateDelay')).toBe(7 * MIN);
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
      expect(planned(h)[0]).toMatchObject({ id: 'auto-1-in-progress', at: T0 + 7 * MIN });
    });

    it('names an automatic migration after its start time when no id was sent since the last one', () => {
      const h = harness(automatic).health(1, 1000);
      h.fire('autoMigrateDelay', T0 + 15 * MIN).connections(1, 1);
      h.autoRollback(0.5, 1000, T0 + H).fire('cooldownDelay', T0 + 2 * H);
      expect(h.state).toBe('http.warming');
      h.fire('autoMigrateDelay', T0 + 3 * H);
      expect(h.context.migration?.migrationId).toBe(`auto-${T0 + 3 * H}`);
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
});
