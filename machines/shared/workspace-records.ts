/**
 * The workspace chart's records: the pure functions that turn a decision into audit records
 * (ProtocolMigrationLog, RollbackEvent, decisions) and user notifications. Re-exports the chart's
 * vocabulary (workspace-types.ts) and the view of its window (workspace-evidence.ts). Used by
 * machines/workspace.machine.ts (and re-exported there).
 */
import { assertEvent } from 'xstate';
import {
  type HealthEvidence,
  type HealthVerdict,
  type WorkspacePolicy,
  healthVerdict,
} from './workspace-policy.ts';
import { coveredMinutes, liveMembers } from './workspace-window.ts';
import { absorbed, evidenceFor } from './workspace-evidence.ts';
import type {
  Migration,
  RollbackTrigger,
  Stamped,
  WorkspaceContext,
  WorkspaceEvent,
} from './workspace-types.ts';

export * from './workspace-types.ts';
export { absorbed, evidenceFor, verdictFor, windowOwner } from './workspace-evidence.ts';

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
export const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Audit stream names (per workspace); see src/workspaces for the routes that read them. */
export const STREAMS = {
  migrations: (ws: string) => `migrations:${ws}`,
  rollbacks: (ws: string) => `rollbacks:${ws}`,
  decisions: (ws: string) => `decisions:${ws}`,
};

export function metricsSnapshot(e: HealthEvidence) {
  return {
    successRate: e.successRate,
    sampleSize: e.sampleSize,
    latencyP95: e.latencyP95,
    windowMinutes: e.windowMinutes,
    activeConnections: e.activeConnections,
    capacityPercent: e.capacityPercent,
  };
}

/** A decision record (holds, re-enables) for the workspace's `decisions` audit stream. */
export function decision(
  c: WorkspaceContext,
  e: Stamped,
  kind: string,
  extra: Record<string, unknown>,
) {
  return {
    stream: STREAMS.decisions(c.workspaceId),
    id: e.eventId,
    at: e.at,
    record: {
      decisionId: e.eventId,
      workspaceId: c.workspaceId,
      installationId: c.installationId,
      decision: kind,
      ...extra,
      at: iso(e.at),
    },
  };
}

/** A ProtocolMigrationLog entry in wire format. Entries are appended, never rewritten. */
export function migrationLog(
  c: WorkspaceContext,
  m: Migration,
  status: 'inProgress' | 'succeeded' | 'rolledBack' | 'failed',
  at: number,
  extra: {
    rollbackReason?: string | null;
    failureReason?: string | null;
    evidence?: HealthEvidence | null;
  } = {},
) {
  return {
    migrationId: m.migrationId,
    workspaceId: c.workspaceId,
    installationId: c.installationId,
    initiatedBy: m.initiatedBy,
    requestedBy: m.requestedBy,
    fromProtocol: m.fromProtocol,
    toProtocol: m.toProtocol,
    status: kebab(status),
    startedAt: iso(m.startedAt),
    completedAt: status === 'inProgress' ? null : iso(at),
    scheduledAt: iso(m.scheduledAt),
    rollbackReason: extra.rollbackReason ?? null,
    failureReason: extra.failureReason ?? null,
    metricsSnapshot: extra.evidence
      ? metricsSnapshot(extra.evidence)
      : c.health
        ? metricsSnapshot(c.health)
        : null,
    connections: c.connections,
    recordedAt: iso(at),
  };
}

/** A rollback as decided: automatic (a report breached the threshold) or requested. */
export interface RollbackEventIn {
  type: 'AUTO_ROLLBACK' | 'ROLLBACK_REQUESTED';
  at: number;
  eventId: string;
  migrationId: string;
  trigger: RollbackTrigger;
  reason: string;
  requestedBy: string | null;
  evidence: HealthEvidence;
  /** The evidence's verdict under `policy`: `breach` for an automatic rollback. */
  verdict: HealthVerdict;
  /** The minutes the window of the evidence covered. */
  coveredMinutes: number;
  policy: WorkspacePolicy;
  connectionIds: string[];
}

/** The two events that roll a workspace back, for `assertEvent`. */
export const ROLLBACK_EVENTS = ['CONNECTION_REPORT', 'POLICY', 'ROLLBACK_REQUESTED'] as const;

