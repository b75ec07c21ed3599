/**
 * Path generation for the model-based tests. A model is a chart plus what the test knows of the
 * world around it, stepped as one logic (`modelLogic`) that xstate/graph traverses:
 *
 * - a model event stands for one real action (a registration, a heartbeat, a request, a timer);
 *   `toChart` turns it into the chart event the real system produces for it, at the model's
 *   clock (which the event may move, like a heartbeat's time);
 * - `answer` feeds back, in the same step, what the rest of the system answers to the chart's
 *   actions (e.g. a connection reporting `rolledBack` after the workspace emitted ROLLBACK to it),
 *   as the engine commits those actors' answers in the same chain;
 * - the model keeps the durable timers the chart holds, with their due times.
 *
 * Then:
 * 1. `getShortestPaths` (xstate/graph) gives a path to every abstract state (`serializeState`
 *    abstracts metric numbers and times so the traversal is finite); the events may depend on
 *    the state (`eventsIn`: only what the real system can do there);
 * 2. every edge of the adjacency map (`getAdjacencyMap`) is traced, and an edge that takes a
 *    chart transition no chosen path takes yet is added as "shortest path to its source + the
 *    edge's event";
 * 3. a path that is a prefix of another is dropped: the longer one checks every step it checks.
 *
 * `covered` is measured from the traced transitions, and compared by the coverage test with
 * every transition `describeChart` finds in the chart.
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { describeChart, transitionIds } from '../../src/charts/catalog.ts';
import { type PlannedAction, Stepper } from '../../src/engine/step.ts';
import type { TestService } from '../helpers.ts';

/** The chart and the test's view of the world, after some steps. */
export interface ModelSnapshot {
  status: 'active';
  output: undefined;
  error: undefined;
  chart: AnyMachineSnapshot;
  /** Model time (ms): what the real clock must read. */
  now: number;
  /** Durable timers the chart holds: sendId → due time. */
  timers: Record<string, number>;
  /** Steps taken so far (names placeholders for ids the real system generates). */
  step: number;
  /** The last step: the chart events it fed (its own, then the answers), in order. */
  fed: EventObject[];
  /** The last step's chart transitions (ids from describeChart) and planned actions. */
  transitions: string[];
  actions: PlannedAction[];
}

export interface ModelStep {
  event: EventObject;
  /** The chart's state after the event. */
  state: AnyMachineSnapshot;
  model: ModelSnapshot;
  /** Chart transitions this step took (ids from describeChart). */
  transitions: string[];
  /** Delayed events pending after the step: what the engine must hold as durable timers. */
  timers: string[];
}

export interface ModelPath {
  name: string;
  initial: AnyMachineSnapshot;
  initialModel: ModelSnapshot;
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
  /**
   * Chart events, possible in any state: what the traversal sends unless `eventsIn` is given,
   * and what the property tests (test/property) send in random order.
   */
  events: readonly EventObject[];
  /** The model events possible in a state, for the traversal (each stands for a real action). */
  eventsIn?: (s: ModelSnapshot) => readonly EventObject[];
  serializeState: (s: ModelSnapshot) => string;
  describeEvent?: (e: EventObject) => string;
  /** The chart event a model event stands for, and the model time after it (default: as is). */
  toChart?: (event: EventObject, s: ModelSnapshot) => { event: EventObject; now: number };
  /**
   * What other actors answer, in the same step, to the actions the chart planned for `event`;
   * `tag` is unique within a path (for placeholder ids).
   */
  answer?: (actions: readonly PlannedAction[], event: EventObject, tag: string) => EventObject[];
  /** Hand-written paths added to the generated ones (e.g. long enough for a window to roll). */
  scenarios?: { name: string; events: EventObject[] }[];
}

const statePath = (s: AnyMachineSnapshot): string => {
  const walk = (v: unknown): string =>
    typeof v === 'string' ? v : Object.entries(v as object).map(([k, c]) => `${k}.${walk(c)}`)[0]!;
  return walk(s.value);
};

/** Delayed raises schedule a durable timer (due = the clock + delay); cancels drop it. */
function track(timers: Record<string, number>, actions: readonly PlannedAction[], at: number) {
  const next = { ...timers };
  for (const a of actions) {
    const p = a.params as { id?: string; delay?: unknown; sendId?: string; event?: EventObject };
    if (a.type === 'xstate.raise' && typeof p.delay === 'number')
      next[p.id ?? p.event!.type] = at + p.delay;
    if (a.type === 'xstate.cancel') delete next[p.sendId!];
  }
  return next;
}

