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
    const cache = new LruSnapshotCache(10, { contendedMs: 30_000, perf: { now: () => now } });
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

describe('LruSnapshotCache tiers: the most recently used as objects, the rest as text', () => {
  const restored: string[] = [];
  const restore = (kind: string, text: string) => {
    restored.push(`${kind}:${text}`);
    return { restoredFrom: text } as unknown as AnyMachineSnapshot;
  };
  const stored = (text: string) => ({ kind: 'k', text });

  it('keeps an entry pushed out of the hot tier as its text and restores it when asked', () => {
    restored.length = 0;
    const cache = new LruSnapshotCache(4, { hot: 2, restore });
    cache.remember('a', entry(1), stored('A1'));
    cache.remember('b', entry(2), stored('B2'));
    cache.remember('c', entry(3), stored('C3')); // 'a' leaves the hot tier
    expect(cache.get('c')).toMatchObject(entry(3)); // hot: the object itself, nothing restored
    expect(restored).toEqual([]);
    const a = cache.get('a')!; // kept as text: restored at its version, and hot again
    expect(a.version).toBe(1);
    expect(a.snapshot).toEqual({ restoredFrom: 'A1' });
    expect(restored).toEqual(['k:A1']);
    expect(cache.get('a')!.snapshot).toBe(a.snapshot); // not restored twice
    expect(cache.get('b')!.snapshot).toEqual({ restoredFrom: 'B2' }); // pushed out by 'a'
    expect(restored).toEqual(['k:A1', 'k:B2']);
  });

  it('serves an entry back after more lookups than the hot tier holds from its text, and keeps it so', () => {
    restored.length = 0;
    const cache = new LruSnapshotCache(10, { hot: 2, restore });
    for (const k of ['a', 'b', 'c', 'd']) cache.remember(k, entry(1), stored(`${k}1`));
    // 'a' and 'b' left the hot tier; three lookups of the hot ones since: out of its reach.
    for (const k of ['c', 'd', 'c']) expect(cache.get(k)).toMatchObject(entry(1));
    expect(cache.get('a')).toMatchObject({ version: 1, snapshot: { restoredFrom: 'a1' } });
    // Not made hot: 'c' and 'd' are still served as objects, nothing else restored.
    expect(cache.get('d')).toMatchObject(entry(1));
    expect(cache.get('c')).toMatchObject(entry(1));
    expect(restored).toEqual(['k:a1']);
    // Its commit replaces the text it is kept as.
    cache.remember('a', entry(2), stored('a2'));
    for (const k of ['c', 'd', 'c']) cache.get(k);
    expect(cache.get('a')).toMatchObject({ version: 2, snapshot: { restoredFrom: 'a2' } });
    expect(restored).toEqual(['k:a1', 'k:a2']);
    // Back again within reach (one lookup since): hot, restored once, served as that object.
    const again = cache.get('a')!;
    expect(cache.get('a')!.snapshot).toBe(again.snapshot);
    expect(restored).toEqual(['k:a1', 'k:a2', 'k:a2']);
  });

  it('holds max entries in all, and a newer commit replaces the kept text', () => {
    restored.length = 0;
    const cache = new LruSnapshotCache(3, { hot: 1, restore });
    for (const [k, v] of [
      ['a', 1],
      ['b', 1],
      ['c', 1],
      ['d', 1],
    ] as const)
      cache.remember(k, entry(v), stored(`${k}${v}`));
    expect(cache.get('a')).toBeUndefined(); // the least recently used of four
    expect(cache.get('b')!.snapshot).toEqual({ restoredFrom: 'b1' });
    cache.remember('c', entry(2), stored('c2'));
    cache.remember('d', entry(2), stored('d2')); // 'c' leaves the hot tier at version 2
    expect(cache.get('c')).toMatchObject({ version: 2, snapshot: { restoredFrom: 'c2' } });
  });

  it('forgets both tiers when contended, forgotten or cleared', () => {
    const cache = new LruSnapshotCache(4, { hot: 1, restore });
    cache.remember('a', entry(1), stored('a1'));
    cache.remember('b', entry(1), stored('b1'));
    cache.remember('c', entry(1), stored('c1')); // a and b kept as text, c hot
    cache.contended('a');
    cache.forget('b');
    cache.forget('c');
    for (const k of ['a', 'b', 'c']) expect(cache.get(k)).toBeUndefined();
    cache.remember('d', entry(1), stored('d1'));
    cache.remember('e', entry(1), stored('e1'));
    cache.clear();
    for (const k of ['d', 'e']) expect(cache.get(k)).toBeUndefined();
    const none = new LruSnapshotCache(0, { restore });
    none.remember('a', entry(1), stored('a1'));
    none.clear();
    expect(none.get('a')).toBeUndefined();
  });

  it('replacing a hot entry leaves the text tier as it was', () => {
    const cache = new LruSnapshotCache(3, { hot: 1, restore });
    cache.remember('x', entry(1), stored('x1'));
    cache.remember('y', entry(1), stored('y1'));
    cache.remember('z', entry(1), stored('z1')); // x and y kept as text: the text tier is full
    cache.remember('z', entry(2), stored('z2')); // z replaced in the hot tier, nothing pushed out
    expect(cache.get('x')).toMatchObject({ version: 1, snapshot: { restoredFrom: 'x1' } });
  });

  it('is one tier of objects when it holds no more than the hot entries', () => {
    for (const hot of [3, 5]) {
      restored.length = 0;
      const cache = new LruSnapshotCache(3, { hot, restore });
      for (const k of ['a', 'b', 'c', 'd']) cache.remember(k, entry(1), stored(`${k}1`));
      expect(cache.get('a')).toBeUndefined();
      expect(cache.get('b')).toMatchObject(entry(1));
      expect(restored).toEqual([]);
    }
  });

  it('keeps every entry as an object without a restore function, or without a text', () => {
    const cache = new LruSnapshotCache(3, { hot: 1 });
    for (const k of ['a', 'b', 'c', 'd']) cache.remember(k, entry(1), stored(`${k}1`));
    expect(cache.get('a')).toBeUndefined(); // three objects, the oldest dropped
    expect(cache.get('b')).toMatchObject(entry(1));
    const tiered = new LruSnapshotCache(3, { hot: 1, restore });
    tiered.remember('a', entry(1)); // no text: dropped when it leaves the hot tier
    tiered.remember('b', entry(1), stored('b1'));
    expect(tiered.get('a')).toBeUndefined();
  });
});