/** The rollback that `event` decides, from the chart's own window and members. */
export function rollbackOf(c: WorkspaceContext, event: WorkspaceEvent): RollbackEventIn {
  assertEvent(event, ROLLBACK_EVENTS);
  const ctx =
    event.type === 'CONNECTION_REPORT'
      ? absorbed(c, event)
      : event.type === 'POLICY'
        ? { ...c, policy: event.policy }
        : c;
  const evidence = evidenceFor(ctx);
  const common = {
    at: event.at,
    eventId: event.eventId,
    evidence,
    coveredMinutes: coveredMinutes(ctx),
    connectionIds: liveMembers(ctx.members),
  };
  if (event.type !== 'ROLLBACK_REQUESTED') {
    return {
      ...common,
      type: 'AUTO_ROLLBACK',
      migrationId: event.spareId,
      trigger: 'autoThreshold',
      reason: `aggregated ACP success rate ${evidence.successRate} over ${evidence.sampleSize} operations fell below ${ctx.policy.minSuccessRate}`,
      requestedBy: null,
      // The verdict the `breaches` guard took this rollback on.
      verdict: healthVerdict(evidence, ctx.policy),
      policy: ctx.policy,
    };
  }
  return {
    ...common,
    type: 'ROLLBACK_REQUESTED',
    migrationId: event.migrationId,
    trigger: event.trigger,
    reason: event.reason,
    requestedBy: event.requestedBy,
    verdict: healthVerdict(evidence, event.policy),
    policy: event.policy,
  };
}

export function rollbackNotification(e: RollbackEventIn) {
  const auto = e.type === 'AUTO_ROLLBACK';
  const rate =
    e.evidence.successRate === null ? 'n/a' : `${(e.evidence.successRate * 100).toFixed(1)}%`;
  return {
    toast: {
      severity: 'error' as const,
      title: 'Switched to HTTP',
      body: auto
        ? `ACP success rate fell to ${rate} (below ${(e.policy.minSuccessRate * 100).toFixed(1)}%); this workspace now uses HTTP.`
        : 'This workspace was switched back to HTTP by request; your sessions continue over HTTP.',
    },
    transcriptNote: auto
      ? `Workspace rolled back from ACP to HTTP automatically: success rate ${rate} over ${e.evidence.sampleSize} operations in the last ${e.evidence.windowMinutes} min was below the ${(e.policy.minSuccessRate * 100).toFixed(1)}% threshold.`
      : `Workspace rolled back from ACP to HTTP (${kebab(e.trigger)}): ${e.reason}`,
  };
}

/**
 * Whether the workspace is on HTTP because of its last rollback: nothing has changed its
 * transport since (a requested move to HTTP would have). A migration to ACP that succeeds then
 * is its recovery.
 */
export function recoversFromRollback(c: WorkspaceContext): boolean {
  return c.lastRollback !== null && c.lastRollback.at >= c.transportSince;
}

/**
 * What users are told when a workspace rolled back to HTTP is on ACP again (a `recovery`
 * notification, `info`): the migration that brought it back succeeded. Its id is the
 * migration's, so a retried effect notifies once.
 */
export function recoveryNotice(context: WorkspaceContext, at: number) {
  const m = context.migration!;
  const r = context.lastRollback!;
  return {
    workspaceId: context.workspaceId,
    installationId: context.installationId,
    eventId: `${m.migrationId}-recovered`,
    kind: 'recovery' as const,
    toast: {
      severity: 'info' as const,
      title: 'Back on ACP',
      body: 'This workspace uses ACP again after its rollback to HTTP; your sessions continue over ACP.',
    },
    transcriptNote:
      `Workspace back on ACP at ${iso(at)} (migration ${m.migrationId}, ${m.initiatedBy}) after ` +
      `its rollback to HTTP at ${iso(r.at)} (${kebab(r.trigger)}, ${r.reasonCode}).`,
  };
}

