import { randomUUID } from 'node:crypto';
import type { AnyMachineSnapshot, EventObject, StateValue } from 'xstate';
import {
  AlreadyExistsError,
  InvalidTransitionError,
  NotFoundError,
  RequestIdReusedError,
} from '../errors.ts';
import { auditMember, timerMember } from '../store/keys.ts';
import type {
  ActorRef,
  AuditAppend,
  CounterOp,
  IndexOp,
  JournaledEvent,
  OutboxEntry,
  TimerOp,
} from '../store/store.ts';
import { toKebab } from '../wire.ts';
import type { Cached } from './snapshot-cache.ts';
import { jsonSnapshots } from './snapshot-codec.ts';
import { type PlannedAction, stateName } from './step.ts';
import {
  APPEND_AUDIT,
  type AuditParams,
  type Chart,
  EVENT_LOG_BYTES,
  EVENT_LOG_SIZE,
  type Effect,
  type EventLogOptions,
  JOURNAL_CHECKPOINT_EVERY,
  VETO,
  requestIdPart,
} from './types.ts';
import { type Applied, type Command, type Routed, TimerGone } from './work.ts';

/** What the planner needs besides the snapshot and the commands. */
export interface PlanOptions {
  /** The time of the planning (the injected clock): event times, timer due times, leases. */
  now: number;
  /** How long an outbox entry is left to this process before a reaper may rerun it. */
  leaseMs: number;
  /** Request ids the actor remembers for idempotent retries. */
  requestIdsPerActor: number;
  /** Ids of new effects (default: random UUIDs). */
  newId?: () => string;
}

/**
 * Applies a batch of commands in order on top of `base`, in memory: the pure half of the engine.
 * The chart's actions become timer ops, audit appends, outbox effects, index ops, counters and
 * request ids of one {@link Applied.commit}; nothing is written or run here.
 *
 * @example
 * const applied = planBatch(charts.get(ref.kind), ref, base, [{ work: { kind: 'event', event } }], {
 *   now: clock.now(), leaseMs: 30_000, requestIdsPerActor: 32,
 * });
 */
