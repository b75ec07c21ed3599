import { randomUUID } from 'node:crypto';
import type { AnyMachineSnapshot, AnyStateMachine, EventObject, StateValue } from 'xstate';
import type { Clock } from '../clock.ts';
import {
  AlreadyExistsError,
  ContentionError,
  InvalidTransitionError,
  NotFoundError,
} from '../errors.ts';
import type { Logger } from '../logger.ts';
import {
  type ActorCommit,
  type ActorRef,
  type AuditAppend,
  type CounterOp,
  type IndexGuard,
  type CommitResult,
  type IndexOp,
  type OutboxEntry,
  type Store,
  type StoredActor,
  type TimerOp,
} from '../store/store.ts';
import type { RedisStore } from '../store/redis-store.ts';
import { auditMember, timerMember } from '../store/keys.ts';
import { toKebab } from '../wire.ts';
import { type Cached, LruSnapshotCache, type SnapshotCache } from './snapshot-cache.ts';
import { type PersistedState, type PlannedAction, Stepper, stateName } from './step.ts';

/** How one chart is bound to the engine. */
export interface ChartBinding {
  kind: string;
  machine: AnyStateMachine;
  /** Index names (see Keys.index) the actor belongs to in this state; kept exact on every commit. */
  indexes(state: PersistedState, actorId: string): string[];
  /** Counter increments an accepted event contributes (committed with the snapshot). */
  counters?(event: EventObject, before: PersistedState, after: PersistedState): CounterOp[];
}

/**
 * The chart action that appends an audit record in the same commit as the transition (not an
 * effect: it must never be lost, nor be visible before the decision it documents).
 */
export const APPEND_AUDIT = 'appendAudit';

export interface AuditParams {
  stream: string;
  id: string;
  at: number;
  record: Record<string, unknown>;
}

/** One event of a transaction; `optional` events that the state does not accept are skipped. */
export interface TxStep {
  ref: ActorRef;
  event: EventObject & { at?: number };
  optional?: boolean;
}

/** Options of one command. */
export interface SendOptions {
  /**
   * A client-chosen id that makes the command idempotent: the actor remembers its last
   * `IDEMPOTENCY_KEYS_PER_ACTOR` ids, checked and recorded inside the commit, and a retry with a
   * remembered id is answered from the current state (`duplicate: true`) without being applied.
   */
  requestId?: string;
}

export interface TxPlan {
  steps: TxStep[];
  /** Index memberships the plan relied on: the commit fails (and is re-planned) if they changed. */
  guards?: IndexGuard[];
}

/** Called after every commit, in the committing process, with each actor's state before/after. */
export type CommitListener = (change: {
  ref: ActorRef;
  before: PersistedState | null;
  after: PersistedState;
  events: EventObject[];
}) => void;

/** An effect taken from the outbox: a named chart action with its params. */
export interface Effect {
  id: string;
  kind: string;
  installationId: string;
  actorId: string;
  type: string;
  params: unknown;
  createdAt: number;
}

export type EffectHandler = (effect: Effect) => Promise<void> | void;

export interface EngineOptions<S extends Store = RedisStore> {
  store: S;
  clock: Clock;
  charts: readonly ChartBinding[];
  logger: Logger;
  /** Named chart actions run after commit, by name. Actions without a handler are logged. */
  effects?: Record<string, EffectHandler>;
  /** Hot snapshots kept in memory (per process) to skip a read before most commits. */
  cacheSize?: number;
  /** Compare-and-set attempts before giving up with a 503. */
  maxAttempts?: number;
  /** How long an unacknowledged outbox entry is left to its writer before a reaper reruns it. */
  outboxLeaseMs?: number;
  /** Reruns of a failing effect before it is moved to the dead-letter set (default 10). */
  maxEffectAttempts?: number;
  /** Request ids remembered per actor for idempotent retries (default 32). */
  requestIdsPerActor?: number;
}

