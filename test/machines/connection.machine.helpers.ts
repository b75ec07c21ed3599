/**
 * Shared by the connection chart suites (connection.machine, connection.thresholds,
 * connection.diagnostics): a harness that steps the pure chart as the engine does.
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import {
  type ConnectionContext,
  DEFAULT_CONNECTION_THRESHOLDS as D,
  createConnectionMachine,
} from '../../machines/connection.machine.ts';
import { type PlannedAction, Stepper } from '../../src/engine/step.ts';

export const T0 = Date.parse('2026-11-25T12:00:00.000Z');
export const AFTER = (delay: string, state: string) => `xstate.after.${delay}.connection.${state}`;

/** Drives the pure chart the way the engine does, remembering the timers it asked for. */
export function harness(thresholds = D) {
  const stepper = new Stepper(createConnectionMachine(thresholds));
  const initial = stepper.initial({
    connectionId: 'c1',
    installationId: 'i1',
    workspaceId: 'w1',
    at: T0,
  });
  let snapshot = initial.snapshot;
  const actions = initial.actions;
  let last: PlannedAction[] = actions;
  const timers = new Map<string, number>();
  const track = (acts: PlannedAction[]) => {
    for (const a of acts) {
      const p = a.params as any;
      if (a.type === 'xstate.raise' && typeof p.delay === 'number') timers.set(p.id, p.delay);
      if (a.type === 'xstate.cancel') timers.delete(p.sendId);
    }
  };
  track(actions);
  const h = {
    get state() {
      return snapshot.value as string;
    },
    get context() {
      return snapshot.context as ConnectionContext;
    },
    get snapshot(): AnyMachineSnapshot {
      return snapshot;
    },
    get actions() {
      return last;
    },
    timers,
    send(event: any) {
      const r = stepper.step(snapshot, { at: T0, ...event });
      snapshot = r.snapshot;
      last = r.actions;
      track(r.actions);
      return h;
    },
    /** Delivers a pending delayed event, as the engine's durable timer would. */
    fire(id: string) {
      expect(timers.has(id), `timer ${id} pending`).toBe(true);
      timers.delete(id);
      return h.send({ type: id });
    },
    handshake(version = '1.2.0') {
      return h.send({
        type: 'HANDSHAKE',
        protocolVersion: version,
        negotiatedCapabilities: ['fs', 'terminal'],
      });
    },
    /** A heartbeat timestamped `at`, received by the engine at `receivedAt`. */
    heartbeat(succeeded: number, failed = 0, latencyMs: number[] = [], at = T0, receivedAt = at) {
      return h.send({ type: 'HEARTBEAT', at, receivedAt, succeeded, failed, latencyMs });
    },
  };
  return h;
}

/** The events a step emitted for other actors (the engine routes them by `to`). */
export const emittedBy = (h: { actions: PlannedAction[] }) =>
  h.actions.filter((a) => a.type === 'xstate.emit').map((a) => (a.params as any).event);
export const statusReport = (status: string) => ({
  type: 'CONNECTION_REPORT',
  to: { kind: 'workspace', id: 'w1' },
  connectionId: 'c1',
  status,
  ops: null,
});
export const slot = (delta: number) => ({
  type: 'CONNECTION_ACTIVE',
  to: { kind: 'capacity', id: 'i1' },
  connectionId: 'c1',
  workspaceId: 'w1',
  delta,
});
