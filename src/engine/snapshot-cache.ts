import { LRUCache } from 'lru-cache';
import type { AnyMachineSnapshot } from 'xstate';

/** A restored snapshot and the version it was committed (or loaded) at. */
export interface Cached {
  version: number;
  snapshot: AnyMachineSnapshot;
}

/**
 * Hot snapshots kept in memory per process, keyed by `Store.actorKey`, to skip a read before
 * most commits. An entry may be behind another process's commit: whatever is written from it is
 * checked by the compare-and-set, and whatever is refused from it is re-checked (see ActorLoop).
 */
export interface SnapshotCache {
  get(key: string): Cached | undefined;
  remember(key: string, cached: Cached): void;
  forget(key: string): void;
  /**
   * A commit from this key's cached snapshot conflicted: another process writes the actor too
   * (several processes behind a round-robin load balancer). The entry is forgotten and not
   * served for a while, so the next commits read the actor first instead of planning on a stale
   * snapshot, failing the compare-and-set and planning again.
   */
  contended(key: string): void;
  clear(): void;
}

/** How long a contended key is read from the store rather than served from the cache. */
export const CONTENDED_MS = 30_000;

/**
 * The least recently used snapshots beyond `max` are dropped (lru-cache); `max` 0 keeps none.
 *
 * @example
 * const cache = new LruSnapshotCache(10_000);
 * cache.remember(store.actorKey(ref), { version: 3, snapshot });
 */
export class LruSnapshotCache implements SnapshotCache {
  /** Null when `max` is 0: nothing is kept (lru-cache needs a positive bound). */
  readonly #lru: LRUCache<string, Cached> | null;
  /** Keys contended in the last `contendedMs` (lru-cache's ttl, on its monotonic clock). */
  readonly #contended: LRUCache<string, true> | null;

  /**
   * @param contendedMs how long a contended key is not served ({@link CONTENDED_MS})
   * @param perf the monotonic clock of that window (tests pass their own)
   */
  constructor(max: number, contendedMs = CONTENDED_MS, perf: { now(): number } = performance) {
    this.#lru = max > 0 ? new LRUCache({ max }) : null;
    this.#contended =
      max > 0 ? new LRUCache({ max, ttl: contendedMs, ttlResolution: 0, perf }) : null;
  }

  get(key: string): Cached | undefined {
    if (this.#contended?.has(key)) return undefined;
    return this.#lru?.get(key);
  }

  contended(key: string): void {
    this.#lru?.delete(key);
    this.#contended?.set(key, true);
  }

  remember(key: string, cached: Cached): void {
    this.#lru?.set(key, cached);
  }

  forget(key: string): void {
    this.#lru?.delete(key);
  }

  clear(): void {
    this.#lru?.clear();
    this.#contended?.clear();
  }
}
