/**
 * The snapshot cache's contended keys (src/engine/snapshot-cache.ts): after a conflict, a key is
 * read from the store for CONTENDED_MS instead of served stale, then cached again.
 */
import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { LruSnapshotCache } from '../../src/engine/snapshot-cache.ts';

const entry = (version: number) => ({ version, snapshot: {} as AnyMachineSnapshot });

describe('LruSnapshotCache', () => {
  it('does not serve a contended key for contendedMs, then serves what was remembered since', () => {
    let now = 1000;
    const cache = new LruSnapshotCache(10, 30_000, { now: () => now });
    cache.remember('a', entry(1));
    cache.remember('b', entry(1));
    cache.contended('a');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toEqual(entry(1));
    // Commits go on while it is contended; their snapshots are not served yet.
    cache.remember('a', entry(2));
    now += 29_999;
    expect(cache.get('a')).toBeUndefined();
    now += 2;
    expect(cache.get('a')).toEqual(entry(2));
  });

  it('forgets contended keys on clear, and keeps nothing with max 0', () => {
    const cache = new LruSnapshotCache(10);
    cache.contended('a');
    cache.clear();
    cache.remember('a', entry(3));
    expect(cache.get('a')).toEqual(entry(3));
    const none = new LruSnapshotCache(0);
    none.remember('a', entry(1));
    none.contended('a');
    expect(none.get('a')).toBeUndefined();
  });
});
