import { ContentionError, NotFoundError } from '../errors.ts';
import type { ActorRef, Store } from '../store/store.ts';
import type { AfterCommit } from './after-commit.ts';
import type { ChartRegistry } from './charts.ts';
import type { Planner } from './planner.ts';
import { markRetriedRefusals } from './refusals.ts';
import type { Cached, SnapshotCache } from './snapshot-cache.ts';
import type { PersistedState } from './step.ts';
import type { EngineStats, Outcome, SendOptions, TxPlan } from './types.ts';
import type { Applied, Pending } from './work.ts';

/** What {@link Transactions} work with. */
export interface TransactionsOptions {
  store: Store;
  charts: ChartRegistry;
  cache: SnapshotCache;
  plan: Planner;
  afterCommit: AfterCommit;
  stats: EngineStats;
  /** Attempts of a transaction that keeps conflicting before a ContentionError. */
  maxAttempts: number;
}

/**
 * Multi-actor decisions of one installation, committed in one script with `mode: 'all'`.
 *
 * @example
 * const tx = new Transactions({ store, charts, cache, plan, afterCommit, stats, maxAttempts: 25 });
 * await tx.transact('inst-1', async () => [wsRef], ([ws]) => ({ steps: [{ ref: wsRef, event }] }));
 */
export class Transactions {
  constructor(readonly options: TransactionsOptions) {}

  /**
   * Applies events to several actors of one installation as one atomic decision: every
   * snapshot, timer, outbox entry and audit record is written, or none is. `plan` sees the
   * current states (loaded from the store, the source of truth) and is run again after any
   * conflict, so it must be a pure function of what it is given. Returns null when the plan is
   * empty.
   */
  async transact(
    installationId: string,
    refs: () => Promise<ActorRef[]>,
    plan: (states: (PersistedState | null)[], refs: ActorRef[]) => TxPlan | null,
    options: SendOptions = {},
  ): Promise<Outcome[] | null> {
    const { store, charts, cache, afterCommit, stats, maxAttempts } = this.options;
    const { requestId } = options;
    for (let attempt = 1; ; attempt++) {
      const targets = await refs();
      const stored = await store.loadMany(targets);
      const cached = targets.map((ref, i) => charts.restore(ref.kind, stored[i] ?? null));
      const txPlan = plan(
        cached.map((c, i) => (c ? charts.get(targets[i]!.kind).stepper.persist(c.snapshot) : null)),
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
        const key = store.actorKey(step.ref);
        let entry = byActor.get(key);
        if (!entry) {
          const i = targets.findIndex((t) => store.actorKey(t) === key);
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
        const a = this.options.plan(entry.ref, entry.base, entry.pending);
        await markRetriedRefusals(store, charts.get(entry.ref.kind), entry.ref, entry.pending, a);
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
      const results = await store.commit(installationId, commits, 'all');
      stats.scriptCalls++;
      if (results.every((r) => r.status === 'committed')) {
        return applied.map((a, i) => {
          const version = (results[i] as { version: number }).version;
          afterCommit.committed(a.key, a.ref, a.applied, version);
          const last = [...a.applied.results].reverse().find((r) => r.ok) as
            { state: PersistedState } | undefined;
          return { ref: a.ref, version, state: last?.state ?? a.applied.before!, changed: true };
        });
      }
      const duplicate = results.findIndex((r) => r.status === 'duplicate');
      if (duplicate >= 0) {
        const ref = applied[duplicate]!.ref;
        const found = await store.load(ref);
        if (!found) throw new NotFoundError(`${ref.kind} ${ref.id} not found`, { id: ref.id });
        return [
          {
            ref,
            version: found.version,
            state: JSON.parse(found.snapshot) as PersistedState,
            changed: false,
            duplicate: true,
          },
        ];
      }
      stats.conflicts++;
      for (const a of applied) cache.forget(a.key);
      if (attempt >= maxAttempts) {
        throw new ContentionError(`gave up a transaction after ${attempt} conflicting attempts`);
      }
    }
  }
}
