/**
 * The metrics envelopes of a workspace: pure derivations from the workspace chart's own health
 * evidence (its rolling window of every connection's reported operations), so the figures are
 * the ones the chart decides breach, hold or healthy from. A rollback empties the window in the
 * commit that decides it: its envelopes come from what the chart recorded with it instead
 * (`lastRollback.health`).
 */
import type { WorkspaceContext } from '../../machines/workspace.machine.ts';
import {
  type HealthEvidence,
  type HealthVerdict,
  healthVerdict,
} from '../../machines/shared/workspace-policy.ts';
import { coveredMinutes } from '../../machines/shared/workspace-window.ts';
import { type StoredEnvelope, envelopeMaker } from './envelopes.ts';

/**
 * The workspace's success rate, latency p95 and throughput as envelopes (no `connectionId`), from
 * its current window. A workspace without evidence yet (no report) gives none.
 */
export function workspaceEnvelopes(
  c: WorkspaceContext,
  at: number,
  degradedLatencyP95Ms: number,
): StoredEnvelope[] {
  if (!c.health) return [];
  return healthEnvelopes(c, c.health, coveredMinutes(c), at, degradedLatencyP95Ms);
}

/**
 * The envelopes of the workspace's last rollback, at its time: the evidence of the window it
 * was decided on (the RollbackEvent's `metricsSnapshot`) and that window's verdict, as the chart
 * recorded them (a `breach` for an automatic rollback, so all three are breached).
 */
export function rollbackEnvelopes(
  c: WorkspaceContext,
  degradedLatencyP95Ms: number,
): StoredEnvelope[] {
  const r = c.lastRollback;
  if (!r) return [];
  return healthEnvelopes(c, r.health, r.health.coveredMinutes, r.at, degradedLatencyP95Ms);
}

/**
 * `success-rate` only with at least the policy's `minSamples` operations in the window (below,
 * the chart computes no verdict from it), breached below the policy's `minSuccessRate`: both as
 * the chart's `healthVerdict` judges the evidence under the workspace's policy (`healthy` or
 * `breach`);
 * `latency-p95` only when a connection reported one, breached above `degradedLatencyP95Ms`
 * (DEGRADED_LATENCY_P95_MS: the workspace policy has no latency threshold of its own);
 * `throughput` is operations per minute over the minutes the window covers. All three are
 * breached when the verdict is a breach.
 */
function healthEnvelopes(
  c: WorkspaceContext,
  h: HealthEvidence & { verdict: HealthVerdict },
  minutes: number,
  at: number,
  degradedLatencyP95Ms: number,
): StoredEnvelope[] {
  const breach = h.verdict === 'breach';
  const envelope = envelopeMaker(at, c);
  const out: StoredEnvelope[] = [];
  const judged = healthVerdict(h, c.policy);
  if (h.successRate !== null && (judged === 'healthy' || judged === 'breach')) {
    out.push(envelope('success-rate', h.successRate, breach || judged === 'breach'));
  }
  if (h.latencyP95 !== null) {
    out.push(envelope('latency-p95', h.latencyP95, breach || h.latencyP95 > degradedLatencyP95Ms));
  }
  out.push(envelope('throughput', Math.round((h.sampleSize / minutes) * 100) / 100, breach));
  return out;
}

/**
 * Whether a workspace's verdict moved from one known verdict to another (e.g. healthy to breach):
 * its envelopes then go out at once. The first verdict (at the first report) is not a move.
 */
export function verdictMoved(before: WorkspaceContext | null, after: WorkspaceContext): boolean {
  const was = before?.health?.verdict;
  return was !== undefined && was !== after.health?.verdict;
}

/** Whether the commit from `before` to `after` recorded a rollback (a new `lastRollback`). */
export function rolledBack(before: WorkspaceContext | null, after: WorkspaceContext): boolean {
  const r = after.lastRollback;
  return r !== null && r.eventId !== before?.lastRollback?.eventId;
}
