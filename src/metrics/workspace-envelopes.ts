/**
 * The metrics envelopes of a workspace: pure derivations from the workspace chart's own health
 * evidence (its rolling window of every connection's reported operations), so the figures are
 * the ones the chart decides breach, hold or healthy from.
 */
import type { WorkspaceContext } from '../../machines/workspace.machine.ts';
import { type StoredEnvelope, envelopeMaker } from './envelopes.ts';

/**
 * The workspace's success rate, latency p95 and throughput as envelopes (no `connectionId`).
 * `success-rate` only with at least the policy's `minSamples` operations in the window (below,
 * the chart computes no verdict from it), breached below the policy's `minSuccessRate`;
 * `latency-p95` only when a connection reported one, breached above `degradedLatencyP95Ms`
 * (DEGRADED_LATENCY_P95_MS: the workspace policy has no latency threshold of its own);
 * `throughput` is operations per minute over the minutes the window covers, breached when the
 * verdict is a breach. A workspace without evidence yet (no report) gives none.
 */
export function workspaceEnvelopes(
  c: WorkspaceContext,
  at: number,
  degradedLatencyP95Ms: number,
): StoredEnvelope[] {
  const h = c.health;
  if (!h) return [];
  const breach = h.verdict === 'breach';
  const envelope = envelopeMaker(at, c);
  const out: StoredEnvelope[] = [];
  if (h.successRate !== null && h.sampleSize >= c.policy.minSamples) {
    out.push(
      envelope('success-rate', h.successRate, breach || h.successRate < c.policy.minSuccessRate),
    );
  }
  if (h.latencyP95 !== null) {
    out.push(envelope('latency-p95', h.latencyP95, breach || h.latencyP95 > degradedLatencyP95Ms));
  }
  out.push(envelope('throughput', Math.round((h.sampleSize / minutesOf(c)) * 100) / 100, breach));
  return out;
}

/** The minutes the window covers: from its oldest counted minute to its newest, at least 1. */
function minutesOf(c: WorkspaceContext): number {
  const head = c.window.at(-1)?.[0];
  if (head === undefined) return 1;
  const first = Math.max(c.window[0]![0], head - c.policy.windowMinutes + 1);
  return Math.max(1, head - first + 1);
}

/**
 * Whether a workspace's verdict moved from one known verdict to another (e.g. healthy to breach):
 * its envelopes then go out at once. The first verdict (at the first report) is not a move.
 */
export function verdictMoved(before: WorkspaceContext | null, after: WorkspaceContext): boolean {
  const was = before?.health?.verdict;
  return was !== undefined && was !== after.health?.verdict;
}
