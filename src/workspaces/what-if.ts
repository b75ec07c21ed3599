/**
 * What-if replay: a workspace's journaled events (src/engine: ChartBinding.journal) run again
 * through the same workspace chart, in memory, once with the settings that were in force and
 * once with candidate settings from `from` on. Nothing here reads or writes the store: the
 * caller hands in the journal entries; the decisions are the `appendAudit` actions the pure
 * chart asks for, exactly what the engine would have committed.
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import type { WorkspacePolicy } from '../../machines/shared/workspace-policy.ts';
import type { WorkspaceContext } from '../../machines/workspace.machine.ts';
import { type PersistedState, Stepper } from '../engine/step.ts';
import { APPEND_AUDIT, type AuditParams } from '../engine/types.ts';

/** One journal entry as the commit script writes it (see Keys.journal). */
export type JournalEntry =
  | {
      v: number;
      event: EventObject & { at: number };
      /**
       * When the engine planned the step, if not at the event's time (only kept for a step that
       * started timers): the engine counts their delays from it.
       */
      t?: number;
    }
  | { v: number; checkpoint: PersistedState };

/** A decision the chart made (or would make), read from its audit record. */
export interface Decision {
  at: string;
  kind:
    | 'rollback'
    | 'hold'
    | 'migration-started'
    | 'migration-succeeded'
    | 'migration-failed'
    | 'migration-rolled-back'
    | 'auto-migration-reenabled';
  /** The audit record's id (RollbackEvent eventId, migration log entry id, decision id). */
  id: string;
  /** The migration it belongs to, where it belongs to one. */
  migrationId: string | null;
  trigger: string | null;
  reason: string | null;
  /** `metricsSnapshot` of the record: success rate, samples, window, latency, connections. */
  evidence: Record<string, unknown> | null;
}

export interface ReplayResult {
  decisions: Decision[];
  /** The chart state at the end of the range (`http.cooldown`, `acp`...). */
  finalState: string;
}

export interface WhatIfReplay {
  /** The same events with the settings in force (what actually happened, recomputed). */
  actual: ReplayResult;
  whatIf: ReplayResult;
  /** The policy the chart held at `from` (the recorded settings then). */
  policyAtFrom: WorkspacePolicy;
  /**
   * What the journal covered: the time of the first event after the checkpoint the replay
   * started from (a range starting earlier was trimmed away), and the events replayed.
   */
  coverage: {
    journalFrom: number | null;
    /** Nothing the range needs was trimmed: the replay's state at `from` is exact. */
    complete: boolean;
    eventsBefore: number;
    eventsInRange: number;
  };
}

const AFTER = 'xstate.after.';

type Timed = EventObject & { at: number };

/** A timer the replayed chart has scheduled (`after`), keyed by send id. */
interface PendingTimer {
  due: number;
  event: EventObject;
}

/**
 * Replays `entries` (oldest first) from the latest checkpoint at or before `from`: the events
 * before `from` with the recorded settings, those in [from, to] twice, once as recorded and once
 * with `candidate(policy)` substituted for every policy the chart receives (and for the one in
 * its context at `from`). Durable timers are simulated from the chart's own `after` actions;
 * a recorded timer event is used where the replayed chart has that timer due at that time.
 *
 * @example
 * const r = replayWhatIf(machine, entries, { from, to, candidate: (p) => ({ ...p, minSuccessRate: 0.98 }) });
 * r.whatIf.decisions.filter((d) => d.kind === 'rollback').length; // 0
 */
