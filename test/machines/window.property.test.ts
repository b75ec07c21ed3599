/**
 * The rolling operation window against a brute-force recomputation, with fast-check (shared set-up
 * and helpers: window.helpers.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LATENCY_BOUNDS_MS,
  type OperationWindow,
  decodeSlots,
  emptyWindow,
  mergeWindows,
  recordOperations,
  windowStats,
} from '../../machines/shared/window.ts';
import { MIN, T0 } from './window.helpers.ts';

describe('rolling operation window against a brute-force recomputation (fast-check)', () => {
  type Beat = { minute: number; ok: number; ko: number; lat: number[] };
  const beat = fc.record({
    minute: fc.integer({ min: 0, max: 150 }),
    ok: fc.nat(20),
    ko: fc.nat(5),
    lat: fc.array(fc.constantFrom(...LATENCY_BOUNDS_MS, 0, 1, 21, 12_000), { maxLength: 4 }),
  });
  // The epoch's first minute is an event time like any other (minute 0 is not "empty").
  const base = fc.constantFrom(0, T0);

  const record = (w: OperationWindow, t0: number, b: Beat) =>
    recordOperations(w, t0 + b.minute * MIN, b.ok, b.ko, b.lat);

  /** The hour ending at the newest minute, recomputed from the heartbeats that were accepted. */
  function bruteForce(accepted: Beat[]) {
    if (accepted.length === 0) return windowStats(emptyWindow(), 1);
    const head = Math.max(...accepted.map((b) => b.minute));
    const live = accepted.filter((b) => b.minute > head - 60);
    const ok = live.reduce((n, b) => n + b.ok, 0);
    const ko = live.reduce((n, b) => n + b.ko, 0);
    // Latency lives in twelve five-minute slots ending with the head's.
    const headFive = Math.floor(head / 5);
    const lat = live
      .filter((b) => Math.floor(b.minute / 5) > headFive - 12)
      .flatMap((b) => b.lat)
      .map((ms) => LATENCY_BOUNDS_MS.find((bound) => ms <= bound) ?? 10_000)
      .sort((x, y) => x - y);
    const first = Math.max(Math.min(...accepted.map((b) => b.minute)), head - 59);
    return {
      samples: ok + ko,
      successRate: ok + ko === 0 ? null : ok / (ok + ko),
      rawSuccessRate: ok + ko === 0 ? null : ok / (ok + ko),
      latencySamples: lat.length,
      latencyP95: lat.length === 0 ? null : lat[Math.ceil(lat.length * 0.95) - 1]!,
      throughputPerMin: (ok + ko) / (head - first + 1),
    };
  }

  function replay(t0: number, beats: Beat[]) {
    let w = emptyWindow();
    const accepted: Beat[] = [];
    for (const b of beats) {
      const r = record(w, t0, b);
      if (!r.stale) accepted.push(b);
      w = r.window;
    }
    return { w, accepted };
  }

  it('reports the same samples, rates, p95 and throughput as the last hour recomputed from scratch', () => {
    fc.assert(
      fc.property(base, fc.array(beat, { maxLength: 30 }), (t0, beats) => {
        let w = emptyWindow();
        const accepted: Beat[] = [];
        for (const b of beats) {
          const head = accepted.length ? Math.max(...accepted.map((a) => a.minute)) : -1;
          const r = record(w, t0, b);
          expect(r.stale).toBe(head >= 0 && b.minute <= head - 60);
          if (!r.stale) accepted.push(b);
          w = r.window;
          expect(windowStats(w, 1)).toEqual(bruteForce(accepted));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same window whether a heartbeat takes the in-minute shortcut or the full path', () => {
    // A window with dense arrays (as older snapshots stored it) always takes the full path:
    // decode, advance, add, encode. The canonical encoding makes both results comparable.
    const denseCopy = (w: OperationWindow): OperationWindow => ({
      ...w,
      ok: decodeSlots(w.ok, 60),
      ko: decodeSlots(w.ko, 60),
      lat: decodeSlots(w.lat, 12 * (LATENCY_BOUNDS_MS.length + 1)),
      latTotals: decodeSlots(w.latTotals, LATENCY_BOUNDS_MS.length + 1),
    });
    fc.assert(
      fc.property(base, fc.array(beat, { minLength: 1, maxLength: 30 }), (t0, beats) => {
        let w = emptyWindow();
        for (const b of beats) {
          const fast = record(w, t0, b);
          const full = record(denseCopy(w), t0, b);
          expect(fast.stale).toBe(full.stale);
          if (!fast.stale) expect(fast.window).toEqual(full.window);
          w = fast.window;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('merges the windows of several connections into the window of all their operations together', () => {
    fc.assert(
      fc.property(
        base,
        fc.array(fc.array(beat, { maxLength: 10 }), { minLength: 1, maxLength: 3 }),
        (t0, streams) => {
          // `first` (the throughput span) depends on the order heartbeats arrived in: a heartbeat
          // that arrives stale never counts, one that arrived in time is clamped to the hour.
          const { first: _m, ...merged } = mergeWindows(streams.map((s) => replay(t0, s).w));
          const { first: _t, ...together } = replay(t0, streams.flat()).w;
          expect(merged).toEqual(together);
        },
      ),
      { numRuns: 300 },
    );
  });
});
