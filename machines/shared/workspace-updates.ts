/**
 * What the workspace chart's `assign` actions compute: the context after each decision, pure,
 * from the context and the event alone. machines/workspace.machine.ts names each one in its
 * `setup` under the same name (`absorb: assign(update.absorb)`), so the chart, its
 * visualizations and its tests keep the names; only the bodies live here.
 */
import { assertEvent } from 'xstate';
import { healthVerdict } from './workspace-policy.ts';
import {
  type Migration,
  type WorkspaceContext,
  type WorkspaceEvent,
  absorbed,
  evidenceFor,
  rollbackOf,
} from './workspace-records.ts';
import type { WorkspaceWindow } from './workspace-window.ts';

interface Args {
  context: WorkspaceContext;
  event: WorkspaceEvent;
}

/** Takes in a connection's report: its status, its operations, the verdict they give. */
export function absorb({ context, event }: Args): Partial<WorkspaceContext> {
  assertEvent(event, 'CONNECTION_REPORT');
  const next = absorbed(context, event);
  const evidence = evidenceFor(next);
  return {
    members: next.members,
    window: next.window,
    connections: next.connections,
    nextMigrationId: event.spareId,
    health: {
      ...evidence,
      verdict: healthVerdict(evidence, context.policy),
      at: event.at,
    },
  };
}

export function recordPolicy({ event }: Args): Partial<WorkspaceContext> {
  assertEvent(event, 'POLICY');
  return { policy: event.policy };
}

export function startMigration({ event }: Args): Partial<WorkspaceContext> {
  if (event.type !== 'REQUEST_MIGRATION') return {};
  const m: Migration = {
    migrationId: event.migrationId,
    fromProtocol: event.toProtocol === 'acp' ? 'http' : 'acp',
    toProtocol: event.toProtocol,
    initiatedBy: event.initiatedBy,
    requestedBy: event.requestedBy,
    startedAt: event.at,
    scheduledAt: event.scheduledAt,
  };
  return { migration: m, pending: null, policy: event.policy, window: [] as WorkspaceWindow };
}

export function schedule({ event }: Args): Partial<WorkspaceContext> {
  if (event.type !== 'REQUEST_MIGRATION') return {};
  return {
    policy: event.policy,
    pending: {
      migrationId: event.migrationId,
      fromProtocol: 'http' as const,
      toProtocol: 'acp' as const,
      initiatedBy: event.initiatedBy,
      requestedBy: event.requestedBy,
      startedAt: event.at,
      scheduledAt: event.scheduledAt,
    },
  };
}

/** Turns the pending (scheduled or automatic) migration into the running one. */
export function startPending({ context, event }: Args): Partial<WorkspaceContext> {
  const at = (event as { at: number }).at;
  const pending: Migration = context.pending ?? {
    migrationId: context.nextMigrationId ?? `auto-${at}`,
    fromProtocol: 'http',
    toProtocol: 'acp',
    initiatedBy: 'system',
    requestedBy: null,
    startedAt: at,
    scheduledAt: null,
  };
  return {
    migration: { ...pending, startedAt: at },
    pending: null,
    nextMigrationId: null,
    window: [] as WorkspaceWindow,
  };
}

export function completeMigration({ event }: Args): Partial<WorkspaceContext> {
  return {
    migration: null,
    transportSince: (event as { at: number }).at,
    window: [] as WorkspaceWindow,
  };
}

export function enterCooldown({ context, event }: Args): Partial<WorkspaceContext> {
  const e = rollbackOf(context, event);
  const auto = e.type === 'AUTO_ROLLBACK';
  const recent = context.autoRollbacks.filter((t) => t > e.at - e.policy.flapWindowMs);
  if (auto) recent.push(e.at);
  return {
    policy: e.policy,
    migration: null,
    pending: null,
    transportSince: e.at,
    cooldownMs: e.policy.cooldownMs,
    cooldownUntil: e.at + e.policy.cooldownMs,
    autoRollbacks: recent,
    autoMigrationBlocked:
      context.autoMigrationBlocked || (auto && recent.length >= e.policy.flapLimit),
    lastRollback: {
      eventId: e.eventId,
      at: e.at,
      trigger: e.trigger,
      reasonCode: auto ? 'success-rate-below-threshold' : 'manual',
      // The window is emptied below: keep what the decision saw.
      health: { ...e.evidence, verdict: e.verdict, coveredMinutes: e.coveredMinutes },
    },
    window: [] as WorkspaceWindow,
    // The new transport has no evidence yet: a stale `healthy` must not start the
    // automatic rollout again after the cooldown (nothing reports once all rolled back).
    health: null,
  };
}

export function toHttp({ event }: Args): Partial<WorkspaceContext> {
  return {
    transportSince: (event as { at: number }).at,
    migration: null,
    window: [] as WorkspaceWindow,
    // As after a rollback: no automatic migration back to ACP on the health of the old one.
    health: null,
  };
}
