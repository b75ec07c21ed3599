/**
 * What a workspace command asks for, and how a refusal of it reads: the request shapes, the id
 * a request creates (stable across retries of one request id), and the 409 that explains why the
 * chart refused a migration.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  type Protocol,
  type WorkspacePolicy,
  acpMigrationBar,
} from '../../machines/shared/workspace-policy.ts';
import type { MigrationInitiator } from '../../machines/workspace.machine.ts';
import { AppError } from '../errors.ts';
import type { ActorRef } from '../store/redis-store.ts';
import { toKebab } from '../wire.ts';

/** A migration conflict the caller can fix (409 with a precise code). */
export class MigrationRefusedError extends AppError {
  override readonly code = 'migration-refused';
}

export interface MigrationRequest {
  toProtocol: Protocol;
  initiatedBy: Exclude<MigrationInitiator, 'system'>;
  requestedBy?: string;
  scheduledAt?: number;
  /** Makes the request safe to retry (see SendOptions.requestId). */
  requestId?: string;
}

export interface RollbackRequest {
  reason: string;
  requestedBy?: string;
  requestId?: string;
}

/**
 * The id of what a request creates (a migration, a rollback event): random, or derived from the
 * client's request id so that a retried request answers with the same id.
 */
export function idFor(ref: ActorRef, requestId: string | undefined, purpose: string): string {
  if (requestId === undefined) return randomUUID();
  const h = createHash('sha256')
    .update(`${ref.installationId}\u0000${ref.id}\u0000${purpose}\u0000${requestId}`)
    .digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Why the chart refused a migration to ACP, for the 409 (the chart made the decision). The
 * policy's part is the chart's own rule (`acpMigrationBar`, what its guards accept on); a
 * request the policy allows was refused by the workspace's state.
 */
export function migrationRefusal(
  policy: WorkspacePolicy,
  state: string,
  initiatedBy: Exclude<MigrationInitiator, 'system'>,
): MigrationRefusedError {
  const bar = acpMigrationBar(policy, initiatedBy);
  if (bar === 'migration-disabled') {
    return new MigrationRefusedError('migration to ACP is disabled for this installation', {
      field: 'toProtocol',
    });
  }
  if (!state.startsWith('http')) {
    return new MigrationRefusedError(`workspace is ${toKebab(state)}, not on HTTP`, {
      state: toKebab(state),
    });
  }
  if (bar === 'users-cannot-opt-in') {
    return new MigrationRefusedError(
      'this installation rolls out on a schedule set by operators; users cannot opt in',
      { field: 'initiatedBy' },
    );
  }
  return new MigrationRefusedError(
    `workspace is ${toKebab(state)} and does not accept a migration now`,
    {
      state: toKebab(state),
    },
  );
}
