/**
 * Drives the pure workspace chart the way the engine does (src/engine/step.ts `Stepper`): every
 * event is stamped with `at` and `eventId`, connection reports also with `spareId`, delayed
 * events are delivered by `fire`, and the actions each step asked for (audit records, effects,
 * `xstate.emit` to other actors) are kept for the assertions.
 */
import { expect } from 'vitest';
import {
  DEFAULT_WORKSPACE_POLICY as P,
  type WorkspacePolicy,
} from '../../machines/shared/workspace-policy.ts';
import type { MemberStatus } from '../../machines/shared/workspace-window.ts';
import { type WorkspaceContext, createWorkspaceMachine } from '../../machines/workspace.machine.ts';
import { type PlannedAction, Stepper } from '../../src/engine/step.ts';
import { workspaceState } from '../../src/workspaces/workspaces.ts';

export { P };
export const T0 = Date.parse('2026-11-25T12:00:00.000Z');
export const MIN = 60_000;
/** The epoch minute of a time (the workspace window's key). */
export const minute = (ms: number) => Math.floor(ms / MIN);
export const H = 60 * MIN;
export const iso = (ms: number) => new Date(ms).toISOString();
export const automatic: WorkspacePolicy = { ...P, rolloutMode: 'automatic', autoRollout: true };
export const noConnections = { active: 0, onAcp: 0, pending: 0, onHttp: 0 };

let ids = 0;
export const id = () => `id-${++ids}`;

export interface OpsOptions {
  /** The reporting connection (default c1). */
  id?: string;
  /** Its status as it reports it (default connected). */
  status?: MemberStatus;
  /** Engine time of the report (default T0). */
  at?: number;
  /** The heartbeat's own time, the minute its operations count for (default `at`). */
  opsAt?: number;
  latencyP95?: number | null;
  eventId?: string;
  spareId?: string;
}

export type Harness = ReturnType<typeof harness>;

export function harness(policy: WorkspacePolicy = P) {
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
  const h = {
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
    /** Every record appended so far to the streams starting with `stream`. */
    audits: (stream: string) =>
      all
        .filter((a) => a.type === 'appendAudit' && (a.params as any).stream.startsWith(stream))
        .map((a) => (a.params as any).record),
    /** The params of the actions of `type` the last step asked for. */
    planned: (type = 'appendAudit') =>
      actions.filter((a) => a.type === type).map((a) => a.params as any),
    /** The events the last step emitted to other actors (routed by the engine). */
    emitted: () =>
      actions.filter((a) => a.type === 'xstate.emit').map((a) => (a.params as any).event),
    /** The delay of the pending timer whose id contains `name`. */
    timer: (name: string) => [...timers.entries()].find(([k]) => k.includes(name))?.[1],
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
    migrate(extra: Record<string, unknown> = {}) {
      return h.send({
        type: 'REQUEST_MIGRATION',
        migrationId: id(),
        toProtocol: 'acp',
        initiatedBy: 'operator',
        requestedBy: 'op',
        scheduledAt: null,
        policy: h.policy,
        ...extra,
      });
    },
    /** A status report without operations (the connection chart's `note`). */
    report(connectionId: string, status: MemberStatus, extra: Record<string, unknown> = {}) {
      return h.send({
        type: 'CONNECTION_REPORT',
        spareId: id(),
        connectionId,
        status,
        ops: null,
        ...extra,
      });
    },
    /** A heartbeat's operations as the connection chart reports them. */
    ops(succeeded: number, failed: number, o: OpsOptions = {}) {
      const at = o.at ?? T0;
      return h.send({
        type: 'CONNECTION_REPORT',
        at,
        eventId: o.eventId ?? id(),
        spareId: o.spareId ?? id(),
        connectionId: o.id ?? 'c1',
        status: o.status ?? 'connected',
        ops: {
          at: o.opsAt ?? at,
          succeeded,
          failed,
          latencyP95: o.latencyP95 === undefined ? 20 : o.latencyP95,
        },
      });
    },
    policyChange(change: Partial<WorkspacePolicy>, extra: Record<string, unknown> = {}) {
      h.policy = { ...h.policy, ...change };
      return h.send({ type: 'POLICY', policy: h.policy, spareId: id(), ...extra });
    },
    rollbackRequested(extra: Record<string, unknown> = {}) {
      return h.send({
        type: 'ROLLBACK_REQUESTED',
        migrationId: id(),
        trigger: 'manualOperator',
        reason: 'incident 42',
        requestedBy: 'alice',
        policy: h.policy,
        ...extra,
      });
    },
    /**
     * An automatic rollback at `at` (1000 operations at 50 %), the connections reporting
     * their rollback, then a manual migration back whose new connection reaches ACP.
     */
    cycle(at: number, back = true) {
      const live = Object.keys(h.context.members).filter(
        (c) => h.context.members[c] !== 'rolledBack',
      );
      h.ops(500, 500, { at, id: live[0] });
      expect(h.state).toBe('http.cooldown');
      for (const c of live) h.report(c, 'rolledBack', { at });
      if (back) h.migrate({ at: at + 1 }).report(`c-${at}`, 'connected', { at: at + 1 });
      return h;
    },
  };
  return h;
}

/** A workspace migrated to ACP at T0 whose connection c1 is connected. */
export const onAcp = (policy?: WorkspacePolicy) =>
  harness(policy).migrate().report('c1', 'connected');

/** The evidence the chart records from its own window (`metricsSnapshot`). */
export const snapshotOf = (
  successRate: number | null,
  sampleSize: number,
  activeConnections = 1,
  latencyP95: number | null = 20,
) => ({
  successRate,
  sampleSize,
  latencyP95,
  windowMinutes: 60,
  activeConnections,
  capacityPercent: null,
});
