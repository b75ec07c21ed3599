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
  /**
   * `stored`: the snapshot's kind and the text its commit wrote, what the cache may keep instead
   * of the restored snapshot once it is not among the most recently used.
   */
  remember(key: string, cached: Cached, stored?: { kind: string; text: string }): void;
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

/** Restored snapshots kept as objects, the rest of the cache as their committed text. */
export const HOT_SNAPSHOTS = 2_000;

/** A snapshot kept as the text it was committed as (its chart's snapshot codec), with its kind. */
interface Kept {
  version: number;
  kind: string;
  text: string;
  /** The cache's clock (its count of lookups) when the entry was last used or left the hot tier. */
  used: number;
}

export interface LruSnapshotCacheOptions {
  /** How long a contended key is not served ({@link CONTENDED_MS}). */
  contendedMs?: number;
  /** The monotonic clock of that window (tests pass their own). */
  perf?: { now(): number };
  /** Entries kept as restored objects ({@link HOT_SNAPSHOTS}); the others are kept as text. */
  hot?: number;
  /** Restores a kept text of `kind` (ChartRegistry.restoreText); without it none is kept as text. */
  restore?: (kind: string, text: string) => AnyMachineSnapshot;
}

/**
 * Two tiers of at most `max` entries in all (lru-cache): the `hot` most recently used as restored
 * snapshots, the others as the text their commit wrote, restored again when asked for (a few
 * microseconds). One restored connection snapshot is ~1.5 KB of heap in ~50 objects, its text
 * ~0.3 KB in one: with 100,000 connections cached as objects, every snapshot a heartbeat
 * replaced was promoted to the old generation before it died, and the collector had a large
 * live graph to mark; as text the old generation holds strings only. `max` 0 keeps none.
 *
 * A snapshot restored from text becomes an object of the hot tier again only if it is back
 * within the hot tier's reach: fewer lookups since its last use than the tier holds entries.
 * Otherwise (a fleet larger than the tier, heartbeating in turn, each back only after all the
 * others) the object would be pushed out again before its next use, after surviving a
 * collection or two for nothing: it is served, and its commit's text replaces the kept one.
 *
 * @example
 * const cache = new LruSnapshotCache(250_000, { restore: (k, text) => charts.restoreText(k, text) });
 * cache.remember(store.actorKey(ref), { version: 3, snapshot }, { kind: ref.kind, text });
 */
export class LruSnapshotCache implements SnapshotCache {
  /** Null when `max` is 0: nothing is kept (lru-cache needs a positive bound). */
  readonly #hot: LRUCache<string, Cached & { kept?: Kept }> | null;
  /** Entries pushed out of `#hot`, as text; null when nothing is kept as text. */
  readonly #kept: LRUCache<string, Kept> | null;
  /** Keys contended in the last `contendedMs` (lru-cache's ttl, on its monotonic clock). */
  readonly #contended: LRUCache<string, true> | null;
  readonly #restore: ((kind: string, text: string) => AnyMachineSnapshot) | undefined;
  /** How many entries the hot tier holds. */
  readonly #reach: number;
  /** Lookups so far: the clock of {@link Kept.used}. */
  #clock = 0;

  constructor(max: number, options: LruSnapshotCacheOptions = {}) {
    const { contendedMs = CONTENDED_MS, perf = performance, restore } = options;
    const hot = Math.min(max, options.hot ?? HOT_SNAPSHOTS);
    this.#restore = restore;
    this.#reach = hot;
    this.#kept = restore && max > hot ? new LRUCache({ max: max - hot }) : null;
    this.#hot =
      max > 0
        ? new LRUCache({
            max: this.#kept ? hot : max,
            dispose: (entry, key, reason) => {
              if (reason !== 'evict' || !entry.kept) return;
              entry.kept.used = this.#clock;
              this.#kept?.set(key, entry.kept);
            },
          })
        : null;
    this.#contended =
      max > 0 ? new LRUCache({ max, ttl: contendedMs, ttlResolution: 0, perf }) : null;
  }

  get(key: string): Cached | undefined {
    if (this.#contended?.has(key)) return undefined;
    this.#clock++;
    const hot = this.#hot?.get(key);
    if (hot || !this.#kept) return hot;
    // peek: the entry leaves this tier or is used once, its recency here does not matter.
    const kept = this.#kept.peek(key);
    if (!kept) return undefined;
    const snapshot = this.#restore!(kept.kind, kept.text);
    if (this.#clock - kept.used > this.#reach) {
      kept.used = this.#clock;
      return { version: kept.version, snapshot };
    }
    const cached = { version: kept.version, snapshot, kept };
    this.#kept.delete(key);
    this.#hot!.set(key, cached);
    return cached;
  }

  contended(key: string): void {
    this.forget(key);
    this.#contended?.set(key, true);
  }

  remember(key: string, cached: Cached, stored?: { kind: string; text: string }): void {
    const kept = stored ? { version: cached.version, ...stored, used: this.#clock } : undefined;
    // Served from the text tier without coming back into the hot one: its new text replaces it.
    if (kept && this.#kept?.peek(key)) {
      this.#kept.set(key, kept);
      return;
    }
    this.#kept?.delete(key);
    this.#hot?.set(key, kept ? { ...cached, kept } : cached);
  }

  forget(key: string): void {
    this.#hot?.delete(key);
    this.#kept?.delete(key);
  }

  clear(): void {
    this.#hot?.clear();
    this.#kept?.clear();
    this.#contended?.clear();
  }
}
