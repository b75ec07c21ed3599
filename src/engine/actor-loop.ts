import { ContentionError, NotFoundError, RequestIdReusedError } from '../errors.ts';
import type { ActorRef, Store } from '../store/store.ts';
import type { AfterCommit } from './after-commit.ts';
import type { ChartRegistry } from './charts.ts';
import type { Chains } from './chain.ts';
import type { BatchProcessor } from './mailbox.ts';
import type { Planner } from './planner.ts';
import { isRefusal, markRetriedRefusals } from './refusals.ts';
import type { Cached, SnapshotCache } from './snapshot-cache.ts';
import type { CommitQueue } from './tick-batcher.ts';
import type { CommitResult } from '../store/store.ts';
import type { EngineStats } from './types.ts';
import { type Pending, TimerGone, settle } from './work.ts';

/** What the {@link ActorLoop} works with. */
export interface ActorLoopOptions {
  store: Store;
  charts: ChartRegistry;
  cache: SnapshotCache;
  plan: Planner;
  commits: CommitQueue;
  /** Where a batch whose chart emitted events for other actors is committed with them. */
  chains: Chains;
  afterCommit: AfterCommit;
  stats: EngineStats;
  /** Compare-and-set attempts before giving up with a ContentionError. */
  maxAttempts: number;
}

/**
 * The compare-and-set loop of one actor's batch: plan it on the cached (or loaded) snapshot,
 * commit it at that version, and on a conflict plan it again on the snapshot the store returned,
 * so no update is lost across processes.
 *
 * @example
 * const mailbox = new Mailbox(store, new ActorLoop({ store, charts, cache, plan, ... }));
 */
export class ActorLoop implements BatchProcessor {
  constructor(readonly options: ActorLoopOptions) {}

  async process(key: string, ref: ActorRef, batch: Pending[]): Promise<void> {
    try {
      await this.#process(key, ref, batch);
    } catch (error) {
      this.options.cache.forget(key);
      throw error;
    }
  }

  async #process(key: string, ref: ActorRef, batch: Pending[]): Promise<void> {
    const { store, charts, cache, plan, commits, chains, afterCommit, stats, maxAttempts } =
      this.options;
    const chart = charts.get(ref.kind);
    let base: Cached | null | undefined = cache.get(key);
    // A cached snapshot may be behind another process's commit. Anything that is written is
    // checked by the compare-and-set; a refusal writes nothing, so it is only final once the
    // version it was decided on has been confirmed against Redis.
    let confirmed = base === undefined;
    if (base === undefined) base = charts.restore(ref.kind, await store.load(ref));
    let work = batch;
    for (let attempt = 1; ; attempt++) {
      let applied = plan(ref, base, work);
      let result: CommitResult | null = null;
      if (applied.commit !== null && applied.emitted.length > 0) {
        // The chart spoke to other actors: they are committed together with this batch.
        ({ result, applied } = await chains.commit({ key, ref, base, work, applied }));
        if (applied.final && result.status === 'committed') {
          // Each command is answered with the state after everything it caused (e.g. the
          // workspace's rollback that a heartbeat set off), committed with it.
          const final = chart.stepper.persist(applied.final);
          applied = {
            ...applied,
            results: applied.results.map((r) => (r.ok ? { ...r, state: final } : r)),
          };
        }
      }
      if (applied.commit === null) {
        if (!confirmed && applied.results.some((r) => !r.ok && isRefusal(r.error))) {
          confirmed = true;
          const current = await store.load(ref);
          if ((current?.version ?? 0) !== (base?.version ?? 0)) {
            cache.forget(key);
            base = charts.restore(ref.kind, current);
            continue;
          }
        }
        await markRetriedRefusals(store, chart, ref, work, applied);
        settle(work, applied, base?.version ?? 0, ref);
        return;
      }
      result ??= await commits.commit(ref.installationId, applied.commit);
      if (result.status === 'committed') {
        afterCommit.committed(key, ref, applied, result.version);
        await markRetriedRefusals(store, chart, ref, work, applied);
        settle(work, applied, result.version, ref);
        return;
      }
      if (result.status === 'duplicate') {
        // A retry of a command that was applied before: answer it from the current state and
        // apply the rest of the batch on top of that state.
        const current = await store.load(ref);
        cache.forget(key);
        base = charts.restore(ref.kind, current);
        confirmed = true;
        const state = base ? chart.stepper.persist(base.snapshot) : null;
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
      if (result.status === 'reused') {
        // The id was applied with another body: that command is refused, the rest replanned.
        for (const p of work) {
          if (p.requestId === result.requestId) p.reject(new RequestIdReusedError(p.requestId));
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
      stats.conflicts++;
      cache.contended(key);
      confirmed = true;
      base =
        result.status === 'conflict'
          ? charts.restore(ref.kind, result.current)
          : charts.restore(ref.kind, await store.load(ref));
      if (attempt >= maxAttempts) {
        throw new ContentionError(
          `gave up after ${attempt} conflicting writes to ${ref.kind} ${ref.id}`,
        );
      }
    }
  }
}
