import { randomUUID } from 'node:crypto';
import { ContentionError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ActorRef, CommitResult, OutboxEntry, Store } from '../store/store.ts';
import type { AfterCommit } from './after-commit.ts';
import type { ChartRegistry } from './charts.ts';
import type { Planner } from './planner.ts';
import type { Cached, SnapshotCache } from './snapshot-cache.ts';
import { MAX_CHAIN_COMMANDS, causalOrder, sameTags, sourcesWithin } from './chain-order.ts';
import { type EngineStats, VETO } from './types.ts';
import { type Veto, vetoedSources } from './vetoes.ts';
import type { Applied, Command, Pending, Routed } from './work.ts';

/** What {@link Chains} work with. */
export interface ChainsOptions {
  store: Store;
  charts: ChartRegistry;
  cache: SnapshotCache;
  plan: Planner;
  afterCommit: AfterCommit;
  stats: EngineStats;
  logger: Logger;
  maxAttempts: number;
  /** Lease of an outbox delivery (see {@link DELIVER}). */
  leaseMs: number;
  now: () => number;
  /** Actors one chain commits at most; events for further actors go through the outbox. */
  fanOutLimit?: number;
  newId?: () => string;
}

/** The built-in effect that delivers a routed event after commit (fan-out beyond the limit). */
export const DELIVER = 'engine.deliver';

/** Rounds of routing before a chain is declared cyclic. */
const MAX_ROUNDS = 16;

/** One batch of an actor's commands whose chart emitted events for other actors. */
export interface ChainSource {
  key: string;
  ref: ActorRef;
  base: Cached | null;
  work: readonly Pending[];
  /**
   * The plan of `work` on `base` that the actor loop already made (and that emitted): reused
   * by the chain's first attempt instead of planning the same batch twice.
   */
  applied?: Applied;
}

/** The source's commit result, and the plan that was committed (or refused) for it. */
export interface ChainOutcome {
  result: CommitResult;
  applied: Applied;
}

interface Waiting extends ChainSource {
  resolve(outcome: ChainOutcome): void;
  reject(error: unknown): void;
}

interface Node {
  key: string;
  ref: ActorRef;
  base: Cached | null;
  /** The actor's own commands (sources), then the events routed to it, in emission order. */
  commands: Command[];
  own: number;
  routed: string[];
  applied?: Applied;
  source?: Waiting;
  /** What `applied` emitted, stamped and addressed: computed once per plan, not per round. */
  sent?: Sent[];
  /** The {@link VETO}es `applied` emitted: not delivered, taken by the chain. */
  vetoes?: Veto[];
}

/** One event a node's plan emitted, for a receiver the engine has a chart for. */
interface Sent {
  key: string;
  ref: ActorRef;
  tag: string;
  event: Routed['event'];
  routed: Routed;
}

/**
 * Actors talking to actors, committed together. When a chart `emit`s an event addressed to
 * another actor of its installation (`to: { kind, id }`), the engine delivers it here, in
 * memory, on the current snapshots: the receiver's chart steps, may emit in turn, and so on
 * until nothing more is emitted. Every actor the chain touched is then committed in ONE script
 * call (`mode: 'all'`: compare-and-set on each, all written or none). A conflict on a receiver
 * re-reads it and runs the chain again; a conflict on a source goes back to its
 * {@link ActorLoop}, which re-plans it on the newer snapshot.
 *
 * Chains of one installation run one at a time in a process, and the sources that arrive in the
 * same tick, or while one runs, are merged into the next: many heartbeats of one workspace cost
 * one commit of the workspace, not one conflict each.
 *
 * Routed events are stamped with `eventId` and `spareId` (fresh UUIDs, stable across the rounds
 * of one attempt) so the receiving chart can name what it decides without generating ids.
 *
 * @example
 * const { result, applied } = await chains.commit({ key, ref, base, work });
 */
export class Chains {
  readonly #queues = new Map<string, { waiting: Waiting[]; running: boolean }>();
  readonly #newId: () => string;

  constructor(readonly options: ChainsOptions) {
    this.#newId = options.newId ?? randomUUID;
  }

  commit(source: ChainSource): Promise<ChainOutcome> {
    return new Promise((resolve, reject) => {
      const installationId = source.ref.installationId;
      let queue = this.#queues.get(installationId);
      if (!queue) {
        queue = { waiting: [], running: false };
        this.#queues.set(installationId, queue);
      }
      queue.waiting.push({ ...source, resolve, reject });
      if (!queue.running) {
        // Start at the end of this tick, as the TickBatcher flushes: the heartbeats that
        // arrived in the same turn of the event loop (one request each) form one chain.
        queue.running = true;
        setImmediate(() => void this.#pump(installationId, queue));
      }
    });
  }

  async #pump(
    installationId: string,
    queue: { waiting: Waiting[]; running: boolean },
  ): Promise<void> {
    while (queue.waiting.length > 0) {
      const group = queue.waiting.splice(0, sourcesWithin(queue.waiting, MAX_CHAIN_COMMANDS));
      try {
        await this.#run(installationId, group);
      } catch (error) {
        for (const s of group) s.reject(error);
      }
    }
    queue.running = false;
    this.#queues.delete(installationId);
  }