/** The model as an actor logic: what xstate/graph traverses and `trace` replays. */
export function modelLogic(options: ModelOptions) {
  const ids = transitionIds(options.machine);
  let taken: string[] = [];
  const stepper = new Stepper(options.machine, (ts) => ts.forEach((t) => taken.push(ids.get(t)!)));
  const toChart =
    options.toChart ?? ((event: EventObject, s: ModelSnapshot) => ({ event, now: s.now }));
  return {
    config: {},
    getInitialSnapshot(_scope: unknown, input: unknown): ModelSnapshot {
      taken = [];
      const r = stepper.initial(input);
      const now = (input as { at?: number }).at ?? 0;
      return {
        status: 'active',
        output: undefined,
        error: undefined,
        chart: r.snapshot,
        now,
        timers: track({}, r.actions, now),
        step: 0,
        fed: [],
        transitions: taken,
        actions: r.actions,
      };
    },
    transition(s: ModelSnapshot, modelEvent: EventObject): ModelSnapshot {
      taken = [];
      const step = s.step + 1;
      const { event, now } = toChart(modelEvent, s);
      let timers = { ...s.timers };
      // A delayed event is consumed when it fires, whatever the transition does.
      if (event.type.startsWith('xstate.after.')) delete timers[event.type];
      const queue = [event];
      const fed: EventObject[] = [];
      const actions: PlannedAction[] = [];
      let chart = s.chart;
      while (queue.length > 0) {
        if (fed.length > 64) throw new Error('answers did not settle');
        const e = queue.shift()!;
        const r = stepper.step(chart, e);
        // An event the chart ignores is refused by the real system: no answers to it.
        if (r.snapshot === chart && fed.length === 0) break;
        chart = r.snapshot;
        fed.push(e);
        actions.push(...r.actions);
        // Due times count from the engine's clock when it plans, not from the event's own time
        // (an overdue timer fires with `at` = its due time, and what it schedules counts from now).
        timers = track(timers, r.actions, now);
        queue.push(...(options.answer?.(r.actions, e, `${step}.${fed.length}`) ?? []));
      }
      return {
        status: 'active',
        output: undefined,
        error: undefined,
        chart,
        now,
        timers,
        step,
        fed,
        transitions: taken,
        actions,
      };
    },
  };
}

/** Replays model events, returning each step's state, transitions and timers. */
export function trace(options: ModelOptions, events: readonly EventObject[]): ModelPath {
  const logic = modelLogic(options);
  const first = logic.getInitialSnapshot(null, options.input);
  let s = first;
  const steps: ModelStep[] = [];
  for (const event of events) {
    s = logic.transition(s, event);
    steps.push({
      event,
      state: s.chart,
      model: s,
      transitions: s.transitions,
      timers: Object.keys(s.timers),
    });
  }
  const describe = options.describeEvent ?? ((e: EventObject) => e.type);
  return {
    name: events.length ? events.map(describe).join(' → ') : '(initial)',
    initial: first.chart,
    initialModel: first,
    initialTransitions: first.transitions,
    initialTimers: Object.keys(first.timers),
    steps,
  };
}

export function generatePaths(options: ModelOptions): PathSet {
  const logic = modelLogic(options);
  const traversal = {
    events: options.eventsIn ?? options.events,
    serializeState: (s: ModelSnapshot) => options.serializeState(s),
    input: options.input,
  };
  const shortest = getShortestPaths(logic as never, traversal as never) as unknown as {
    state: ModelSnapshot;
    steps: { event: EventObject }[];
  }[];
  const toState = new Map<string, EventObject[]>();
  for (const p of shortest) {
    // Paths start with the logic's own init step, which the harness performs by creating the actor.
    const events = p.steps.map((s) => s.event).filter((e) => e.type !== 'xstate.init');
    toState.set(options.serializeState(p.state), events);
  }

  const covered = new Set<string>();
  const states = new Set<string>();
  const chosen: ModelPath[] = [];
  const add = (path: ModelPath) => {
    path.initialTransitions.forEach((t) => covered.add(t));
    states.add(statePath(path.initial));
    for (const s of path.steps) {
      s.transitions.forEach((t) => covered.add(t));
      states.add(statePath(s.state));
    }
    chosen.push(path);
  };
  for (const events of toState.values()) add(trace(options, events));

  const adjacency = getAdjacencyMap(logic as never, traversal as never) as unknown as Record<
    string,
    { transitions: Record<string, { event: EventObject }> }
  >;
  for (const [key, { transitions }] of Object.entries(adjacency)) {
    const prefix = toState.get(key);
    if (!prefix) continue;
    for (const { event } of Object.values(transitions)) {
      const candidate = trace(options, [...prefix, event]);
      if (candidate.steps.at(-1)!.transitions.some((t) => !covered.has(t))) add(candidate);
    }
  }

  for (const { name, events } of options.scenarios ?? []) add({ ...trace(options, events), name });

  // A path that is a prefix of another checks nothing the longer one does not.
  const keyOf = (p: ModelPath) => p.steps.map((s) => JSON.stringify(s.event));
  const prefixes = new Set<string>();
  for (const p of chosen) {
    const k = keyOf(p);
    for (let i = 0; i < k.length; i++) prefixes.add(k.slice(0, i).join('\n'));
  }
  const unique = new Map<string, ModelPath>();
  for (const p of chosen) {
    const k = keyOf(p).join('\n');
    if (!prefixes.has(k)) unique.set(k, p);
  }
  const d = describeChart(options.machine);
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
