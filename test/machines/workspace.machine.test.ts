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