/** The RollbackEvent audit record of a rollback. */
export function rollbackEventAudit(context: WorkspaceContext, event: WorkspaceEvent) {
  const e = rollbackOf(context, event);
  const auto = e.type === 'AUTO_ROLLBACK';
  return {
    stream: STREAMS.rollbacks(context.workspaceId),
    id: e.eventId,
    at: e.at,
    record: {
      eventId: e.eventId,
      workspaceId: context.workspaceId,
      installationId: context.installationId,
      trigger: kebab(e.trigger),
      reasonCode: auto ? 'success-rate-below-threshold' : 'manual',
      reason: e.reason,
      requestedBy: e.requestedBy,
      initiatedAt: iso(e.at),
      completedAt: iso(e.at),
      previousProtocol: 'acp',
      newProtocol: 'http',
      followUpActions: auto ? ['notify-users', 'schedule-review'] : ['notify-users'],
      migrationId: context.migration?.migrationId ?? e.migrationId,
      metricsSnapshot: metricsSnapshot(e.evidence),
      thresholds: {
        minSuccessRate: e.policy.minSuccessRate,
        minSamples: e.policy.minSamples,
        windowMinutes: e.policy.windowMinutes,
      },
      connectionIds: e.connectionIds,
      cooldownUntil: iso(e.at + e.policy.cooldownMs),
      notification: rollbackNotification(e),
    },
  };
}

/** The `rolled-back` ProtocolMigrationLog entry of a rollback. */
export function rolledBackLogAudit(context: WorkspaceContext, event: WorkspaceEvent) {
  const e = rollbackOf(context, event);
  const auto = e.type === 'AUTO_ROLLBACK';
  const m: Migration = context.migration ?? {
    migrationId: e.migrationId,
    fromProtocol: 'acp',
    toProtocol: 'http',
    initiatedBy: auto ? 'system' : e.trigger === 'manualOperator' ? 'operator' : 'user',
    requestedBy: e.requestedBy,
    startedAt: e.at,
    scheduledAt: null,
  };
  return {
    stream: STREAMS.migrations(context.workspaceId),
    id: `${m.migrationId}-rolled-back`,
    at: e.at,
    record: {
      ...migrationLog(context, m, 'rolledBack', e.at, {
        rollbackReason: auto ? 'success-rate-below-threshold' : e.reason,
        evidence: e.evidence,
      }),
      rollbackEventId: e.eventId,
    },
  };
}

/** The `rollback-held` decision: the rate is below the threshold but the samples are too few. */
export function heldDecisionAudit(context: WorkspaceContext, event: WorkspaceEvent) {
  const e = evidenceFor(context);
  return decision(context, event, 'rollback-held', {
    reason: `success rate ${e.successRate} is below ${context.policy.minSuccessRate}, but only ${e.sampleSize} of the ${context.policy.minSamples} operations needed were seen: holding, not rolling back`,
    metricsSnapshot: metricsSnapshot(e),
  });
}

/** The end of the running migration: every connection on ACP, or timed out with the counts. */
export function migrationEndAudit(
  context: WorkspaceContext,
  status: 'succeeded' | 'failed',
  at: number,
) {
  const m = context.migration!;
  const c = context.connections;
  return {
    stream: STREAMS.migrations(context.workspaceId),
    id: `${m.migrationId}-${status}`,
    at,
    record: migrationLog(
      context,
      m,
      status,
      at,
      status === 'failed'
        ? {
            failureReason: `timed out: ${c.pending} of ${c.active} active connections were not on ACP (${c.onAcp} were)`,
          }
        : {},
    ),
  };
}

/** A requested move from ACP back to HTTP, logged as a succeeded migration. */
export function toHttpAudit(context: WorkspaceContext, event: WorkspaceEvent) {
  assertEvent(event, 'REQUEST_MIGRATION');
  const m: Migration = {
    migrationId: event.migrationId,
    fromProtocol: 'acp',
    toProtocol: 'http',
    initiatedBy: event.initiatedBy,
    requestedBy: event.requestedBy,
    startedAt: event.at,
    scheduledAt: null,
  };
  return {
    stream: STREAMS.migrations(context.workspaceId),
    id: `${event.migrationId}-succeeded`,
    at: event.at,
    record: migrationLog(context, m, 'succeeded', event.at, {
      evidence: evidenceFor(context),
    }),
  };
}
