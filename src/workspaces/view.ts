/**
 * The workspace record as served (GET /v1/workspaces/:id and every command's answer), built from
 * the chart's persisted snapshot: what the chart sees, read with the chart's own functions.
 */
import { evidenceFor, verdictFor } from '../../machines/shared/workspace-evidence.ts';
import { countMembers } from '../../machines/shared/workspace-window.ts';
import type { WorkspacePolicy } from '../../machines/shared/workspace-policy.ts';
import type { WorkspaceContext } from '../../machines/workspace.machine.ts';
import type { PersistedState } from '../engine/step.ts';
import { iso, toKebab } from '../wire.ts';
import { toWire } from './settings.ts';
import { workspaceState } from './state.ts';

/**
 * @param firstTimerDue the due time of the workspace's first durable timer (the start of a
 * scheduled migration while it is scheduled).
 */
export function workspaceView(
  state: PersistedState,
  policy: WorkspacePolicy,
  firstTimerDue: number | null,
) {
  const ctx = state.context as unknown as WorkspaceContext;
  const path = workspaceState(state.value);
  const members = Object.values(ctx.members);
  const byStatus: Record<string, number> = {};
  for (const status of members) byStatus[toKebab(status)] = (byStatus[toKebab(status)] ?? 0) + 1;
  // What the chart sees: its own window and members under its own policy, with the functions
  // its guards use (read only), so the verdict shown is the one the chart decides on.
  const evidence = evidenceFor(ctx);
  const scheduledStart = path === 'http.scheduled' ? firstTimerDue : null;
  return {
    workspaceId: ctx.workspaceId,
    installationId: ctx.installationId,
    transport: path === 'acp' ? 'acp' : 'http',
    state: path.split('.').map(toKebab).join('.'),
    transportSince: iso(ctx.transportSince),
    migration: ctx.migration
      ? {
          ...ctx.migration,
          status: 'in-progress',
          startedAt: iso(ctx.migration.startedAt),
          scheduledAt: iso(ctx.migration.scheduledAt),
        }
      : null,
    scheduledMigration:
      ctx.pending && path === 'http.scheduled'
        ? {
            ...ctx.pending,
            startedAt: undefined,
            requestedAt: iso(ctx.pending.startedAt),
            scheduledAt: iso(scheduledStart ?? ctx.pending.scheduledAt),
          }
        : null,
    connections: { total: members.length, byStatus, ...countMembers(ctx.members) },
    health: {
      ...evidence,
      verdict: verdictFor(ctx),
      minSuccessRate: ctx.policy.minSuccessRate,
      minSamples: ctx.policy.minSamples,
    },
    cooldownUntil: iso(ctx.cooldownUntil),
    autoMigrationBlocked: ctx.autoMigrationBlocked,
    autoRollbacksInFlapWindow: ctx.autoRollbacks.length,
    // The rollback's evidence is in its RollbackEvent (`metricsSnapshot`), not repeated here.
    lastRollback: ctx.lastRollback
      ? {
          eventId: ctx.lastRollback.eventId,
          at: iso(ctx.lastRollback.at),
          trigger: toKebab(ctx.lastRollback.trigger),
          reasonCode: ctx.lastRollback.reasonCode,
        }
      : null,
    settings: toWire(policy),
  };
}
