/**
 * The connection's rolling operation window: recording, statistics, the zero-run-length encoding
 * and its edges (shared set-up and helpers: window.helpers.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LATENCY_BOUNDS_MS,
  type OperationWindow,
  addToSlot,
  addToSlots,
  decodeSlots,
  emptyWindow,
  encodeSlots,
  mergeWindows,
  recordOperations,
  windowStats,
} from '../../machines/shared/window.ts';
import { MIN, T0 } from './window.helpers.ts';

describe('rolling operation window', () => {
  it('computes the success rate over the samples in the window', () => {
    const w = recordOperations(emptyWindow(), T0, 990, 10, []).window;
    expect(windowStats(w, 100)).toMatchObject({ samples: 1000, successRate: 0.99 });
  });

  it('reports insufficient data below the minimum sample count', () => {
    const w = recordOperations(emptyWindow(), T0, 50, 49, []).window;
    const s = windowStats(w, 100);
    expect(s.successRate).toBeNull();
    expect(s.rawSuccessRate).toBeCloseTo(50 / 99);
  });

  it('evicts minutes older than one hour as event time advances', () => {
    let w = recordOperations(emptyWindow(), T0, 0, 100, []).window;
    w = recordOperations(w, T0 + 59 * MIN, 100, 0, []).window;
    expect(windowStats(w, 1).samples).toBe(200);
    w = recordOperations(w, T0 + 60 * MIN, 100, 0, []).window;
    expect(windowStats(w, 1)).toMatchObject({ samples: 200, successRate: 1 });
  });

  it('clears the whole window after a gap longer than an hour', () => {
    let w = recordOperations(emptyWindow(), T0, 10, 10, [5]).window;
    w = recordOperations(w, T0 + 5 * 60 * MIN, 1, 0, []).window;
    expect(windowStats(w, 1)).toMatchObject({ samples: 1, latencySamples: 0 });
  });

  it('counts late heartbeats inside the window and drops ones older than the window', () => {
    let w = recordOperations(emptyWindow(), T0 + 30 * MIN, 10, 0, []).window;
    w = recordOperations(w, T0, 10, 0, []).window;
    expect(windowStats(w, 1).samples).toBe(20);
    const late = recordOperations(w, T0 - 31 * MIN, 10, 0, []);
    expect(late.stale).toBe(true);
    expect(windowStats(late.window, 1).samples).toBe(20);
  });

  it('reports p95 latency from the histogram bucket holding the 95th percentile', () => {
    const samples = [
      ...Array.from({ length: 95 }, () => 12),
      ...Array.from({ length: 5 }, () => 4000),
    ];
    const w = recordOperations(emptyWindow(), T0, 100, 0, samples).window;
    expect(windowStats(w, 1).latencyP95).toBe(20);
    const w2 = recordOperations(
      w,
      T0,
      0,
      0,
      Array.from({ length: 10 }, () => 4000),
    ).window;
    expect(windowStats(w2, 1).latencyP95).toBe(5000);
  });

  it('reports the last bound, 10000, for a p95 beyond it (the README says so: the last bucket is open-ended)', () => {
    const w = recordOperations(emptyWindow(), T0, 3, 0, [60_000, 120_000, 3_600_000]).window;
    expect(windowStats(w, 1).latencyP95).toBe(10_000);
    const one = recordOperations(emptyWindow(), T0, 1, 0, [40]).window;
    expect(windowStats(one, 1).latencyP95).toBe(50);
  });

  it('never mutates the window it was given', () => {
    const w = recordOperations(emptyWindow(), T0, 1, 0, [1]).window;
    const copy = structuredClone(w);
    recordOperations(w, T0 + 61 * MIN, 5, 5, [5]);
    expect(w).toEqual(copy);
  });

  it('merges windows of several connections aligned on the newest minute', () => {
    const a = recordOperations(emptyWindow(), T0, 90, 10, []).window;
    const b = recordOperations(emptyWindow(), T0 + 30 * MIN, 100, 0, []).window;
    const old = recordOperations(emptyWindow(), T0 - 120 * MIN, 0, 1000, []).window;
    expect(windowStats(mergeWindows([a, b, old]), 1)).toMatchObject({
      samples: 200,
      successRate: 0.95,
    });
  });

  it('serialises to well under 2 KB', () => {
    let w = emptyWindow();
    for (let m = 0; m < 60; m++)
      w = recordOperations(w, T0 + m * MIN, 1000 + m, m, [10, 200, 3000]).window;
    expect(JSON.stringify(w).length).toBeLessThan(2048);
  });

  it('serialises a full hour of one heartbeat every 10 s in under 400 bytes', () => {
    // The heartbeat hot path writes this with every connection snapshot.
    let w = emptyWindow();
    for (let s = 0; s < 360; s++) w = recordOperations(w, T0 + s * 10_000, 6, 0, [12]).window;
    expect(windowStats(w, 1)).toMatchObject({ samples: 2160, latencySamples: 360 });
    expect(JSON.stringify(w).length).toBeLessThan(400);
    expect(JSON.stringify(emptyWindow()).length).toBeLessThan(100);
  });

  it('reads a window stored with dense arrays (older snapshots) like the encoded one', () => {
    let w = emptyWindow();
    for (let m = 0; m < 7; m++) w = recordOperations(w, T0 + m * MIN, 10, m % 2, [12, 400]).window;
    const stored: OperationWindow = {
      ...w,
      ok: decodeSlots(w.ok, 60),
      ko: decodeSlots(w.ko, 60),
      lat: decodeSlots(w.lat, 12 * (LATENCY_BOUNDS_MS.length + 1)),
      latTotals: decodeSlots(w.latTotals, LATENCY_BOUNDS_MS.length + 1),
    };
    expect(stored.ok.every((v) => v >= 0)).toBe(true);
    expect(windowStats(stored, 1)).toEqual(windowStats(w, 1));
    const next = (x: OperationWindow) => recordOperations(x, T0 + 9 * MIN, 3, 1, [50]).window;
    expect(next(stored)).toEqual(next(w));
  });
});

describe('zero-run-length slot encoding', () => {
  /** Dense rings of up to 80 slots, two thirds of them empty. */
  const ring = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.nat(1000)), {
    minLength: 1,
    maxLength: 80,
  });

  it('encodes runs of empty slots as one negative count', () => {
    expect(encodeSlots([0, 0, 0, 5, 0])).toEqual([-3, 5, -1]);
    expect(encodeSlots([1, 2, 3])).toEqual([1, 2, 3]);
    expect(encodeSlots([0, 0])).toEqual([-2]);
    expect(encodeSlots([])).toEqual([]);
    expect(decodeSlots([-3, 5, -1], 5)).toEqual([0, 0, 0, 5, 0]);
  });

  it('decodes to exactly the given length, whatever the input claims', () => {
    expect(decodeSlots([-2], 4)).toEqual([0, 0, 0, 0]);
    expect(decodeSlots([1, 2, 3, 4, 5], 3)).toEqual([1, 2, 3]);
    expect(decodeSlots([-10, 7], 3)).toEqual([0, 0, 0]);
  });

  it('adds to one slot of an encoded ring, splitting a run of empty slots where needed', () => {
    expect(addToSlot([-5], 0, 3)).toEqual([3, -4]);
    expect(addToSlot([-5], 2, 3)).toEqual([-2, 3, -2]);
    expect(addToSlot([-5], 4, 3)).toEqual([-4, 3]);
    expect(addToSlot([-2, 7, -2], 2, 1)).toEqual([-2, 8, -2]);
    expect(addToSlot([1, 2], 1, 0)).toEqual([1, 2]);
  });

  it('adds to an encoded ring exactly as to the dense one (fast-check)', () => {
    fc.assert(
      fc.property(ring, fc.nat(), fc.integer({ min: 1, max: 1000 }), (a, at, delta) => {
        const i = at % a.length;
        const code = encodeSlots(a);
        const dense = a.slice();
        dense[i]! += delta;
        expect(addToSlot(code, i, delta)).toEqual(encodeSlots(dense));
        expect(code).toEqual(encodeSlots(a));
      }),
      { numRuns: 300 },
    );
  });

  it('adds to several slots of an encoded ring in one pass exactly as to the dense one (fast-check)', () => {
    fc.assert(
      fc.property(
        ring,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 1000 })), { maxLength: 8 }),
        (a, raw) => {
          // Distinct indices in ascending order, as addToSlots takes them.
          const byIndex = new Map(raw.map(([at, delta]) => [at % a.length, delta]));
          const adds = [...byIndex].sort((x, y) => x[0] - y[0]);
          const code = encodeSlots(a);
          const dense = a.slice();
          for (const [i, delta] of adds) dense[i]! += delta;
          expect(addToSlots(code, adds)).toEqual(encodeSlots(dense));
          expect(code).toEqual(encodeSlots(a));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round-trips every array, and the encoding is canonical (equal arrays, equal codes)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(0), fc.nat(1_000_000)), { maxLength: 80 }), (a) => {
        const code = encodeSlots(a);
        expect(decodeSlots(code, a.length)).toEqual(a);
        // No two runs of zeros side by side, no zero stored as itself.
        code.forEach((v, i) => {
          expect(v).not.toBe(0);
          if (v < 0) expect(code[i + 1] ?? 1).toBeGreaterThan(0);
        });
        expect(encodeSlots(decodeSlots(code, a.length))).toEqual(code);
      }),
      { numRuns: 300 },
    );
  });
});

