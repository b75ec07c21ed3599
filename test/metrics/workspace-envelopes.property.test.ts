/**
 * The `success-rate` envelope of a workspace against the workspace chart's own verdicts
 * (fast-check): present exactly when the chart computes a verdict from the rate (`healthy` or
 * `breach`), breached exactly when the chart finds a breach, both when the policy is the one
 * the report was judged under and after a settings change on ACP (where the chart rolls back on
 * a breach) or on HTTP (where automatic rollout reads it). The policy's thresholds are drawn at the report's own rate and sample count as
 * often as not, so the boundaries are exercised.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WORKSPACE_POLICY as P,
  type WorkspacePolicy,
} from '../../machines/shared/workspace-policy.ts';
import { workspaceEnvelopes } from '../../src/metrics/workspace-envelopes.ts';
import { T0, harness } from '../machines/workspace.harness.ts';

const LATENCY = 2000;
const automaticOnHttp = { rolloutMode: 'automatic', autoRollout: true } as const;

const report = fc.record({
  succeeded: fc.integer({ min: 0, max: 300 }),
  failed: fc.integer({ min: 0, max: 30 }),
});
type Report = typeof report extends fc.Arbitrary<infer T> ? T : never;

/** The thresholds of a policy at, just around or away from the report's own figures. */
function thresholdsFor(
  r: Report,
): fc.Arbitrary<Pick<WorkspacePolicy, 'minSamples' | 'minSuccessRate'>> {
  const samples = r.succeeded + r.failed;
  const rate = samples === 0 ? 1 : r.succeeded / samples;
  return fc.record({
    minSamples: fc.oneof(
      fc.constantFrom(samples, samples + 1, Math.max(1, samples - 1)),
      fc.integer({ min: 1, max: 400 }),
    ),
    minSuccessRate: fc.oneof(
      fc.constantFrom(rate, rate - 1e-9, rate + 1e-9),
      fc.double({ min: 0, max: 1, noNaN: true }),
    ),
  });
}

const cases = report.chain((r) => fc.tuple(fc.constant(r), thresholdsFor(r)));

/** The `success-rate` envelope's flag, or undefined when there is none. */
function successRateFlag(h: ReturnType<typeof harness>): boolean | undefined {
  return workspaceEnvelopes(h.context, T0, LATENCY).find((e) => e.metricType === 'success-rate')
    ?.thresholdBreached;
}

describe('workspace envelopes flag what the workspace chart decides', () => {
  it('gives the success rate exactly with a verdict from it, breached exactly on a breach', () => {
    fc.assert(
      fc.property(cases, ([r, t]) => {
        const h = harness({ ...P, ...t }).ops(r.succeeded, r.failed);
        const verdict = h.context.health!.verdict;
        const flag = successRateFlag(h);
        expect(flag !== undefined).toBe(verdict === 'healthy' || verdict === 'breach');
        if (flag !== undefined) expect(flag).toBe(verdict === 'breach');
      }),
      { numRuns: 500 },
    );
  });

  it('after a settings change on ACP, flags the rate exactly when the chart rolls back on it', () => {
    fc.assert(
      fc.property(cases, ([r, t]) => {
        // Judged healthy (or without data) under the first policy; the change decides.
        const h = harness({ ...P, defaultProtocol: 'acp', minSamples: 1, minSuccessRate: 0 });
        h.ops(r.succeeded, r.failed);
        expect(h.state).toBe('acp');
        h.policyChange(t);
        if (h.state === 'acp') {
          expect(h.context.policy).toMatchObject(t);
          expect(successRateFlag(h) ?? false).toBe(false);
        } else {
          expect(h.context.lastRollback?.health.verdict).toBe('breach');
        }
      }),
      { numRuns: 500 },
    );
  });
  it('after a settings change on HTTP, reads the rate as automatic rollout does: unflagged exactly when it warms up', () => {
    fc.assert(
      fc.property(cases, ([r, t]) => {
        // The verdict recorded with the report predates the change: the envelope, like the
        // chart's autoMigrationEligible, judges the evidence under the current policy.
        const h = harness({ ...P, ...automaticOnHttp, minSamples: 1, minSuccessRate: 0 });
        h.ops(r.succeeded, r.failed);
        h.policyChange(t);
        expect(h.state).toMatch(/^http\.(idle|warming)$/);
        expect(h.state === 'http.warming').toBe(successRateFlag(h) === false);
      }),
      { numRuns: 500 },
    );
  });
});
