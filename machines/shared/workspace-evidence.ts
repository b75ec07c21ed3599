/**
 * The workspace's view of its own window, as its guards, actions and records ask for it: the
 * context once a report is absorbed, and the evidence and verdict of a context. Contexts are
 * immutable snapshots, so each is computed once per context object and report (one step asks
 * the guards, then the actions, for the same ones).
 */
import { type HealthEvidence, type HealthVerdict, healthVerdict } from './workspace-policy.ts';
import type { ConnectionReport, WorkspaceContext } from './workspace-types.ts';
import { type WindowOwner, absorbReport, countMembers, evidenceOf } from './workspace-window.ts';

/** The context once a report is absorbed: what the guards and the decision records see. */
export function absorbed(c: WorkspaceContext, e: ConnectionReport): WorkspaceContext {
  // One step asks this for the same report and context several times (the guards, then the
  // actions): computed once. Both are immutable snapshots, so identity is a safe key. Only the
  // last answer is kept: a step asks for one pair, and an answer kept for every report (a
  // WeakMap keyed by the report, which lives until its batch is answered) kept each report's
  // context before and after it alive, a window and a member list per report of a batch.
  if (last !== null && last.event === e && last.context === c) return last.result;
  const next = absorbReport(windowOwner(c), e);
  // The counts follow the members; most reports (heartbeats) leave the members as they were.
  const connections = next.members === c.members ? c.connections : countMembers(next.members);
  const result = { ...c, ...next, connections };
  last = { event: e, context: c, result };
  return result;
}

let last: { event: ConnectionReport; context: WorkspaceContext; result: WorkspaceContext } | null =
  null;

export const windowOwner = (c: WorkspaceContext): WindowOwner => ({
  policy: c.policy,
  members: c.members,
  window: c.window,
  since: c.migration?.startedAt ?? c.transportSince,
  active: c.connections.active,
});

const evidences = new WeakMap<WorkspaceContext, HealthEvidence>();

/** The evidence of a context's own window (`metricsSnapshot` of every decision). */
export function evidenceFor(c: WorkspaceContext): HealthEvidence {
  let evidence = evidences.get(c);
  if (!evidence) {
    evidence = evidenceOf(windowOwner(c));
    evidences.set(c, evidence);
  }
  return evidence;
}

/** The verdict of a context's own window against its policy. */
export const verdictFor = (c: WorkspaceContext): HealthVerdict =>
  healthVerdict(evidenceFor(c), c.policy);