describe('rolling operation window at its edges', () => {
  const at = (w: OperationWindow, minute: number, ok: number, ko = 0, lat: number[] = []) =>
    recordOperations(w, T0 + minute * MIN, ok, ko, lat);

  it('starts with no head, no first minute and nothing counted', () => {
    const w = emptyWindow();
    expect(w).toMatchObject({ head: -1, first: -1, okTotal: 0, koTotal: 0 });
    expect(windowStats(w, 1)).toEqual({
      samples: 0,
      successRate: null,
      rawSuccessRate: null,
      latencySamples: 0,
      latencyP95: null,
      throughputPerMin: 0,
    });
  });

  it('drops a heartbeat exactly 60 minutes older than the newest as stale, and counts one 59 minutes older', () => {
    const w = at(emptyWindow(), 60, 10).window;
    const sixty = at(w, 0, 0, 5, [5]);
    expect(sixty.stale).toBe(true);
    expect(sixty.window).toBe(w);
    const fiftyNine = at(w, 1, 0, 5);
    expect(fiftyNine.stale).toBe(false);
    expect(windowStats(fiftyNine.window, 1)).toMatchObject({
      samples: 15,
      rawSuccessRate: 10 / 15,
    });
  });

  it('counts a late heartbeat in the success rate but not in latency once its five minutes left the latency ring', () => {
    // Head at minute 60: the hour is minutes 1-60, the latency ring its five-minute slots 5-64.
    const w = at(emptyWindow(), 60, 10).window;
    const late = at(w, 4, 10, 0, [5]).window;
    expect(windowStats(late, 1)).toMatchObject({ samples: 20, latencySamples: 0 });
    const inRing = at(w, 5, 10, 0, [5]).window;
    expect(windowStats(inRing, 1)).toMatchObject({ samples: 20, latencySamples: 1 });
  });

  it('keeps latency samples while the head moves on within the hour', () => {
    let w = at(emptyWindow(), 0, 1, 0, [12]).window;
    w = at(w, 1, 1).window;
    w = at(w, 7, 1).window;
    w = at(w, 59, 1).window;
    expect(windowStats(w, 1)).toMatchObject({ latencySamples: 1, latencyP95: 20 });
    w = at(w, 60, 1).window;
    expect(windowStats(w, 1)).toMatchObject({ latencySamples: 0, latencyP95: null });
  });

  it('puts a latency exactly on a bucket bound into that bucket, and one just above into the next', () => {
    const p95Of = (ms: number) =>
      windowStats(at(emptyWindow(), 0, 1, 0, [ms]).window, 1).latencyP95;
    expect(p95Of(20)).toBe(20);
    expect(p95Of(20.5)).toBe(35);
    expect(p95Of(5)).toBe(5);
    expect(p95Of(10_000)).toBe(10_000);
  });

  it('reports latencies above the last bound (10 s) as 10 s', () => {
    const w = at(emptyWindow(), 0, 3, 0, [10_001, 60_000, 20_000]).window;
    expect(windowStats(w, 1)).toMatchObject({ latencySamples: 3, latencyP95: 10_000 });
  });

  it('has no p95 while operations arrive without latencies', () => {
    expect(windowStats(at(emptyWindow(), 0, 500).window, 1).latencyP95).toBeNull();
  });

  it('measures throughput over the minutes since the first sample, at most the 60 of the window', () => {
    let w = at(emptyWindow(), 0, 120).window;
    expect(windowStats(w, 1).throughputPerMin).toBe(120);
    w = at(w, 1, 60).window;
    expect(windowStats(w, 1).throughputPerMin).toBe(90);
    w = at(w, 59, 60).window;
    expect(windowStats(w, 1).throughputPerMin).toBe(4);
    w = at(w, 75, 60).window;
    expect(windowStats(w, 1).throughputPerMin).toBe(2);
  });

  it('widens the throughput span for a late heartbeat older than the first sample', () => {
    let w = at(emptyWindow(), 10, 30).window;
    w = at(w, 8, 30).window;
    expect(windowStats(w, 1).throughputPerMin).toBe(20);
  });

  it('never mutates the window it was given, even when new operations land in the same slots', () => {
    const w = at(emptyWindow(), 0, 1, 1, [12]).window;
    const copy = structuredClone(w);
    at(w, 0, 5, 5, [12, 4000]);
    at(w, 3, 5, 5, [12]);
    at(w, 200, 5, 5, [12]);
    expect(w).toEqual(copy);
  });

  it('gives an empty window when merging windows without samples', () => {
    expect(mergeWindows([])).toEqual(emptyWindow());
    expect(mergeWindows([emptyWindow(), emptyWindow()])).toEqual(emptyWindow());
  });

  it('leaves out of a merge every window whose newest minute is 60 or more minutes old', () => {
    const recent = at(emptyWindow(), 60, 10, 0, [12]).window;
    const sixty = at(emptyWindow(), 0, 0, 10, [4000]).window;
    const fiftyNine = at(emptyWindow(), 1, 0, 10).window;
    expect(windowStats(mergeWindows([recent, sixty]), 1)).toEqual(windowStats(recent, 1));
    expect(windowStats(mergeWindows([sixty, recent, fiftyNine]), 1)).toMatchObject({
      samples: 20,
      rawSuccessRate: 0.5,
      latencySamples: 1,
      throughputPerMin: 20 / 60,
    });
  });

  it("merges windows whose newest minute is the epoch's first like any other", () => {
    const epoch = recordOperations(emptyWindow(), 0, 10, 0, []).window;
    const later = recordOperations(emptyWindow(), 30 * MIN, 0, 10, []).window;
    expect(windowStats(mergeWindows([epoch]), 1).samples).toBe(10);
    expect(windowStats(mergeWindows([epoch, later]), 1)).toMatchObject({
      samples: 20,
      rawSuccessRate: 0.5,
    });
  });

  it('drops from a merge the minutes of a window that expire on the newest head', () => {
    let a = at(emptyWindow(), 0, 0, 50, [4000]).window;
    a = at(a, 20, 10, 0, [12]).window;
    const b = at(emptyWindow(), 70, 10).window;
    expect(windowStats(mergeWindows([a, b]), 1)).toMatchObject({
      samples: 20,
      successRate: 1,
      latencySamples: 1,
      latencyP95: 20,
      // a's first minute (0) is clamped to the hour ending at the newest head: minutes 11-70.
      throughputPerMin: 20 / 60,
    });
  });
});
