/**
 * The workspace chart's guards: pure predicates on the context and the event, given to `setup`
 * in machines/workspace.machine.ts under these names (the transitions, the visualizations and
 * the model tests refer to them by name).
 */
import { absorbed, verdictFor } from './workspace-evidence.ts';
import { acpMigrationBar, healthVerdict } from './workspace-policy.ts';
import { recoversFromRollback } from './workspace-records.ts';
import type { WorkspaceContext, WorkspaceEvent } from './workspace-types.ts';

interface Args {
  context: WorkspaceContext;
  event: WorkspaceEvent;
}

export const workspaceGuards = {
  startsOnAcp: ({ context }: Args) => context.policy.defaultProtocol === 'acp',
  isImmediateAcp: ({ context, event }: Args) =>
    event.type === 'REQUEST_MIGRATION' &&
    event.toProtocol === 'acp' &&
    acpMigrationBar(event.policy, event.initiatedBy) === null &&
    (event.scheduledAt === null || event.scheduledAt <= event.at) &&
    context.migration === null,
  isScheduledAcp: ({ event }: Args) =>
    event.type === 'REQUEST_MIGRATION' &&
    event.toProtocol === 'acp' &&
    acpMigrationBar(event.policy, event.initiatedBy) === null &&
    event.scheduledAt !== null &&
    event.scheduledAt > event.at,
  // A move to HTTP happens at once: there is no scheduled path to HTTP, so a request that asks
  // for a later time is refused rather than carried out now.
  isToHttp: ({ event }: Args) =>
    event.type === 'REQUEST_MIGRATION' && event.toProtocol === 'http' && event.scheduledAt === null,
  breaches: ({ context, event }: Args) =>
    (event.type === 'CONNECTION_REPORT' && verdictFor(absorbed(context, event)) === 'breach') ||
    (event.type === 'POLICY' && verdictFor({ ...context, policy: event.policy }) === 'breach'),
  isHeld: ({ context, event }: Args) =>
    event.type === 'CONNECTION_REPORT' &&
    verdictFor(absorbed(context, event)) === 'held' &&
    context.health?.verdict !== 'held',
  allOnAcp: ({ context }: Args) =>
    context.connections.active > 0 && context.connections.pending === 0,
  // On HTTP because of the last rollback: a migration to ACP that succeeds is its recovery.
  recoversFromRollback: ({ context }: Args) => recoversFromRollback(context),
  autoMigrationEligible: ({ context }: Args) =>
    context.policy.rolloutMode === 'automatic' &&
    context.policy.autoRollout &&
    context.policy.migrationEnabled &&
    !context.autoMigrationBlocked &&
    // The evidence of the last report, judged under the current policy: the verdict recorded
    // with it may predate a settings change (POLICY) that makes the same evidence a breach.
    context.health !== null &&
    healthVerdict(context.health, context.policy) === 'healthy',
  isBlocked: ({ context }: Args) => context.autoMigrationBlocked,
  // A settings change that would refuse the scheduled migration if it were requested now
  // (migration disabled, or users no longer allowed to opt in) cancels it.
  barsScheduled: ({ context, event }: Args) =>
    event.type === 'POLICY' &&
    context.pending !== null &&
    acpMigrationBar(event.policy, context.pending.initiatedBy) !== null,
};