export function replayWhatIf(
  machine: AnyStateMachine,
  entries: readonly JournalEntry[],
  range: { from: number; to: number; candidate: (p: WorkspacePolicy) => WorkspacePolicy },
): WhatIfReplay | null {
  const firstInRange = entries.findIndex((e) => 'event' in e && e.event.at >= range.from);
  const limit = firstInRange < 0 ? entries.length : firstInRange;
  let start = -1;
  for (let i = 0; i < entries.length; i++) {
    if ('checkpoint' in entries[i]! && (i <= limit || start < 0)) start = i;
    if (i >= limit && start >= 0) break;
  }
  if (start < 0) return null;
  const checkpoint = entries[start] as { v: number; checkpoint: PersistedState };
  // Where each recorded timer event is last seen, so a due timer waits for its own.
  const recorded = new Map<string, number>();
  entries.forEach((e, k) => {
    if ('event' in e && e.event.type.startsWith(AFTER)) recorded.set(timerKey(e.event), k);
  });
  const stepper = new Stepper(machine);
  // The state at `from` with the recorded settings.
  const before = new Replayer(stepper, recorded, checkpoint.checkpoint);
  let eventsBefore = 0;
  let i = start + 1;
  for (; i < entries.length; i++) {
    const e = entries[i]!;
    if (!('event' in e)) continue;
    if (e.event.at >= range.from) break;
    before.apply(e.event, i, e.t);
    eventsBefore++;
  }
  const inRange: number[] = [];
  for (let j = i; j < entries.length; j++) {
    const e = entries[j]!;
    if (!('event' in e)) continue;
    if (e.event.at > range.to) break;
    inRange.push(j);
  }
  const actual = before.fork((p) => p);
  const whatIf = before.fork(range.candidate);
  for (const j of inRange) {
    const { event, t } = entries[j] as { event: EventObject & { at: number }; t?: number };
    actual.apply(event, j, t);
    whatIf.apply(event, j, t);
  }
  actual.finish(range.to);
  whatIf.finish(range.to);
  const firstEvent = entries.find((e, k) => k > start && 'event' in e) as
    { event: { at: number } } | undefined;
  return {
    actual: actual.result(),
    whatIf: whatIf.result(),
    policyAtFrom: (before.snapshot.context as unknown as WorkspaceContext).policy,
    coverage: {
      journalFrom: firstEvent?.event.at ?? null,
      // The state at `from` is exact when the checkpoint precedes the range and either is the
      // workspace's first state or the journal still reaches back before `from` (it is only
      // ever trimmed at its old end).
      complete:
        start <= limit &&
        (checkpoint.v <= 1 ||
          entries.slice(0, limit).some((e) => 'event' in e && e.event.at < range.from)),
      eventsBefore,
      eventsInRange: inRange.length,
    },
  };
}

/** One run of the chart over journaled events, with its simulated timers and decisions. */
class Replayer {
  readonly decisions: Decision[] = [];
  snapshot: AnyMachineSnapshot;
  /** Timers scheduled (or cancelled: absent with `touched`) since the replay began. */
  readonly timers = new Map<string, PendingTimer>();
  readonly touched = new Set<string>();

  constructor(
    readonly stepper: Stepper,
    /** Journal index of the last recorded timer event of each `timerKey`. */
    readonly recorded: ReadonlyMap<string, number>,
    state: PersistedState,
    readonly policyOf: (p: WorkspacePolicy) => WorkspacePolicy = (p) => p,
  ) {
    this.snapshot = stepper.restore(state);
  }

  /** A copy at this point whose every policy (context and events) goes through `policyOf`. */
  fork(policyOf: (p: WorkspacePolicy) => WorkspacePolicy): Replayer {
    const state = this.stepper.persist(this.snapshot);
    const context = state.context as unknown as WorkspaceContext;
    const copy = new Replayer(
      this.stepper,
      this.recorded,
      { value: state.value, context: { ...state.context, policy: policyOf(context.policy) } },
      policyOf,
    );
    for (const [k, t] of this.timers) copy.timers.set(k, t);
    for (const k of this.touched) copy.touched.add(k);
    return copy;
  }

