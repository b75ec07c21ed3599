import type { ActorCommit, CommitResult, Store } from '../store/store.ts';
import type { EngineStats } from './types.ts';

/** Where a single actor's commit goes; the answer is that actor's result. */
export interface CommitQueue {
  commit(installationId: string, commit: ActorCommit): Promise<CommitResult>;
}

/** Actors one script call commits at most. */
const MAX_ACTORS_PER_SCRIPT = 256;

/**
 * Collects the commits issued during one tick and sends those of each installation together,
 * in one script call per {@link MAX_ACTORS_PER_SCRIPT} actors (they share a hash slot). Each
 * actor's commit still succeeds or fails on its own.
 *
 * @example
 * const batcher = new TickBatcher(store, stats);
 * const result = await batcher.commit('inst-1', applied.commit);
 */
export class TickBatcher implements CommitQueue {
  #batch = new Map<
    string,
    { commits: ActorCommit[]; waiters: ((r: CommitResult | Error) => void)[] }
  >();
  #flushScheduled = false;

  constructor(
    readonly store: Store,
    readonly stats: EngineStats,
  ) {}

  /** Queues a commit into this tick's per-installation script call. */
  commit(installationId: string, commit: ActorCommit): Promise<CommitResult> {
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
}
