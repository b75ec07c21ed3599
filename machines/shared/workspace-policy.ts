/**
 * Per-installation rollout and rollback policy (admin controls), and the one pure function that
 * decides what a workspace's ACP health means under it. The workspace chart's guards and the
 * service that gathers evidence both call `healthVerdict`, so they can never disagree.
 */

export type Protocol = 'http' | 'acp';
export type RolloutMode = 'optIn' | 'scheduled' | 'automatic';

export interface WorkspacePolicy {
  /** Transport of new workspaces (and so of their new sessions). */
  defaultProtocol: Protocol;
  /** Master switch: when false no migration to ACP may start. */
  migrationEnabled: boolean;
  rolloutMode: RolloutMode;
  /** In `automatic` mode: whether the system may migrate healthy workspaces by itself. */
  autoRollout: boolean;
  /** Automatic rollback below this aggregated success rate (0-1). */
  minSuccessRate: number;
  /** Rolling window for the workspace success rate, in minutes (1-60). */
  windowMinutes: number;
  /** Operations needed in the window before the rate may trigger anything. */
  minSamples: number;
  /** No automatic migration back to ACP for this long after a rollback. */
  cooldownMs: number;
  /** Automatic rollbacks within `flapWindowMs` that stop automatic migration. */
  flapLimit: number;
  flapWindowMs: number;
  /** How long health must stay above threshold before an automatic migration starts. */
  autoMigrateAfterMs: number;
  /** A migration whose connections are not all on the target transport by then fails. */
  migrationTimeoutMs: number;
}

export const DEFAULT_WORKSPACE_POLICY: WorkspacePolicy = {
  defaultProtocol: 'http',
  migrationEnabled: true,
  rolloutMode: 'optIn',
  autoRollout: false,
  minSuccessRate: 0.99,
  windowMinutes: 60,
  minSamples: 100,
  cooldownMs: 30 * 60_000,
  flapLimit: 3,
  flapWindowMs: 24 * 3_600_000,
  autoMigrateAfterMs: 15 * 60_000,
  migrationTimeoutMs: 10 * 60_000,
};

/** What the engine measured, as recorded with every decision (`metricsSnapshot`). */
export interface HealthEvidence {
  /** Aggregated success rate over the window, null without any operation. */
  successRate: number | null;
  sampleSize: number;
  latencyP95: number | null;
  windowMinutes: number;
  /** Active connections of the workspace (not rolled back). */
  activeConnections: number;
  /** The installation's capacity use (0-1) where known; null in workspace decisions. */
  capacityPercent: number | null;
}

export type HealthVerdict =
  /** Enough samples, rate at or above the threshold. */
  | 'healthy'
  /** Enough samples, rate below the threshold: roll back. */
  | 'breach'
  /** Rate below the threshold but too few samples: hold, and record why. */
  | 'held'
  /** Too few samples, nothing wrong seen. */
  | 'insufficient-data';

/**
 * @example
 * healthVerdict({ successRate: 0.989, sampleSize: 1000, ... }, DEFAULT_WORKSPACE_POLICY); // 'breach'
 */
export function healthVerdict(
  e: Pick<HealthEvidence, 'successRate' | 'sampleSize'>,
  p: WorkspacePolicy,
): HealthVerdict {
  if (e.successRate === null) return 'insufficient-data';
  const below = e.successRate < p.minSuccessRate;
  if (e.sampleSize < p.minSamples) return below ? 'held' : 'insufficient-data';
  return below ? 'breach' : 'healthy';
}

/** Why a policy bars a requested migration to ACP: the master switch, or an opt-in it forbids. */
export type AcpMigrationBar = 'migration-disabled' | 'users-cannot-opt-in';

/**
 * What the policy says of a migration to ACP requested by `initiatedBy`: null when it allows one,
 * or why not. The workspace chart accepts a request (`isImmediateAcp`, `isScheduledAcp`) only
 * when this is null; the service explains the chart's refusals with the same answer.
 *
 * @example
 * acpMigrationBar({ ...DEFAULT_WORKSPACE_POLICY, rolloutMode: 'scheduled' }, 'user'); // 'users-cannot-opt-in'
 */
export function acpMigrationBar(
  p: Pick<WorkspacePolicy, 'migrationEnabled' | 'rolloutMode'>,
  initiatedBy: 'system' | 'operator' | 'user',
): AcpMigrationBar | null {
  if (!p.migrationEnabled) return 'migration-disabled';
  if (p.rolloutMode === 'scheduled' && initiatedBy === 'user') return 'users-cannot-opt-in';
  return null;
}