export function planBatch(
  chart: Chart,
  ref: ActorRef,
  base: Cached | null,
  batch: readonly Command[],
  options: PlanOptions,
): Applied {
  const { binding, stepper } = chart;
  const { now } = options;
  let snapshot = base?.snapshot ?? null;
  const results: Applied['results'] = [];
  const actions = new ActionPlan(ref, now, base?.version ?? 0, options.newId ?? randomUUID);
  const consumed: TimerOp[] = [];
  const counters: CounterOp[] = [];
  const events: EventObject[] = [];
  const logOptions = binding.eventLog ?? DEFAULT_EVENT_LOG;
  const keep = logOptions.keep ?? valueChangedOnly;
  /** The inspection log's entries of this batch (see EventLogOptions), JSON. */
  const logged: string[] = [];
  const version = (base?.version ?? 0) + 1;
  /** For the what-if journal: applied events, and timer events even when they changed nothing. */
  const journaled: JournaledEvent[] = [];
  const encode = binding.journal?.encode ?? ((event: EventObject) => JSON.stringify(event));
  /** The state this batch created the actor in (the journal's checkpoint when there is none). */
  let created: string | undefined;
  const requestIds: string[] = [];
  let dirty = false;

  for (const pending of batch) {
    const w = pending.work;
    // The same request twice in one batch (a client retrying while the first is in flight), or
    // its id sent with another body (refused: see requestKey).
    const earlier =
      pending.requestId === undefined
        ? undefined
        : requestIds.find((k) => requestIdPart(k) === requestIdPart(pending.requestId!));
    if (earlier !== undefined && earlier !== pending.requestId) {
      results.push({ ok: false, error: new RequestIdReusedError(pending.requestId!) });
      continue;
    }
    if (earlier !== undefined) {
      results.push({
        ok: false,
        error: new AlreadyExistsError('duplicate request'),
        duplicateOf: stepper.persist(snapshot!),
      });
      continue;
    }
    try {
      if (w.kind === 'create') {
        if (snapshot)
          throw new AlreadyExistsError(`${ref.kind} ${ref.id} already exists`, { id: ref.id });
        const r = stepper.initial(w.input);
        snapshot = r.snapshot;
        actions.add(r.actions);
        dirty = true;
        if (binding.journal) created = JSON.stringify(stepper.persist(snapshot));
        if (pending.requestId !== undefined) requestIds.push(pending.requestId);
        results.push({ ok: true, state: stepper.persist(snapshot), changed: true });
        continue;
      }
      if (!snapshot) throw new NotFoundError(`${ref.kind} ${ref.id} not found`, { id: ref.id });
      // An earlier event of this batch rescheduled or cancelled the timer: it is stale.
      if (w.kind === 'timer' && actions.timers.has(w.member)) throw new TimerGone();
      if (snapshot.status !== 'active' && w.kind !== 'timer') {
        throw new InvalidTransitionError(
          `${ref.kind} ${ref.id} is in its final state "${named(snapshot)}" and accepts no events`,
          { state: named(snapshot), event: w.event.type },
        );
      }
      const event = w.event.at === undefined ? { ...w.event, at: now } : w.event;
      const r = stepper.step(snapshot, event);
      const changed = r.snapshot !== snapshot;
      if (w.kind === 'timer') {
        consumed.push({ op: 'consume', member: w.member, due: w.due });
        actions.timers.delete(w.member);
        dirty = true;
      } else if (!changed) {
        // A veto (see VETO) changes nothing in its sender: the step is taken for what it emits.
        const vetoes = r.actions.filter(isVeto);
        if (vetoes.length > 0) {
          actions.add(vetoes);
          results.push({ ok: true, state: stepper.persist(snapshot), changed: false });
          continue;
        }
        throw new InvalidTransitionError(
          `${ref.kind} ${ref.id} in state "${named(snapshot)}" does not accept ${event.type}`,
          { state: named(snapshot), event: event.type },
        );
      }
      let valueChanged = false;
      if (changed) {
        if (binding.counters) {
          counters.push(
            ...binding.counters(event, stepper.persist(snapshot), stepper.persist(r.snapshot)),
          );
        }
        const valueBefore = snapshot.value as StateValue;
        snapshot = r.snapshot;
        actions.add(r.actions);
        events.push(event);
        const value = snapshot.value as StateValue;
        valueChanged = !sameValue(valueBefore, value);
        if (logOptions.max > 0 && keep(event, valueChanged)) {
          logged.push(JSON.stringify({ ...compactEvent(event), _state: value, _v: version }));
        }
        dirty = true;
        if (pending.requestId !== undefined) requestIds.push(pending.requestId);
      }
      if (binding.journal && (changed || w.kind === 'timer')) {
        const json = encode(event, valueChanged || r.actions.length > 0);
        // The timers a step starts are due from the planning time (ActionPlan), which is later
        // than the event's own time when the poller fires a timer late or a command waited for
        // its commit: the entry keeps that time beside the event (`"t"`, see Keys.journal) so
        // the what-if replay schedules them where the engine did.
        journaled.push(
          now !== event.at && r.actions.some(startsTimer) ? { json, plannedAt: now } : { json },
        );
      }
      results.push({ ok: true, state: stepper.persist(snapshot), changed });
    } catch (error) {
      results.push({ ok: false, error });
    }
  }

  const beforeState = base ? stepper.persist(base.snapshot) : null;
  if (!dirty || !snapshot) {
    return {
      commit: null,
      before: beforeState,
      events,
      results,
      final: snapshot,
      effects: [],
      emitted: actions.emitted,
    };
  }
  const finalState = stepper.persist(snapshot);
  const before = new Set(beforeState ? binding.indexes(beforeState, ref.id) : []);
  const after = new Set(binding.indexes(finalState, ref.id));
  const indexes: IndexOp[] = [];
  for (const index of before)
    if (!after.has(index)) indexes.push({ op: 'remove', index, member: ref.id });
  for (const index of after)
    if (!before.has(index)) indexes.push({ op: 'add', index, member: ref.id });
  const outbox: OutboxEntry[] = actions.effects.map((e) => ({
    id: e.id,
    leaseUntil: now + options.leaseMs,
    json: JSON.stringify(e),
  }));
  return {
    commit: {
      ref,
      expectedVersion: base?.version ?? 0,
      snapshot: (binding.snapshotCodec ?? jsonSnapshots).encode(finalState),
      timers: [...consumed, ...actions.timers.values()],
      outbox,
      indexes,
      counters,
      audit: actions.audit,
      ...(logged.length > 0
        ? {
            eventLog: {
              events: logged,
              max: logOptions.max,
              maxBytes: logOptions.maxBytes ?? EVENT_LOG_BYTES,
            },
          }
        : {}),
      requestIds: { ids: requestIds, max: options.requestIdsPerActor },
      ...(binding.journal && binding.journal.maxEvents > 0 && journaled.length > 0
        ? {
            journal: {
              events: journaled,
              max: binding.journal.maxEvents,
              every: JOURNAL_CHECKPOINT_EVERY,
              ...(created === undefined ? {} : { initial: created }),
            },
          }
        : {}),
    },
    before: beforeState,
    events,
    results,
    final: snapshot,
    effects: actions.effects,
    emitted: actions.emitted,
  };
}

