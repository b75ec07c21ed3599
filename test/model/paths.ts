/**
 * Path generation for the model-based tests. For a chart and a finite set of concrete events:
 *
 * 1. `getShortestPaths` (xstate/graph) gives a path to every abstract state (`serializeState`
 *    abstracts metric numbers so the traversal is finite);
 * 2. every edge of the adjacency map (`getAdjacencyMap`) is traced through a Stepper that records
 *    which chart transitions each step took, and an edge that takes a transition no chosen path
 *    takes yet is added as "shortest path to its source + the edge's event".
 *
 * The union is the path set; `covered` is measured from the traced transitions, and compared by
 * the coverage test with every transition `describeChart` finds in the chart.
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { describeChart, transitionIds } from '../../src/charts/catalog.ts';
import { type PlannedAction, Stepper } from '../../src/engine/step.ts';
import type { TestService } from '../helpers.ts';

export interface ModelStep {
  event: EventObject;
  /** The chart's state after the event. */
  state: AnyMachineSnapshot;
  /** Chart transitions this step took (ids from describeChart). */
  transitions: string[];
  /** Delayed events pending after the step: what the engine must hold as durable timers. */
  timers: string[];
}

export interface ModelPath {
  name: string;
  initial: AnyMachineSnapshot;
  initialTransitions: string[];
  initialTimers: string[];
  steps: ModelStep[];
}

export interface PathSet {
  paths: ModelPath[];
  covered: Set<string>;
  states: Set<string>;
  allTransitions: string[];
  allStates: string[];
}

export interface ModelOptions {
  machine: AnyStateMachine;
  input: unknown;
  events: readonly EventObject[];
  serializeState: (s: AnyMachineSnapshot) => string;
  describeEvent?: (e: EventObject) => string;
}

const statePath = (s: AnyMachineSnapshot): string => {
  const walk = (v: unknown): string =>
    typeof v === 'string' ? v : Object.entries(v as object).map(([k, c]) => `${k}.${walk(c)}`)[0]!;
  return walk(s.value);
};

/** Replays events through a tracing stepper, returning each step's state and transitions. */
export function trace(options: ModelOptions, events: readonly EventObject[]): ModelPath {
  const ids = transitionIds(options.machine);
  let taken: string[] = [];
  const stepper = new Stepper(options.machine, (ts) => ts.forEach((t) => taken.push(ids.get(t)!)));
  const pending = new Set<string>();
  const track = (actions: readonly PlannedAction[]) => {
    for (const a of actions) {
      const p = a.params as { id?: string; delay?: unknown; sendId?: string };
      if (a.type === 'xstate.raise' && typeof p.delay === 'number') pending.add(p.id!);
      if (a.type === 'xstate.cancel') pending.delete(p.sendId!);
    }
  };
  const first = stepper.initial(options.input);
  track(first.actions);
  const initial = first.snapshot;
  const initialTransitions = taken;
  const initialTimers = [...pending];
  let snapshot = initial;
  const steps: ModelStep[] = [];
  for (const event of events) {
    taken = [];
    // A delayed event is consumed when it fires, whatever the transition does.
    if (event.type.startsWith('xstate.after.')) pending.delete(event.type);
    const r = stepper.step(snapshot, event);
    track(r.actions);
    snapshot = r.snapshot;
    steps.push({ event, state: snapshot, transitions: taken, timers: [...pending] });
  }
  const describe = options.describeEvent ?? ((e: EventObject) => e.type);
  return {
    name: events.length ? events.map(describe).join(' → ') : '(initial)',
    initial,
    initialTransitions,
    initialTimers,
    steps,
  };
}

export function generatePaths(options: ModelOptions): PathSet {
  const traversal = {
    events: options.events as EventObject[],
    serializeState: (s: AnyMachineSnapshot) => options.serializeState(s),
    input: options.input,
  };
  const shortest = getShortestPaths(options.machine, traversal);
  const toState = new Map<string, EventObject[]>();
  for (const p of shortest) {
    // Paths start with the machine's own init step, which the harness performs by creating the actor.
    const events = p.steps.map((s) => s.event).filter((e) => e.type !== 'xstate.init');
    toState.set(options.serializeState(p.state), events);
  }

  const chosen: EventObject[][] = [...toState.values()];
  const covered = new Set<string>();
  const states = new Set<string>();
  const paths: ModelPath[] = [];
  const add = (events: EventObject[]) => {
    const path = trace(options, events);
    path.initialTransitions.forEach((t) => covered.add(t));
    states.add(statePath(path.initial));
    for (const s of path.steps) {
      s.transitions.forEach((t) => covered.add(t));
      states.add(statePath(s.state));
    }
    paths.push(path);
  };
  for (const events of chosen) add(events);

  const adjacency = getAdjacencyMap(options.machine, traversal);
  for (const [key, { transitions }] of Object.entries(adjacency)) {
    const prefix = toState.get(key);
    if (!prefix) continue;
    for (const { event } of Object.values<{ event: EventObject }>(transitions)) {
      const candidate = [...prefix, event];
      const last = trace(options, candidate).steps.at(-1)!;
      if (last.transitions.some((t) => !covered.has(t))) add(candidate);
    }
  }

  const d = describeChart(options.machine);
  // Paths are deduplicated by name: shortest paths can coincide with coverage extensions.
  const unique = new Map(paths.map((p) => [p.name, p]));
  return {
    paths: [...unique.values()],
    covered,
    states,
    allTransitions: d.transitions.map((t) => t.id),
    allStates: d.states.map((s) => s.path),
  };
}

export { statePath };

/**
 * Fires one delayed event through the real engine: the engine must hold exactly this durable
 * timer for the actor; the injected clock moves to its due time and the engine's poller runs.
 */
export async function fireDurableTimer(
  svc: Pick<TestService, 'store' | 'clock' | 'engine'>,
  ref: { kind: string; installationId: string; id: string },
  sendId: string,
): Promise<void> {
  const timers = await svc.store.timersOf(ref);
  const timer = timers.find((t) => t.sendId === sendId);
  expect(
    timer,
    `durable timer ${sendId} pending (have ${timers.map((t) => t.sendId).join(', ')})`,
  ).toBeDefined();
  svc.clock.set(Math.max(svc.clock.now(), timer!.due));
  expect(await svc.engine.fireDueTimers()).toBeGreaterThanOrEqual(1);
}
