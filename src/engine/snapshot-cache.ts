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
  clear(): void;
}

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

  constructor(max: number) {
    this.#lru = max > 0 ? new LRUCache({ max }) : null;
  }

  get(key: string): Cached | undefined {
    return this.#lru?.get(key);
  }

  remember(key: string, cached: Cached): void {
    this.#lru?.set(key, cached);
  }

  forget(key: string): void {
    this.#lru?.delete(key);
  }

  clear(): void {
    this.#lru?.clear();
  }
}