/** The committed outcome of one event. */
export interface Outcome {
  ref: ActorRef;
  version: number;
  state: PersistedState;
  /** False when a timer event found nothing to do (e.g. a guard held). */
  changed: boolean;
  /** The command's request id had been applied before: nothing was applied this time. */
  duplicate?: boolean;
}

type Work =
  | { kind: 'create'; input: Record<string, unknown> }
  | { kind: 'event'; event: EventObject & { at?: number } }
  | { kind: 'timer'; event: EventObject & { at?: number }; member: string; due: number };

interface Pending {
  work: Work;
  requestId?: string | undefined;
  resolve(outcome: Outcome): void;
  reject(error: unknown): void;
}

interface Slot {
  ref: ActorRef;
  queue: Pending[];
  running: boolean;
}

interface Applied {
  commit: ActorCommit | null;
  before: PersistedState | null;
  events: EventObject[];
  /** Per pending: the state after it, or the error that rejects it. */
  results: (
    | { ok: true; state: PersistedState; changed: boolean }
    | { ok: false; error: unknown; duplicateOf?: PersistedState }
  )[];
  final: AnyMachineSnapshot | null;
  effects: Effect[];
}

/**
 * Turns events into persisted statechart snapshots.
 *
 * For each actor: load the snapshot (from a per-process cache, verified by version at commit),
 * compute the next one with a pure transition, and commit snapshot + timers + outbox + indexes
 * in one Lua compare-and-set. Events for the same actor that arrive while a commit is in flight
 * are applied together in the next commit; commits of one installation issued in the same tick
 * share one script call. On a version conflict the script returns the current snapshot and the
 * events are applied again on top of it, so no update is lost across processes.
 *
 * @example
 * const engine = new Engine({ store, clock, charts: [connectionBinding(machine)], logger });
 * await engine.create(ref, { connectionId: 'c1', installationId: 'i1', workspaceId: 'w1' });
 * await engine.send(ref, { type: 'HANDSHAKE', protocolVersion: '1.2.0', negotiatedCapabilities: [] });
 */
export class Engine<S extends Store = RedisStore> {
  readonly store: S;
  readonly clock: Clock;
  readonly #charts = new Map<string, { binding: ChartBinding; stepper: Stepper }>();
  readonly #logger: Logger;
  readonly #effects: Record<string, EffectHandler>;
  readonly #cache: SnapshotCache;
  readonly #maxAttempts: number;
  readonly #leaseMs: number;
  readonly #maxEffectAttempts: number;
  readonly #requestIdsPerActor: number;
  readonly #slots = new Map<string, Slot>();
  readonly #running = new Set<Promise<unknown>>();
  readonly #listeners: CommitListener[] = [];
  #batch = new Map<
    string,
    { commits: ActorCommit[]; waiters: ((r: CommitResult | Error) => void)[] }
  >();
  #flushScheduled = false;
  /** Counters for metrics and benchmarks. */
  readonly stats = { commits: 0, scriptCalls: 0, conflicts: 0, effectsRun: 0, effectsFailed: 0 };

  constructor(options: EngineOptions<S>) {
    this.store = options.store;
    this.clock = options.clock;
    this.#logger = options.logger;
    this.#effects = { ...(options.effects ?? {}) };
    this.#cache = new LruSnapshotCache(options.cacheSize ?? 10_000);
    this.#maxAttempts = options.maxAttempts ?? 25;
    this.#leaseMs = options.outboxLeaseMs ?? 30_000;
    this.#maxEffectAttempts = options.maxEffectAttempts ?? 10;
    this.#requestIdsPerActor = options.requestIdsPerActor ?? 32;
    for (const binding of options.charts) {
      this.#charts.set(binding.kind, { binding, stepper: new Stepper(binding.machine) });
    }
  }

  chart(kind: string): { binding: ChartBinding; stepper: Stepper } {
    const chart = this.#charts.get(kind);
    if (!chart) throw new Error(`no chart bound for kind "${kind}"`);
    return chart;
  }

