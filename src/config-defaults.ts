/**
 * Defaults of the configuration that are worked out rather than written in the schema (src/config.ts
 * reads them; the README's configuration table gives each).
 */
import { getHeapStatistics } from 'node:v8';
import { JOURNAL_CHECKPOINT_EVERY } from './engine/types.ts';

/** Heap one cached connection snapshot takes, rounded up (measured 1.5-2.2 KB, see README). */
export const SNAPSHOT_CACHE_ENTRY_BYTES = 2048;

/**
 * The default SNAPSHOT_CACHE_SIZE: what a quarter of the process's heap limit holds at
 * {@link SNAPSHOT_CACHE_ENTRY_BYTES} per snapshot, between 10,000 and 250,000 (250,000 from a
 * 2 GB heap limit up; a 4 GB limit, Node's default on a 64-bit machine with enough memory, gives
 * 250,000 and at most ~500 MB of cache).
 */
export function defaultSnapshotCacheSize(
  heapLimitBytes = getHeapStatistics().heap_size_limit,
): number {
  const fits = Math.floor(heapLimitBytes / 4 / SNAPSHOT_CACHE_ENTRY_BYTES);
  return Math.min(250_000, Math.max(10_000, fits));
}

/**
 * The defaults of STREAMS_PER_TOKEN, STREAMS_PER_INSTALLATION, STREAM_BUFFER_BYTES,
 * STREAM_HEARTBEAT_MS and STREAM_REPLAY_EVENTS.
 */
export const DEFAULT_STREAM_LIMITS = {
  perToken: 20,
  perInstallation: 200,
  bufferBytes: 1024 * 1024,
  heartbeatMs: 15_000,
  replayEvents: 1000,
};

/** The default of WHAT_IF_JOURNAL_EVENTS. */
export const DEFAULT_WHAT_IF_JOURNAL_EVENTS = 20_000;
/**
 * The shortest what-if journal other than none: two checkpoint intervals. A replay starts from a
 * checkpoint, written every JOURNAL_CHECKPOINT_EVERY events (after the commit that reaches them,
 * which may journal several); a journal of at most that many entries is soon trimmed to none, and
 * every replay then finds nothing to start from (an answer with no decisions, "nothing recorded").
 */
export const MIN_WHAT_IF_JOURNAL_EVENTS = 2 * JOURNAL_CHECKPOINT_EVERY;