  async #run(installationId: string, group: Waiting[]): Promise<void> {
    const { store, charts, cache, afterCommit, stats, maxAttempts } = this.options;
    let sources = group;
    /** Receivers' snapshots, kept across attempts (a conflict replaces the stale one). */
    const bases = new Map<string, Cached | null>();
    for (let attempt = 1; sources.length > 0; attempt++) {
      const nodes = await this.#settle(installationId, sources, bases, attempt === 1);
      const vetoed = vetoedSources(nodes, this.options.logger);
      if (vetoed.length > 0) {
        // The vetoed creations are answered and the rest settled again without them: a veto
        // is not a conflict, so the attempt is not counted.
        sources = sources.filter((s) => !vetoed.includes(s));
        attempt--;
        continue;
      }
      const committing = nodes.filter((n) => n.applied!.commit !== null);
      if (committing.length === 0) {
        for (const n of nodes)
          n.source?.resolve({ result: { status: 'committed', version: 0 }, applied: n.applied! });
        return;
      }
      const results = await store.commit(
        installationId,
        committing.map((n) => n.applied!.commit!),
        'all',
      );
      stats.scriptCalls++;
      if (results.every((r) => r.status === 'committed')) {
        committing.forEach((n, i) => {
          const version = (results[i] as { version: number }).version;
          if (n.source) n.source.resolve({ result: results[i]!, applied: n.applied! });
          else afterCommit.committed(n.key, n.ref, n.applied!, version);
        });
        for (const n of nodes) {
          if (n.source && n.applied!.commit === null)
            n.source.resolve({
              result: { status: 'committed', version: n.base?.version ?? 0 },
              applied: n.applied!,
            });
        }
        return;
      }
      stats.conflicts++;
      const remaining: Waiting[] = [];
      committing.forEach((n, i) => {
        const r = results[i]!;
        if (r.status === 'committed' || r.status === 'aborted') {
          if (n.source) remaining.push(n.source);
          return;
        }
        if (r.status === 'conflict') cache.contended(n.key);
        else cache.forget(n.key);
        if (n.source) {
          // The source's own problem (a newer snapshot, a retried request, a timer already
          // fired): its actor loop knows how to handle it.
          n.source.resolve({ result: r, applied: n.applied! });
        } else if (r.status === 'conflict') {
          bases.set(n.key, charts.restore(n.ref.kind, r.current));
        } else {
          bases.delete(n.key);
        }
      });
      for (const n of nodes) if (n.source && n.applied!.commit === null) remaining.push(n.source);
      sources = remaining;
      if (attempt >= maxAttempts) {
        throw new ContentionError(`gave up a chain after ${attempt} conflicting attempts`);
      }
    }
  }

  /** Plans the sources, delivers what they emit, and repeats until nothing new is emitted. */
  async #settle(
    installationId: string,
    sources: readonly Waiting[],
    bases: Map<string, Cached | null>,
    reusePlans: boolean,
  ): Promise<Node[]> {
    const { charts, plan } = this.options;
    const nodes = new Map<string, Node>();
    for (const s of sources) {
      nodes.set(s.key, {
        key: s.key,
        ref: s.ref,
        base: s.base,
        commands: [...s.work],
        own: s.work.length,
        routed: [],
        source: s,
      });
    }
    const ids = new Map<string, { eventId: string; spareId: string }>();
    const limit = this.options.fanOutLimit ?? 1000;
    const overflow = new Map<string, Routed[]>();
    let dirty = new Set(nodes.keys());
    for (let round = 0; dirty.size > 0; round++) {
      if (round >= MAX_ROUNDS) {
        throw new Error(`events between actors did not settle after ${MAX_ROUNDS} rounds`);
      }
      for (const key of dirty) {
        const n = nodes.get(key)!;
        n.applied =
          round === 0 && reusePlans && n.source?.applied
            ? n.source.applied
            : plan(n.ref, n.base, n.commands);
        n.sent = this.#addressed(installationId, n, ids);
      }
      dirty = new Set();
      // Every event emitted so far, in a stable order: by actor, then by emission.
      const inbox = new Map<string, { ref: ActorRef; events: Routed['event'][]; tags: string[] }>();
      overflow.clear();
      for (const n of nodes.values()) {
        for (const sent of n.sent ?? []) {
          const { key } = sent;
          let entry = inbox.get(key);
          if (!entry && !nodes.has(key) && nodes.size + inbox.size >= limit) {
            overflow.set(n.key, [...(overflow.get(n.key) ?? []), sent.routed]);
            continue;
          }
          if (!entry) {
            entry = { ref: sent.ref, events: [], tags: [] };
            inbox.set(key, entry);
          }
          entry.events.push(sent.event);
          entry.tags.push(sent.tag);
        }
      }
      const missing = [...inbox.entries()].filter(([key]) => !nodes.has(key));
      const loaded = await this.#load(
        missing.map(([key, e]) => ({ key, ref: e.ref })),
        bases,
      );
      missing.forEach(([key, e], i) => {
        const base = loaded[i]!;
        const create = base ? null : charts.get(e.ref.kind).binding.autoCreate?.(e.ref);
        if (!base && !create) {
          this.options.logger.warn('event for an actor that does not exist was dropped', {
            kind: e.ref.kind,
            actorId: e.ref.id,
          });
          return;
        }
        nodes.set(key, {
          key,
          ref: e.ref,
          base,
          commands: create
            ? [{ work: { kind: 'create', input: { at: this.options.now(), ...create } } }]
            : [],
          own: create ? 1 : 0,
          routed: [],
        });
      });
      for (const [key, e] of inbox) {
        const n = nodes.get(key);
        if (!n) continue;
        const order = causalOrder(n.routed, e.tags);
        if (sameTags(order, n.routed)) continue;
        const events = new Map(e.tags.map((tag, i) => [tag, e.events[i]!]));
        n.routed = order;
        n.commands = [
          ...n.commands.slice(0, n.own),
          ...order.map((tag) => ({ work: { kind: 'event' as const, event: events.get(tag)! } })),
        ];
        dirty.add(key);
      }
    }
    for (const [key, routed] of overflow) this.#deliverLater(nodes.get(key)!, routed);
    return [...nodes.values()];
  }

  /**
   * The events `n`'s plan emitted for actors of a bound chart, addressed and stamped with ids that
   * stay the same across the rounds and plans of one attempt (by tag: emitter and position).
   */
  #addressed(
    installationId: string,
    n: Node,
    ids: Map<string, { eventId: string; spareId: string }>,
  ): Sent[] {
    const { store, charts } = this.options;
    const sent: Sent[] = [];
    n.vetoes = undefined;
    n.applied!.emitted.forEach((routed, i) => {
      const ref = { kind: routed.to.kind, installationId, id: routed.to.id };
      if (routed.event.type === VETO) {
        (n.vetoes ??= []).push({ key: store.actorKey(ref), by: n.ref, event: routed.event });
        return;
      }
      // An engine without that chart (e.g. a test binding only connections) has no receiver.
      if (!charts.has(ref.kind)) return;
      const tag = `${n.key}#${i}`;
      let stamp = ids.get(tag);
      if (!stamp) {
        stamp = { eventId: this.#newId(), spareId: this.#newId() };
        ids.set(tag, stamp);
      }
      sent.push({
        key: store.actorKey(ref),
        ref,
        tag,
        event: { ...routed.event, ...stamp },
        routed,
      });
    });
    return sent;
  }

  /** Snapshots of receivers: the kept one after a conflict, else the cache, else the store. */
  async #load(
    wanted: { key: string; ref: ActorRef }[],
    bases: Map<string, Cached | null>,
  ): Promise<(Cached | null)[]> {
    const { store, charts, cache } = this.options;
    const out: (Cached | null | undefined)[] = wanted.map(({ key }) =>
      bases.has(key) ? bases.get(key)! : cache.get(key),
    );
    const toRead = wanted.filter((_, i) => out[i] === undefined);
    if (toRead.length > 0) {
      const stored = await store.loadMany(toRead.map((w) => w.ref));
      let j = 0;
      out.forEach((v, i) => {
        if (v === undefined) out[i] = charts.restore(wanted[i]!.ref.kind, stored[j++] ?? null);
      });
    }
    return out as (Cached | null)[];
  }

  /** Events beyond the fan-out limit: written to the emitter's outbox, delivered after commit. */
  #deliverLater(n: Node, routed: Routed[]): void {
    const commit = n.applied?.commit;
    if (!commit) return;
    const now = this.options.now();
    const entries: OutboxEntry[] = routed.map((r) => {
      const effect = {
        id: this.#newId(),
        kind: n.ref.kind,
        installationId: n.ref.installationId,
        actorId: n.ref.id,
        type: DELIVER,
        params: { to: r.to, event: { ...r.event, eventId: this.#newId(), spareId: this.#newId() } },
        createdAt: now,
      };
      n.applied!.effects.push(effect);
      return {
        id: effect.id,
        leaseUntil: now + this.options.leaseMs,
        json: JSON.stringify(effect),
      };
    });
    commit.outbox = [...commit.outbox, ...entries];
  }
}
