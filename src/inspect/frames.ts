/**
 * The `@statelyai/inspect` event shapes (the package's StatelyInspectionEvent, as its own
 * inspectors serialise them), built from what the engine persists. Pure: no I/O, no clock.
 *
 * Every frame names the actor `<kind>:<id>` as both `sessionId` and `rootId` (persisted actors
 * have no live parent), and carries `createdAt` as the package does: epoch milliseconds, as a
 * string. `_version` is required by the receivers.
 */
import { randomUUID } from 'node:crypto';
import type { AnyStateMachine } from 'xstate';
import { guardName } from '../charts/catalog.ts';
import type { PersistedState } from '../engine/step.ts';

/**
 * The `@statelyai/inspect` release whose event format these frames follow (its receivers only
 * check that `_version` is a string). test/inspect/stately-receiver.test.ts fails when the installed
 * package is another release.
 */
export const STATELY_INSPECT_VERSION = '0.7.2';

/** A snapshot as the inspector shows it. */
export interface InspectedSnapshot {
  status: string;
  value: unknown;
  context: unknown;
}

interface Base {
  sessionId: string;
  rootId: string;
  createdAt: string;
  _version: string;
}

export interface ActorFrame extends Base {
  type: '@xstate.actor';
  name: string;
  id: null;
  parentId: undefined;
  definition: string;
  snapshot: InspectedSnapshot;
}

export interface EventFrame extends Base {
  type: '@xstate.event';
  id: string;
  sourceId: undefined;
  event: { type: string } & Record<string, unknown>;
}

export interface SnapshotFrame extends Base {
  type: '@xstate.snapshot';
  id: null;
  event: { type: string } & Record<string, unknown>;
  snapshot: InspectedSnapshot;
}

export type InspectionFrame = ActorFrame | EventFrame | SnapshotFrame;

/** The chart as the package sends it: `machine.config` as JSON, functions as `{ type: name }`. */
const definitions = new WeakMap<AnyStateMachine, string>();

/**
 * The JSON of `machine.config`, without a depth limit (JSON.stringify has none), computed once
 * per machine. `createMachine(JSON.parse(definition))` rebuilds the chart's structure.
 */
export function definitionOf(machine: AnyStateMachine): string {
  let json = definitions.get(machine);
  if (json === undefined) {
    // A higher-order guard (`not(…)`) is named with what it negates or combines.
    json = JSON.stringify(machine.config, (_key, value: unknown) =>
      typeof value === 'function'
        ? { type: 'guards' in value ? guardName(value) : value.name }
        : value,
    );
    definitions.set(machine, json);
  }
  return json;
}

const base = (sessionId: string, at: number): Base => ({
  sessionId,
  rootId: sessionId,
  createdAt: String(at),
  _version: STATELY_INSPECT_VERSION,
});

/** The persisted snapshot's status (`active` unless the chart reached a final state). */
export const inspected = (state: PersistedState): InspectedSnapshot => ({
  status: (state as { status?: string }).status ?? 'active',
  value: state.value,
  context: state.context,
});

/**
 * @example
 * actorFrame('connection:c1', machine, state, Date.parse(updatedAt));
 */
export function actorFrame(
  sessionId: string,
  machine: AnyStateMachine,
  state: PersistedState,
  at: number,
): ActorFrame {
  return {
    type: '@xstate.actor',
    ...base(sessionId, at),
    name: sessionId,
    id: null,
    parentId: undefined,
    definition: definitionOf(machine),
    snapshot: inspected(state),
  };
}

export function eventFrame(sessionId: string, event: EventFrame['event'], at: number): EventFrame {
  return {
    type: '@xstate.event',
    ...base(sessionId, at),
    id: randomUUID(),
    sourceId: undefined,
    event,
  };
}

export function snapshotFrame(
  sessionId: string,
  event: SnapshotFrame['event'],
  state: PersistedState,
  at: number,
): SnapshotFrame {
  return {
    type: '@xstate.snapshot',
    ...base(sessionId, at),
    id: null,
    event,
    snapshot: inspected(state),
  };
}