/**
 * The writes a batch's chart actions ask for: delayed raises and cancels become durable timer
 * ops (the last one per timer wins), `appendAudit` becomes an audit append, and every other
 * named action an effect for the outbox. XState's other built-ins need nothing written.
 */
class ActionPlan {
  readonly timers = new Map<string, TimerOp>();
  readonly audit: AuditAppend[] = [];
  readonly effects: Effect[] = [];
  /** `emit`ted events addressed to other actors (`to: { kind, id }`), routed by the engine. */
  readonly emitted: Routed[] = [];
  /** Orders this commit's audit records after the actor's earlier ones. */
  readonly #seq: string;

  constructor(
    readonly ref: ActorRef,
    readonly now: number,
    baseVersion: number,
    readonly newId: () => string,
  ) {
    this.#seq = String(baseVersion + 1).padStart(10, '0');
  }

  add(actions: readonly PlannedAction[]): void {
    const { ref, now } = this;
    for (const action of actions) {
      if (action.type === 'xstate.raise') {
        const p = action.params as { event: EventObject; id?: string; delay?: number };
        if (typeof p.delay !== 'number') continue;
        const sendId = p.id ?? p.event.type;
        const member = timerMember(ref.kind, ref.id, sendId);
        this.timers.delete(member);
        this.timers.set(member, {
          op: 'schedule',
          member,
          due: now + p.delay,
          event: p.event.type === sendId ? '' : JSON.stringify(p.event),
        });
      } else if (action.type === 'xstate.cancel') {
        const member = timerMember(ref.kind, ref.id, (action.params as { sendId: string }).sendId);
        this.timers.delete(member);
        this.timers.set(member, { op: 'cancel', member });
      } else if (action.type === 'xstate.emit') {
        const { to, ...event } = (action.params as { event: EventObject & { to?: unknown } }).event;
        if (!isAddress(to)) continue;
        this.emitted.push({ to, event: event });
      } else if (action.type === APPEND_AUDIT) {
        const p = action.params as AuditParams;
        this.audit.push({
          stream: p.stream,
          // Within one millisecond, records order by the actor's commit, then by position.
          member: auditMember(
            p.at,
            `${this.#seq}.${String(this.audit.length).padStart(3, '0')}.${p.id}`,
          ),
          json: JSON.stringify({ ...p.record, _stream: p.stream }),
        });
      } else if (!action.type.startsWith('xstate.')) {
        this.effects.push({
          id: this.newId(),
          kind: ref.kind,
          installationId: ref.installationId,
          actorId: ref.id,
          type: action.type,
          params: action.params ?? null,
          createdAt: now,
        });
      }
    }
  }
}

/** A delayed raise: XState's `after`, a durable timer once committed. */
function startsTimer(action: PlannedAction): boolean {
  return (
    action.type === 'xstate.raise' &&
    typeof (action.params as { delay?: unknown } | undefined)?.delay === 'number'
  );
}

function isVeto(action: PlannedAction): boolean {
  return (
    action.type === 'xstate.emit' &&
    (action.params as { event?: EventObject } | undefined)?.event?.type === VETO
  );
}

function isAddress(to: unknown): to is Routed['to'] {
  return (
    typeof to === 'object' &&
    to !== null &&
    typeof (to as Routed['to']).kind === 'string' &&
    typeof (to as Routed['to']).id === 'string'
  );
}

function named(snapshot: AnyMachineSnapshot): string {
  return toKebab(stateName(snapshot.value as StateValue));
}

const DEFAULT_EVENT_LOG: EventLogOptions = { max: EVENT_LOG_SIZE };
const valueChangedOnly = (_event: EventObject, valueChanged: boolean) => valueChanged;

/** Whether two state values are the same (strings, or nested objects of them). */
function sameValue(a: StateValue, b: StateValue): boolean {
  if (a === b) return true;
  if (typeof a === 'string' || typeof b === 'string') return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (x === undefined || y === undefined || !sameValue(x, y)) return false;
  }
  return true;
}

/** An event as logged for inspection: long arrays (latency samples) are summarised. */
function compactEvent(e: EventObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    out[k] = Array.isArray(v) && v.length > 10 ? { count: v.length, first: v.slice(0, 10) } : v;
  }
  return out;
}

/** {@link planBatch} bound to the engine's charts, clock and options. */
export type Planner = (ref: ActorRef, base: Cached | null, batch: readonly Command[]) => Applied;