  /** Creates an actor in its chart's initial state; fails with 409 if it exists. */
  create(
    ref: ActorRef,
    input: Record<string, unknown>,
    options: SendOptions = {},
  ): Promise<Outcome> {
    return this.#enqueue(
      ref,
      { kind: 'create', input: { at: this.clock.now(), ...input } },
      options.requestId,
    );
  }

  /** Applies one event; rejects with 404 for an unknown actor, 409 if the state does not accept it. */
  send(
    ref: ActorRef,
    event: EventObject & { at?: number },
    options: SendOptions = {},
  ): Promise<Outcome> {
    return this.#enqueue(ref, { kind: 'event', event }, options.requestId);
  }

  /** Reads the committed state from Redis (the source of truth), bypassing the cache. */
  async read(ref: ActorRef): Promise<{ version: number; state: PersistedState } | null> {
    const stored = await this.store.load(ref);
    return stored
      ? { version: stored.version, state: JSON.parse(stored.snapshot) as PersistedState }
      : null;
  }

  async readMany(
    refs: readonly ActorRef[],
  ): Promise<({ version: number; state: PersistedState } | null)[]> {
    const stored = await this.store.loadMany(refs);
    return stored.map((s) =>
      s ? { version: s.version, state: JSON.parse(s.snapshot) as PersistedState } : null,
    );
  }

  /**
   * Fires every durable timer that is due by the injected clock, across all installations.
   * Safe to run from many processes at once: the commit consumes the timer atomically, so each
   * fires once. Returns how many timers this call fired.
   */
  async fireDueTimers(limitPerInstallation = 500): Promise<number> {
    const now = this.clock.now();
    let fired = 0;
    for (const installationId of await this.store.installations()) {
      const due = await this.store.dueTimers(installationId, now, limitPerInstallation);
      const outcomes = await Promise.allSettled(
        due.map(async (t) => {
          const event = (t.event ? JSON.parse(t.event) : { type: t.sendId }) as EventObject & {
            at?: number;
          };
          event.at ??= t.due;
          return this.#enqueue(
            { kind: t.kind, installationId, id: t.actorId },
            { kind: 'timer', event, member: t.member, due: t.due },
          );
        }),
      );
      for (const [i, o] of outcomes.entries()) {
        if (o.status === 'fulfilled') fired++;
        else if (!(o.reason instanceof TimerGone)) {
          const t = due[i]!;
          if (isTransient(o.reason)) {
            this.#logger.warn('timer not fired yet; retrying on the next poll', {
              member: t.member,
              error: String(o.reason),
            });
            continue;
          }
          // A timer that cannot be applied (unknown actor, corrupt event, failing action) would
          // come back on every poll and starve the others: it is moved aside, with the reason.
          this.#logger.error('timer failed; moved to the dead timers', {
            member: t.member,
            error: String(o.reason),
          });
          await this.store.deadLetterTimer(installationId, t.member, t.due, String(o.reason));
        }
      }
    }
    return fired;
  }

  /**
   * Reruns outbox entries whose writer did not acknowledge them before their lease expired
   * (e.g. it crashed between commit and effect). Returns how many effects ran successfully.
   */
  async reapOutbox(limitPerInstallation = 200): Promise<number> {
    const now = this.clock.now();
    let ran = 0;
    for (const installationId of await this.store.installations()) {
      const claimed = await this.store.claimOutbox(
        installationId,
        now,
        now + this.#leaseMs,
        limitPerInstallation,
        this.#maxEffectAttempts,
      );
      const results = await Promise.all(
        claimed.map((c) => this.#runEffect(JSON.parse(c.json) as Effect)),
      );
      ran += results.filter(Boolean).length;
    }
    return ran;
  }

  /** Adds (or replaces) the handler of a named chart action run from the outbox. */
  registerEffect(type: string, handler: EffectHandler): void {
    this.#effects[type] = handler;
  }

  /** Registers a listener called after each commit this process makes. */
  onCommit(listener: CommitListener): void {
    this.#listeners.push(listener);
  }

  /**
   * Applies events to several actors of one installation as one atomic decision: every snapshot,
   * timer, outbox entry and audit record is written, or none is. `plan` sees the current states
   * (loaded from Redis, the source of truth) and is run again after any conflict, so it must be
   * a pure function of what it is given. Returns null when the plan is empty.
   *
   * @example
   * await engine.transact('inst-1', async () => [wsRef, ...connRefs], (states) => ({ steps: [...] }));
   */
  async transact(
    installationId: string,
    refs: () => Promise<ActorRef[]>,
    plan: (states: (PersistedState | null)[], refs: ActorRef[]) => TxPlan | null,
    options: SendOptions = {},
  ): Promise<Outcome[] | null> {
    const { requestId } = options;
    for (let attempt = 1; ; attempt++) {
      const targets = await refs();
      const stored = await this.store.loadMany(targets);
      const cached = targets.map((ref, i) =>
        this.#restore(this.chart(ref.kind).stepper, stored[i] ?? null),
      );
      const txPlan = plan(
        cached.map((c, i) => (c ? this.chart(targets[i]!.kind).stepper.persist(c.snapshot) : null)),
        targets,
      );
      if (!txPlan || txPlan.steps.length === 0) return null;

      // Group the steps per actor, in order; each actor gets one commit.
      const byActor = new Map<
        string,
        { ref: ActorRef; base: Cached | null; pending: Pending[]; optional: boolean[] }
      >();
      for (const step of txPlan.steps) {
        if (step.ref.installationId !== installationId)
          throw new Error('a transaction spans one installation');
        const key = this.store.actorKey(step.ref);
        let entry = byActor.get(key);
        if (!entry) {
          const i = targets.findIndex((t) => this.store.actorKey(t) === key);
          entry = {
            ref: step.ref,
            base: i >= 0 ? (cached[i] ?? null) : null,
            pending: [],
            optional: [],
          };
          byActor.set(key, entry);
        }
        entry.pending.push({
          work: { kind: 'event', event: step.event },
          // The request id belongs to the transaction's first step (its deciding actor).
          requestId: step === txPlan.steps[0] ? requestId : undefined,
          resolve: () => {},
          reject: () => {},
        });
        entry.optional.push(step.optional ?? false);
      }
      const applied: { key: string; ref: ActorRef; applied: Applied }[] = [];
      for (const [key, entry] of byActor) {
        const a = this.#apply(entry.ref, entry.base, entry.pending);
        await this.#retriedRefusals(entry.ref, entry.pending, a);
        for (const [i, r] of a.results.entries()) {
          if (r.ok || entry.optional[i]) continue;
          if (r.duplicateOf) {
            return [
              {
                ref: entry.ref,
                version: entry.base?.version ?? 0,
                state: r.duplicateOf,
                changed: false,
                duplicate: true,
              },
            ];
          }
          throw r.error;
        }
        if (a.commit) applied.push({ key, ref: entry.ref, applied: a });
      }
      if (applied.length === 0) return null;
      const commits = applied.map((a) => a.applied.commit!);
      if (txPlan.guards?.length) commits[0]!.guards = txPlan.guards;
      const results = await this.store.commit(installationId, commits, 'all');
      this.stats.scriptCalls++;
      if (results.every((r) => r.status === 'committed')) {
        return applied.map((a, i) => {
          const version = (results[i] as { version: number }).version;
          this.#committed(a.key, a.ref, a.applied, version);
          const last = [...a.applied.results].reverse().find((r) => r.ok) as
            { state: PersistedState } | undefined;
          return { ref: a.ref, version, state: last?.state ?? a.applied.before!, changed: true };
        });
      }
      const duplicate = results.findIndex((r) => r.status === 'duplicate');
      if (duplicate >= 0) {
        const ref = applied[duplicate]!.ref;
        const found = await this.read(ref);
        if (!found) throw new NotFoundError(`${ref.kind} ${ref.id} not found`, { id: ref.id });
        return [
          { ref, version: found.version, state: found.state, changed: false, duplicate: true },
        ];
      }
      this.stats.conflicts++;
      for (const a of applied) this.#cache.forget(a.key);
      if (attempt >= this.#maxAttempts) {
        throw new ContentionError(`gave up a transaction after ${attempt} conflicting attempts`);
      }
    }
  }

  /** Resolves when every effect started by this process has finished. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /**
   * Whether the chart of `kind` accepts `event` in `state`: services ask the chart instead of
   * repeating its guards (XState's `snapshot.can`).
   */
  can(kind: string, state: PersistedState, event: EventObject): boolean {
    return this.chart(kind).stepper.restore(state).can(event);
  }

  /**
   * The state this process last committed for `ref`, if it is newer than `version`: what a
   * request answers after the consequences of its commit (e.g. a rollback) were committed.
   */
  newerThan(ref: ActorRef, version: number): { version: number; state: PersistedState } | null {
    const cached = this.#cache.get(this.store.actorKey(ref));
    if (!cached || cached.version <= version) return null;
    return {
      version: cached.version,
      state: this.chart(ref.kind).stepper.persist(cached.snapshot),
    };
  }

  /** Forgets cached snapshots (simulates a fresh process in tests). */
  clearCache(): void {
    this.#cache.clear();
  }

  #enqueue(ref: ActorRef, work: Work, requestId?: string): Promise<Outcome> {
    const key = this.store.actorKey(ref);
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { ref, queue: [], running: false };
      this.#slots.set(key, slot);
    }
    const promise = new Promise<Outcome>((resolve, reject) =>
      slot.queue.push({ work, requestId, resolve, reject }),
    );
    if (!slot.running) {
      slot.running = true;
      void this.#drain(key, slot);
    }
    return promise;
  }

  async #drain(key: string, slot: Slot): Promise<void> {
    try {
      while (slot.queue.length > 0) {
        const batch = slot.queue.splice(0, slot.queue.length);
        try {
          await this.#process(key, slot.ref, batch);
        } catch (error) {
          this.#cache.forget(key);
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      slot.running = false;
      this.#slots.delete(key);
    }
  }

  async #process(key: string, ref: ActorRef, batch: Pending[]): Promise<void> {
    const { stepper } = this.chart(ref.kind);
    let base: Cached | null | undefined = this.#cache.get(key);
    // A cached snapshot may be behind another process's commit. Anything that is written is
    // checked by the compare-and-set; a refusal writes nothing, so it is only final once the
    // version it was decided on has been confirmed against Redis.
    let confirmed = base === undefined;
    if (base === undefined) base = this.#restore(stepper, await this.store.load(ref));
    let work = batch;
    for (let attempt = 1; ; attempt++) {
      const applied = this.#apply(ref, base, work);
      if (applied.commit === null) {
        if (!confirmed && applied.results.some((r) => !r.ok && isRefusal(r.error))) {
          confirmed = true;
          const current = await this.store.load(ref);
          if ((current?.version ?? 0) !== (base?.version ?? 0)) {
            this.#cache.forget(key);
            base = this.#restore(stepper, current);
            continue;
          }
        }
        await this.#retriedRefusals(ref, work, applied);
        settle(work, applied, base?.version ?? 0, ref);
        return;
      }
      const result = await this.#commit(ref.installationId, applied.commit);
      if (result.status === 'committed') {
        this.#committed(key, ref, applied, result.version);
        await this.#retriedRefusals(ref, work, applied);
        settle(work, applied, result.version, ref);
        return;
      }
      if (result.status === 'duplicate') {
        // A retry of a command that was applied before: answer it from the current state and
        // apply the rest of the batch on top of that state.
        const current = await this.store.load(ref);
        this.#cache.forget(key);
        base = this.#restore(stepper, current);
        confirmed = true;
        const state = base ? stepper.persist(base.snapshot) : null;
        for (const p of work) {
          if (p.requestId !== result.requestId) continue;
          if (state)
            p.resolve({ ref, version: base!.version, state, changed: false, duplicate: true });
          else p.reject(new NotFoundError(`${ref.kind} ${ref.id} not found`, { id: ref.id }));
        }
        work = work.filter((p) => p.requestId !== result.requestId);
        if (work.length === 0) return;
        continue;
      }
      if (result.status === 'timer-gone') {
        // Another process fired (or a commit rescheduled) the timer: drop the timer work only.
        for (const p of work) if (p.work.kind === 'timer') p.reject(new TimerGone());
        work = work.filter((p) => p.work.kind !== 'timer');
        if (work.length === 0) return;
        continue;
      }
      this.stats.conflicts++;
      confirmed = true;
      base =
        result.status === 'conflict'
          ? this.#restore(stepper, result.current)
          : this.#restore(stepper, await this.store.load(ref));
      if (attempt >= this.#maxAttempts) {
        throw new ContentionError(
          `gave up after ${attempt} conflicting writes to ${ref.kind} ${ref.id}`,
        );
      }
    }
  }

  /**
   * A refused command whose request id the actor remembers is a retry of one that was applied
   * (the state has moved on since): it is answered as a duplicate, not refused.
   */
  async #retriedRefusals(ref: ActorRef, work: readonly Pending[], applied: Applied): Promise<void> {
    const candidates = work
      .map((p, i) => ({ p, r: applied.results[i]! }))
      .filter(({ p, r }) => p.requestId !== undefined && !r.ok && isRefusal(r.error));
    if (candidates.length === 0) return;
    const seen = await this.store.seenRequestIds(
      ref,
      candidates.map(({ p }) => p.requestId!),
    );
    const state = applied.final ? this.chart(ref.kind).stepper.persist(applied.final) : null;
    candidates.forEach(({ r }, i) => {
      if (seen[i] && state && !r.ok) r.duplicateOf = state;
    });
  }

  #committed(key: string, ref: ActorRef, applied: Applied, version: number): void {
    this.stats.commits++;
    this.#cache.remember(key, { version, snapshot: applied.final! });
    for (const effect of applied.effects) this.#startEffect(effect);
    if (this.#listeners.length === 0) return;
    const after = this.chart(ref.kind).stepper.persist(applied.final!);
    for (const listener of this.#listeners) {
      try {
        listener({ ref, before: applied.before, after, events: applied.events });
      } catch (error) {
        this.#logger.error('commit listener failed', { error: String(error) });
      }
    }
  }

  #restore(stepper: Stepper, stored: StoredActor | null): Cached | null {
    if (!stored) return null;
    return {
      version: stored.version,
      snapshot: stepper.restore(JSON.parse(stored.snapshot) as PersistedState),
    };
  }

  /** Applies the batch in order on top of `base`; pure apart from reading the clock. */
  #apply(ref: ActorRef, base: Cached | null, batch: readonly Pending[]): Applied {
    const { binding, stepper } = this.chart(ref.kind);
    const now = this.clock.now();
    let snapshot = base?.snapshot ?? null;
    const results: Applied['results'] = [];
    const timerOps = new Map<string, TimerOp>();
    const consumed: TimerOp[] = [];
    const effects: Effect[] = [];
    const audit: AuditAppend[] = [];
    const seq = String((base?.version ?? 0) + 1).padStart(10, '0');
    const counters: CounterOp[] = [];
    const events: EventObject[] = [];
    const requestIds: string[] = [];
    let dirty = false;

    const plan = (actions: readonly PlannedAction[]) => {
      for (const action of actions) {
        if (action.type === 'xstate.raise') {
          const p = action.params as { event: EventObject; id?: string; delay?: number };
          if (typeof p.delay !== 'number') continue;
          const sendId = p.id ?? p.event.type;
          const member = timerMember(ref.kind, ref.id, sendId);
          timerOps.delete(member);
          timerOps.set(member, {
            op: 'schedule',
            member,
            due: now + p.delay,
            event: p.event.type === sendId ? '' : JSON.stringify(p.event),
          });
        } else if (action.type === 'xstate.cancel') {
          const member = timerMember(
            ref.kind,
            ref.id,
            (action.params as { sendId: string }).sendId,
          );
          timerOps.delete(member);
          timerOps.set(member, { op: 'cancel', member });
        } else if (action.type === APPEND_AUDIT) {
          const p = action.params as AuditParams;
          audit.push({
            stream: p.stream,
            // Within one millisecond, records order by the actor's commit, then by position.
            member: auditMember(p.at, `${seq}.${String(audit.length).padStart(3, '0')}.${p.id}`),
            json: JSON.stringify({ ...p.record, _stream: p.stream }),
          });
        } else if (!action.type.startsWith('xstate.')) {
          effects.push({
            id: randomUUID(),
            kind: ref.kind,
            installationId: ref.installationId,
            actorId: ref.id,
            type: action.type,
            params: action.params ?? null,
            createdAt: now,
          });
        }
      }
    };

    for (const pending of batch) {
      const w = pending.work;
      // The same request twice in one batch (a client retrying while the first is in flight).
      if (pending.requestId !== undefined && requestIds.includes(pending.requestId)) {
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
          plan(r.actions);
          dirty = true;
          if (pending.requestId !== undefined) requestIds.push(pending.requestId);
          results.push({ ok: true, state: stepper.persist(snapshot), changed: true });
          continue;
        }
        if (!snapshot) throw new NotFoundError(`${ref.kind} ${ref.id} not found`, { id: ref.id });
        // An earlier event of this batch rescheduled or cancelled the timer: it is stale.
        if (w.kind === 'timer' && timerOps.has(w.member)) throw new TimerGone();
        if (snapshot.status !== 'active' && w.kind !== 'timer') {
          throw new InvalidTransitionError(
            `${ref.kind} ${ref.id} is in its final state "${toKebab(stateName(snapshot.value as StateValue))}" and accepts no events`,
            { state: toKebab(stateName(snapshot.value as StateValue)), event: w.event.type },
          );
        }
        const event = w.event.at === undefined ? { ...w.event, at: now } : w.event;
        const r = stepper.step(snapshot, event);
        const changed = r.snapshot !== snapshot;
        if (w.kind === 'timer') {
          consumed.push({ op: 'consume', member: w.member, due: w.due });
          timerOps.delete(w.member);
          dirty = true;
        } else if (!changed) {
          throw new InvalidTransitionError(
            `${ref.kind} ${ref.id} in state "${toKebab(stateName(snapshot.value as StateValue))}" does not accept ${event.type}`,
            { state: toKebab(stateName(snapshot.value as StateValue)), event: event.type },
          );
        }
        if (changed) {
          if (binding.counters) {
            counters.push(
              ...binding.counters(event, stepper.persist(snapshot), stepper.persist(r.snapshot)),
            );
          }
          snapshot = r.snapshot;
          plan(r.actions);
          events.push(event);
          dirty = true;
          if (pending.requestId !== undefined) requestIds.push(pending.requestId);
        }
        results.push({ ok: true, state: stepper.persist(snapshot), changed });
      } catch (error) {
        results.push({ ok: false, error });
      }
    }

    const beforeState = base ? stepper.persist(base.snapshot) : null;
    if (!dirty || !snapshot) {
      return { commit: null, before: beforeState, events, results, final: snapshot, effects: [] };
    }
    const finalState = stepper.persist(snapshot);
    const before = new Set(beforeState ? binding.indexes(beforeState, ref.id) : []);
    const after = new Set(binding.indexes(finalState, ref.id));
    const indexes: IndexOp[] = [];
    for (const index of before)
      if (!after.has(index)) indexes.push({ op: 'remove', index, member: ref.id });
    for (const index of after)
      if (!before.has(index)) indexes.push({ op: 'add', index, member: ref.id });
    const outbox: OutboxEntry[] = effects.map((e) => ({
      id: e.id,
      leaseUntil: now + this.#leaseMs,
      json: JSON.stringify(e),
    }));
    return {
      commit: {
        ref,
        expectedVersion: base?.version ?? 0,
        snapshot: JSON.stringify(finalState),
        timers: [...consumed, ...timerOps.values()],
        outbox,
        indexes,
        counters,
        audit,
        eventLog: {
          events: events.map((e) => JSON.stringify(compactEvent(e))),
          max: EVENT_LOG_SIZE,
        },
        requestIds: { ids: requestIds, max: this.#requestIdsPerActor },
      },
      before: beforeState,
      events,
      results,
      final: snapshot,
      effects,
    };
  }

  /** Queues a commit into this tick's per-installation script call. */
  #commit(installationId: string, commit: ActorCommit): Promise<CommitResult> {
    return new Promise((resolve, reject) => {
      let group = this.#batch.get(installationId);
      if (!group) {
        group = { commits: [], waiters: [] };
        this.#batch.set(installationId, group);
      }
      group.commits.push(commit);
      group.waiters.push((r) => (r instanceof Error ? reject(r) : resolve(r)));
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    const batch = this.#batch;
    this.#batch = new Map();
    this.#flushScheduled = false;
    for (const [installationId, group] of batch) {
      for (let i = 0; i < group.commits.length; i += MAX_ACTORS_PER_SCRIPT) {
        const commits = group.commits.slice(i, i + MAX_ACTORS_PER_SCRIPT);
        const waiters = group.waiters.slice(i, i + MAX_ACTORS_PER_SCRIPT);
        this.stats.scriptCalls++;
        this.store.commit(installationId, commits).then(
          (results) => results.forEach((r, j) => waiters[j]!(r)),
          (error: unknown) => {
            const e = error instanceof Error ? error : new Error(String(error));
            for (const w of waiters) w(e);
          },
        );
      }
    }
  }

  #startEffect(effect: Effect): void {
    const run = this.#runEffect(effect).finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  /** Runs one effect and acknowledges it; a failure leaves it for the reaper (at least once). */
  async #runEffect(effect: Effect): Promise<boolean> {
    const handler = this.#effects[effect.type];
    try {
      if (handler) await handler(effect);
      else
        this.#logger.info('effect has no handler; recorded only', {
          type: effect.type,
          actorId: effect.actorId,
        });
      await this.store.ackOutbox(effect.installationId, [effect.id]);
      this.stats.effectsRun++;
      return true;
    } catch (error) {
      this.stats.effectsFailed++;
      this.#logger.warn('effect failed; it will be retried after its lease', {
        type: effect.type,
        id: effect.id,
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
  }
}

