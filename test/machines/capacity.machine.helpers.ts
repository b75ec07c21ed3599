/**
 * Shared by capacity.machine.test.ts and capacity.count.test.ts: a harness that steps the pure
 * capacity chart as the engine does, remembering its timers.
 */
import { expect } from 'vitest';
import { type CapacityContext, createCapacityMachine } from '../../machines/capacity.machine.ts';
import { type PlannedAction, Stepper } from '../../src/engine/step.ts';

export const T0 = Date.parse('2026-11-25T12:00:00.000Z');
export const MIN = 60_000;
export const RESOLVE = 'xstate.after.resolveDelay.capacity.resolving';

/** Drives the pure chart the way the engine does, remembering pending timers and audit records. */
export function harness(machine = createCapacityMachine(), capacity = 1000) {
  const stepper = new Stepper(machine);
  const first = stepper.initial({ installationId: 'i1', capacity, at: T0 });
  let snapshot = first.snapshot;
  let last: PlannedAction[] = first.actions;
  const timers = new Map<string, number>();
  const track = (acts: PlannedAction[]) => {
    for (const a of acts) {
      const p = a.params as any;
      if (a.type === 'xstate.raise' && typeof p.delay === 'number') timers.set(p.id, p.delay);
      if (a.type === 'xstate.cancel') timers.delete(p.sendId);
    }
  };
  track(last);
  let alerts = 0;
  const h = {
    get state() {
      return snapshot.value as string;
    },
    get context() {
      return snapshot.context as CapacityContext;
    },
    get actions() {
      return last;
    },
    timers,
    /** The params of the effects and audit records the last step asked for. */
    planned(type: 'appendAudit' | 'notifyCapacity') {
      return last.filter((a) => a.type === type).map((a) => a.params as any);
    },
    send(event: any) {
      const r = stepper.step(snapshot, event);
      snapshot = r.snapshot;
      last = r.actions;
      track(r.actions);
      return h;
    },
    /** `active` ACP connections of a capacity of 1000 (so 850 is exactly 85 %). */
    usage(active: number, extra: Record<string, unknown> = {}) {
      return h.send({
        type: 'USAGE',
        at: T0,
        active,
        capacity: 1000,
        workspaceIds: ['w1'],
        alertId: `alert-${++alerts}`,
        ...extra,
      });
    },
    /** The repair's recount: the chart's count and the indexes' count it read together. */
    recount(counted: number, indexed: number, extra: Record<string, unknown> = {}) {
      return h.send({
        type: 'RECOUNT',
        at: T0,
        counted,
        indexed,
        capacity: 1000,
        workspaceIds: [],
        alertId: `alert-${++alerts}`,
        ...extra,
      });
    },
    /** A connection starting (+1) or stopping (-1) to hold a slot, as the connection chart emits it. */
    active(delta: number, workspaceId = 'w1', extra: Record<string, unknown> = {}) {
      return h.send({
        type: 'CONNECTION_ACTIVE',
        at: T0,
        connectionId: `c${++alerts}`,
        workspaceId,
        delta,
        eventId: `event-${alerts}`,
        ...extra,
      });
    },
    fire(id: string, at: number) {
      expect(timers.has(id), `timer ${id} pending`).toBe(true);
      timers.delete(id);
      return h.send({ type: id, at });
    },
  };
  return h;
}
