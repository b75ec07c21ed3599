import type { EventObject } from 'xstate';
import type { Clock } from '../clock.ts';
import { InvalidTransitionError, NotFoundError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { RedisStore } from '../store/redis-store.ts';
import type { ActorRef, Store, StoredActor } from '../store/store.ts';
import { ActorLoop } from './actor-loop.ts';
import { AfterCommit } from './after-commit.ts';
import { Chains, DELIVER } from './chain.ts';
import { ChartRegistry } from './charts.ts';
import { EffectRunner } from './effect-runner.ts';
import { Mailbox } from './mailbox.ts';
import { type Planner, planBatch } from './planner.ts';
import { LruSnapshotCache, type SnapshotCache } from './snapshot-cache.ts';
import type { PersistedState } from './step.ts';
import { TickBatcher } from './tick-batcher.ts';
import { TimerPoller } from './timer-poller.ts';
import type {
  Chart,
  ChartBinding,
  CommitListener,
  EffectHandler,
  EngineStats,
  Outcome,
  SendOptions,
} from './types.ts';

export * from './types.ts';
export { TimerGone } from './work.ts';

/** Options of the {@link Engine}; each default is given next to it. */
export interface EngineOptions<S extends Store = RedisStore> {
  store: S;
  clock: Clock;
  charts: readonly ChartBinding[];
  logger: Logger;
  /** Named chart actions run after commit, by name. Actions without a handler are logged. */
  effects?: Record<string, EffectHandler>;
  /** Snapshots kept in memory (per process) to skip a read before most commits (10 000). */
  cacheSize?: number;
  /** Of those, kept as restored objects rather than as their text (HOT_SNAPSHOTS). */
  hotSnapshots?: number;
  /** Compare-and-set attempts before giving up with a ContentionError (25). */
  maxAttempts?: number;
  /** How long an unacknowledged outbox entry is left to its writer before a reaper reruns it (30 s). */
  outboxLeaseMs?: number;
  /** Attempts of a failing effect, the first included, before it is dead-lettered (10). */
  maxEffectAttempts?: number;
  /** Delay before an effect's second attempt, doubled after each further failure (5 s). */
  effectRetryBaseDelayMs?: number;
  /** Longest delay between two attempts of an effect (1 h). */
  effectRetryMaxDelayMs?: number;
  /** Request ids remembered per actor for idempotent retries (32). */
  requestIdsPerActor?: number;
  /** Actors one chain of events commits at most; the rest are delivered from the outbox (1000). */
  fanOutLimit?: number;
}

type Read = { version: number; state: PersistedState } | null;

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
 * This class only wires its units: {@link Mailbox} (per-actor queue), {@link ActorLoop}
 * (compare-and-set), {@link planBatch} (pure planning), {@link TickBatcher} (per-tick script
 * calls), {@link Chains} (events between actors, committed together), {@link TimerPoller} and {@link EffectRunner}, over a
 * {@link Store} and a {@link SnapshotCache}.
 *
 * @example
 * const engine = new Engine({ store, clock, charts: [connectionBinding(machine)], logger });
 * await engine.create(ref, { connectionId: 'c1', installationId: 'i1', workspaceId: 'w1' });
 * await engine.send(ref, { type: 'HANDSHAKE', protocolVersion: '1.2.0', negotiatedCapabilities: [] });
 */
export class Engine<S extends Store = RedisStore> {
  readonly store: S;
  readonly clock: Clock;
  /** Counters for metrics and benchmarks. */
  readonly stats: EngineStats = {
    commits: 0,
    scriptCalls: 0,
    conflicts: 0,
    effectsRun: 0,
    effectsFailed: 0,
  };
  readonly #charts: ChartRegistry;
  readonly #cache: SnapshotCache;
  readonly #effects: EffectRunner;
  readonly #afterCommit: AfterCommit;
  readonly #mailbox: Mailbox;
  readonly #timers: TimerPoller;

  constructor(options: EngineOptions<S>) {
    const { store, clock, logger, stats } = { ...options, stats: this.stats };
    this.store = store;
    this.clock = clock;
    const leaseMs = options.outboxLeaseMs ?? 30_000;
    const maxAttempts = options.maxAttempts ?? 25;
    const requestIdsPerActor = options.requestIdsPerActor ?? 32;
    const charts = (this.#charts = new ChartRegistry(options.charts));
    const cache = (this.#cache = new LruSnapshotCache(options.cacheSize ?? 10_000, {
      restore: (kind, text) => charts.restoreText(kind, text),
      ...(options.hotSnapshots !== undefined ? { hot: options.hotSnapshots } : {}),
    }));
    this.#effects = new EffectRunner({
      store,
      logger,
      stats,
      now: () => clock.now(),
      retry: {
        leaseMs,
        maxAttempts: options.maxEffectAttempts ?? 10,
        baseDelayMs: options.effectRetryBaseDelayMs ?? 5000,
        maxDelayMs: options.effectRetryMaxDelayMs ?? 3_600_000,
      },
      ...(options.effects ? { handlers: options.effects } : {}),
    });
    const afterCommit = (this.#afterCommit = new AfterCommit(
      charts,
      cache,
      this.#effects,
      stats,
      logger,
    ));
    const plan: Planner = (ref, base, batch) =>
      planBatch(charts.get(ref.kind), ref, base, batch, {
        now: clock.now(),
        leaseMs,
        requestIdsPerActor,
      });
    const commits = new TickBatcher(store, stats);
    const chains = new Chains({
      store,
      charts,
      cache,
      plan,
      afterCommit,
      stats,
      logger,
      maxAttempts,
      leaseMs,
      now: () => clock.now(),
      ...(options.fanOutLimit ? { fanOutLimit: options.fanOutLimit } : {}),
    });
    const loop = new ActorLoop({
      store,
      charts,
      cache,
      plan,
      commits,
      chains,
      afterCommit,
      stats,
      maxAttempts,
    });
    this.#mailbox = new Mailbox(store, loop);
    this.#timers = new TimerPoller(store, this.#mailbox, logger);
    // Events beyond a chain's fan-out limit are delivered from the outbox, after the commit.
    this.#effects.register(DELIVER, async (effect) => {
      const { to, event } = effect.params as {
        to: { kind: string; id: string };
        event: EventObject;
      };
      await this.send({ kind: to.kind, installationId: effect.installationId, id: to.id }, event, {
        requestId: `deliver:${effect.id}`,
      }).catch((error: unknown) => {
        // The receiver refused it (it moved on meanwhile): delivered, nothing to retry.
        if (!(error instanceof InvalidTransitionError || error instanceof NotFoundError)) {
          throw error;
        }
      });
    });
  }

  /** The chart bound for `kind`, with its stepper; throws if none is. */
  chart(kind: string): Chart {
    return this.#charts.get(kind);
  }

  /** Creates an actor in its chart's initial state; fails with AlreadyExistsError if it exists. */
  create(
    ref: ActorRef,
    input: Record<string, unknown>,
    options: SendOptions = {},
  ): Promise<Outcome> {
    return this.#mailbox.enqueue(
      ref,
      { kind: 'create', input: { at: this.clock.now(), ...input } },
      options.requestId,
    );
  }

  /**
   * Applies one event; rejects with NotFoundError for an unknown actor, InvalidTransitionError
   * if the state does not accept it.
   */
  send(
    ref: ActorRef,
    event: EventObject & { at?: number; [field: string]: unknown },
    options: SendOptions = {},
  ): Promise<Outcome> {
    return this.#mailbox.enqueue(ref, { kind: 'event', event }, options.requestId);
  }

  /** Reads the committed state from the store (the source of truth), bypassing the cache. */
  async read(ref: ActorRef): Promise<Read> {
    return this.#parse(ref.kind, await this.store.load(ref));
  }

  /**
   * {@link read} together with the sizes of indexes of the actor's installation, in one atomic
   * read: a commit that changes both is seen in both or in neither.
   */
  async readWithIndexSizes(
    ref: ActorRef,
    indexes: readonly string[],
  ): Promise<{ read: Read; sizes: number[] }> {
    const { stored, sizes } = await this.store.loadWithIndexSizes(ref, indexes);
    return { read: this.#parse(ref.kind, stored), sizes };
  }

  /** {@link read} for many actors in one round trip. */
  async readMany(refs: readonly ActorRef[]): Promise<Read[]> {
    const stored = await this.store.loadMany(refs);
    return stored.map((s, i) => this.#parse(refs[i]!.kind, s));
  }

  /**
   * Fires every durable timer that is due by the injected clock, across all installations.
   * Safe to run from many processes at once: the commit consumes the timer atomically, so each
   * fires once. Returns how many timers this call fired.
   */
  fireDueTimers(limitPerInstallation = 500): Promise<number> {
    return this.#timers.fireDue(this.clock.now(), limitPerInstallation);
  }

  /**
   * Reruns outbox entries whose time has come: failed effects after their backoff, and those
   * whose writer did not report before their lease expired (e.g. it crashed between commit and
   * effect). Returns how many effects ran successfully.
   */
  reapOutbox(limitPerInstallation = 200): Promise<number> {
    return this.#effects.reap(this.clock.now(), limitPerInstallation);
  }

  /** Adds (or replaces) the handler of a named chart action run from the outbox. */
  registerEffect(type: string, handler: EffectHandler): void {
    this.#effects.register(type, handler);
  }

  /** Registers a listener called after each commit this process makes. */
  onCommit(listener: CommitListener): void {
    this.#afterCommit.onCommit(listener);
  }

  /** Resolves when every effect started by this process has finished. */
  idle(): Promise<void> {
    return this.#effects.idle();
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
  newerThan(ref: ActorRef, version: number): Read {
    const cached = this.#cache.get(this.store.actorKey(ref));
    if (!cached || cached.version <= version) return null;
    return {
      version: cached.version,
      state: this.chart(ref.kind).stepper.persist(cached.snapshot),
    };
  }

  #parse(kind: string, stored: StoredActor | null): Read {
    return stored
      ? { version: stored.version, state: this.#charts.decode(kind, stored.snapshot) }
      : null;
  }

  /** Forgets cached snapshots (simulates a fresh process in tests). */
  clearCache(): void {
    this.#cache.clear();
  }
}