  /**
   * Applies the journal's event at `index`, firing any simulated timer that came due first;
   * `plannedAt` is when the engine planned it, if not at the event's time (see JournalEntry).
   */
  apply(recorded: EventObject & { at: number }, index: number, plannedAt?: number) {
    this.#fireDue(recorded.at, index);
    if (recorded.type.startsWith(AFTER)) {
      // A recorded timer: the replayed chart must have it due then (or never have touched it).
      const pending = this.timers.get(recorded.type);
      if (pending) {
        if (pending.due !== recorded.at) return;
        this.timers.delete(recorded.type);
      } else if (this.touched.has(recorded.type)) return;
      this.#step(recorded, plannedAt);
      return;
    }
    const policy = (recorded as { policy?: WorkspacePolicy }).policy;
    this.#step(
      policy ? ({ ...recorded, policy: this.policyOf(policy) } as Timed) : recorded,
      plannedAt,
    );
  }

  /** Fires the timers due by `to` that no recorded event fired. */
  finish(to: number): void {
    this.#fireDue(to + 1, Infinity);
  }

  /**
   * Fires, in due order, the pending timers due before `at` for which the journal holds no
   * timer event of the same type at the same time from `index` on (that one fires them instead,
   * at its recorded place).
   */
  #fireDue(at: number, index: number): void {
    for (;;) {
      let next: [string, PendingTimer] | null = null;
      for (const t of this.timers) {
        const own = this.recorded.get(timerKey({ type: t[1].event.type, at: t[1].due }));
        if (t[1].due >= at || (own !== undefined && own >= index)) continue;
        if (!next || t[1].due < next[1].due) next = t;
      }
      if (!next) return;
      this.timers.delete(next[0]);
      this.#step({ ...next[1].event, at: next[1].due });
    }
  }

  /** One chart step; the timers it starts are due from `plannedAt` (default: the event's time). */
  #step(event: Timed, plannedAt = event.at): void {
    const { snapshot, actions } = this.stepper.step(this.snapshot, event);
    this.snapshot = snapshot;
    for (const a of actions) {
      if (a.type === 'xstate.raise') {
        const p = a.params as { event: EventObject; id?: string; delay?: number };
        if (typeof p.delay !== 'number') continue;
        const id = p.id ?? p.event.type;
        this.touched.add(id);
        this.timers.set(id, { due: plannedAt + p.delay, event: p.event });
      } else if (a.type === 'xstate.cancel') {
        const id = (a.params as { sendId: string }).sendId;
        this.touched.add(id);
        this.timers.delete(id);
      } else if (a.type === APPEND_AUDIT) {
        const d = decisionOf(a.params as AuditParams);
        if (d) this.decisions.push(d);
      }
    }
  }

  result(): ReplayResult {
    return { decisions: this.decisions, finalState: dotted(this.snapshot.value) };
  }
}

const timerKey = (e: { type: string; at: number }) => `${e.type}@${e.at}`;

function dotted(value: unknown): string {
  if (typeof value === 'string') return value;
  const [k, v] = Object.entries(value as Record<string, unknown>)[0]!;
  return `${k}.${dotted(v)}`;
}

const MIGRATION_KINDS: Record<string, Decision['kind']> = {
  'in-progress': 'migration-started',
  succeeded: 'migration-succeeded',
  failed: 'migration-failed',
  'rolled-back': 'migration-rolled-back',
};

/** The decision an audit record documents (the same mapping for replayed and stored records). */
export function decisionOf(p: {
  stream: string;
  id: string;
  at: number;
  record: Record<string, unknown>;
}): Decision | null {
  const r = p.record;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const evidence = (r.metricsSnapshot as Record<string, unknown> | null | undefined) ?? null;
  const at = new Date(p.at).toISOString();
  if (p.stream.startsWith('rollbacks:')) {
    return {
      at,
      kind: 'rollback',
      id: p.id,
      migrationId: str(r.migrationId),
      trigger: str(r.trigger),
      reason: str(r.reason),
      evidence,
    };
  }
  if (p.stream.startsWith('migrations:')) {
    const kind = MIGRATION_KINDS[String(r.status)];
    if (!kind) return null;
    return {
      at,
      kind,
      id: p.id,
      migrationId: str(r.migrationId),
      trigger: str(r.initiatedBy),
      reason: str(r.rollbackReason) ?? str(r.failureReason),
      evidence,
    };
  }
  if (p.stream.startsWith('decisions:')) {
    const kind = r.decision === 'rollback-held' ? 'hold' : str(r.decision);
    if (kind !== 'hold' && kind !== 'auto-migration-reenabled') return null;
    return {
      at,
      kind,
      id: p.id,
      migrationId: null,
      trigger: str(r.requestedBy),
      reason: str(r.reason),
      evidence,
    };
  }
  return null;
}
