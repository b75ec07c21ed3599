import { describe, expect, it } from 'vitest';
import {
  emptyWindow,
  mergeWindows,
  recordOperations,
  windowStats,
} from '../../machines/shared/window.ts';

const MIN = 60_000;
const T0 = Date.parse('2026-11-25T12:00:00.000Z');

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
});
