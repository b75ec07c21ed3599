import {
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
  type StateValue,
  createActor,
} from 'xstate';

/** An action the transition asked for but did not run (XState's executable action). */
export interface PlannedAction {
  type: string;
  params: unknown;
}

/** What the engine stores: the state value and context, nothing that cannot be rebuilt. */
export interface PersistedState {
  value: StateValue;
  context: Record<string, unknown>;
}

export interface StepResult {
  snapshot: AnyMachineSnapshot;
  actions: PlannedAction[];
}

/**
 * Pure stepping for one chart: the equivalent of XState's `transition()` / `initialTransition()`,
 * which collect actions without running them, but with one inert actor scope built per chart
 * instead of per call. `transition()` constructs a throw-away actor on every call (and runs the
 * context factory again), which was a measurable share of the heartbeat hot path.
 *
 * @example
 * const stepper = new Stepper(connectionMachine);
 * const { snapshot, actions } = stepper.step(stepper.restore(persisted), { type: 'HEARTBEAT', ... });
 */
export class Stepper<TMachine extends AnyStateMachine = AnyStateMachine> {
  readonly #collected: PlannedAction[] = [];
  readonly #scope: Parameters<TMachine['transition']>[2];
  /** Restored snapshots without a context, by state value (see {@link restore}). */
  readonly #resolved = new Map<string, AnyMachineSnapshot>();

  /**
   * @param onTransitions receives the transition objects each microstep took (XState's
   * inspection data); used by the model-based tests to measure transition coverage.
   */
  constructor(
    readonly machine: TMachine,
    onTransitions?: (transitions: readonly object[]) => void,
  ) {
    const self = createActor(machine as AnyStateMachine);
    if (onTransitions) {
      const system = self.system as unknown as { _sendInspectionEvent(e: unknown): void };
      const forward = system._sendInspectionEvent.bind(system);
      system._sendInspectionEvent = (e: unknown) => {
        const ev = e as { type: string; _transitions?: object[] };
        if (ev.type === '@xstate.microstep' && ev._transitions) onTransitions(ev._transitions);
        forward(e);
      };
    }
    this.#scope = {
      self,
      defer: () => {},
      id: '',
      logger: () => {},
      sessionId: '',
      stopChild: () => {},
      system: self.system,
      emit: () => {},
      actionExecutor: (action: { type: string; params?: unknown }) => {
        this.#collected.push({ type: action.type, params: action.params });
      },
    };
  }

  #take(snapshot: AnyMachineSnapshot): StepResult {
    const actions = this.#collected.splice(0, this.#collected.length);
    if (snapshot.status === 'error') {
      // Some failures surface as an error snapshot rather than an exception.
      throw snapshot.error instanceof Error ? snapshot.error : new Error(String(snapshot.error));
    }
    return { snapshot, actions };
  }

  initial(input: unknown): StepResult {
    return this.#run(
      () =>
        (this.machine as AnyStateMachine).getInitialSnapshot(
          this.#scope as never,
          input,
        ) as AnyMachineSnapshot,
    );
  }

  step(snapshot: AnyMachineSnapshot, event: EventObject): StepResult {
    return this.#run(
      () =>
        (this.machine as AnyStateMachine).transition(
          snapshot,
          event,
          this.#scope as never,
        ) as AnyMachineSnapshot,
    );
  }

  /**
   * The collected actions belong to this call only: an exception thrown inside a guard or an
   * action escapes XState mid-step, and what it had collected must not leak into the next step
   * (possibly another tenant's actor).
   */
  #run(compute: () => AnyMachineSnapshot): StepResult {
    this.#collected.length = 0;
    try {
      return this.#take(compute());
    } finally {
      this.#collected.length = 0;
    }
  }

  /**
   * XState's `resolveState`, with what depends only on the state value (the active state nodes,
   * the normalised value, the tags, whether it is final) resolved once per value of the chart:
   * a cache serving snapshots from their text restores one per heartbeat. The snapshot is built
   * with the same fields in the same order as XState's own (`createMachineSnapshot`), so both
   * kinds share one object shape in XState's code; the shared parts are never mutated by XState
   * (each step builds new ones).
   */
  restore(persisted: PersistedState): AnyMachineSnapshot {
    const key =
      typeof persisted.value === 'string' ? persisted.value : JSON.stringify(persisted.value);
    let resolved = this.#resolved.get(key);
    if (!resolved) {
      resolved = (this.machine as AnyStateMachine).resolveState({
        value: persisted.value,
        context: {},
      }) as AnyMachineSnapshot;
      this.#resolved.set(key, resolved);
    }
    const r = resolved as unknown as Record<string, unknown>;
    return {
      status: r.status,
      output: r.output,
      error: r.error,
      machine: r.machine,
      context: persisted.context,
      _nodes: r._nodes,
      value: r.value,
      tags: r.tags,
      children: {},
      historyValue: {},
      matches: r.matches,
      hasTag: r.hasTag,
      can: r.can,
      getMeta: r.getMeta,
      toJSON: r.toJSON,
    } as unknown as AnyMachineSnapshot;
  }

  persist(snapshot: AnyMachineSnapshot): PersistedState {
    return {
      value: snapshot.value as StateValue,
      context: snapshot.context as Record<string, unknown>,
    };
  }
}

/** The state of a chart whose top-level states are atomic, as a string (`"degraded"`). */
export function stateName(value: StateValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