const MAX_ACTORS_PER_SCRIPT = 256;

/** How many applied events each actor keeps for inspection. */
export const EVENT_LOG_SIZE = 20;

/** An event as logged for inspection: long arrays (latency samples) are summarised. */
function compactEvent(e: EventObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    out[k] = Array.isArray(v) && v.length > 10 ? { count: v.length, first: v.slice(0, 10) } : v;
  }
  return out;
}

/** Failures worth retrying (contention, Redis unavailable), as opposed to a broken timer. */
function isTransient(error: unknown): boolean {
  return (
    error instanceof ContentionError ||
    /ECONN|Connection is closed|MaxRetriesPerRequest|READONLY|LOADING|CLUSTERDOWN|TRYAGAIN|BUSY/i.test(
      String(error),
    )
  );
}

/** A decision not to write (as opposed to a failure): it must rest on the current version. */
function isRefusal(error: unknown): boolean {
  return (
    error instanceof InvalidTransitionError ||
    error instanceof NotFoundError ||
    error instanceof AlreadyExistsError
  );
}

/** A timer that another process already fired, or that a later commit moved. */
export class TimerGone extends Error {
  constructor() {
    super('timer already fired or cancelled');
    this.name = 'TimerGone';
  }
}

function settle(work: readonly Pending[], applied: Applied, version: number, ref: ActorRef): void {
  work.forEach((p, i) => {
    const r = applied.results[i]!;
    if (r.ok) p.resolve({ ref, version, state: r.state, changed: r.changed });
    else if (r.duplicateOf)
      p.resolve({ ref, version, state: r.duplicateOf, changed: false, duplicate: true });
    else p.reject(r.error);
  });
}
