/**
 * The `thresholdBreached` flags of a connection's envelopes against the connection chart's own
 * health (fast-check): the chart is fed a heartbeat, and the envelopes of its window, read as if
 * the connection were still `connected`, flag a success rate or a latency exactly when the chart
 * judged the window degraded or failing. Thresholds are drawn at the window's own figures (its
 * rate, its sample counts, its p95 bucket) as often as not, so the boundaries are exercised.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ConnectionThresholds,
  DEFAULT_CONNECTION_THRESHOLDS as D,
} from '../../machines/connection.machine.ts';
import { LATENCY_BOUNDS_MS } from '../../machines/shared/window.ts';
import { connectionEnvelopes } from '../../src/metrics/connection-envelopes.ts';
import { T0, harness } from '../machines/connection.machine.helpers.ts';

const heartbeat = fc.record({
  succeeded: fc.integer({ min: 0, max: 300 }),
  failed: fc.integer({ min: 0, max: 30 }),
  latencyMs: fc.array(fc.constantFrom(...LATENCY_BOUNDS_MS, 20_000), { maxLength: 300 }),
});
type Heartbeat = typeof heartbeat extends fc.Arbitrary<infer T> ? T : never;

/** Thresholds at, just around or away from the heartbeat's own figures. */
function thresholdsFor(b: Heartbeat): fc.Arbitrary<ConnectionThresholds> {
  const samples = b.succeeded + b.failed;
  const rate = samples === 0 ? 1 : b.succeeded / samples;
  const near = (x: number) => fc.constantFrom(x, x - 1e-9, x + 1e-9);
  return fc
    .record({
      minSamples: fc.oneof(
        fc.constantFrom(samples, samples + 1, b.latencyMs.length, b.latencyMs.length + 1),
        fc.integer({ min: 1, max: 300 }),
      ),
      degradedSuccessRate: fc.oneof(near(rate), fc.double({ min: 0.5, max: 1, noNaN: true })),
      errorGap: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.5, noNaN: true })),
      degradedLatencyP95Ms: fc.oneof(
        fc.constantFrom(...LATENCY_BOUNDS_MS),
        fc.integer({ min: 1, max: 20_000 }),
      ),
    })
    .map(({ errorGap, ...t }) => ({
      ...D,
      ...t,
      minSamples: Math.max(1, t.minSamples),
      errorSuccessRate: t.degradedSuccessRate - errorGap,
    }));
}

describe('connection envelopes flag what the connection chart judges', () => {
  it('flags a success rate or a latency exactly when the chart finds the window degraded or failing', () => {
    fc.assert(
      fc.property(
        heartbeat.chain((b) => fc.tuple(fc.constant(b), thresholdsFor(b))),
        ([b, t]) => {
          const h = harness(t)
            .send({ type: 'HANDSHAKE', protocolVersion: '1.0.0', negotiatedCapabilities: [] })
            .send({ type: 'HEARTBEAT', at: T0 + 1_000, receivedAt: T0 + 1_000, ...b });
          const health = h.context.health;
          const flags = connectionEnvelopes(h.context, 'connected', T0 + 1_000, t)
            .filter((e) => e.metricType !== 'throughput')
            .map((e) => [e.metricType, e.thresholdBreached] as const);
          const breached = new Map(flags);
          expect([...breached.values()].some(Boolean)).toBe(
            health === 'degraded' || health === 'failing',
          );
          if (health === 'failing') expect(breached.get('success-rate')).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
