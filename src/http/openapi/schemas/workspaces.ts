/**
 * Response schemas of the workspace and installation-settings routes (src/workspaces/ and the
 * audit records written by machines/workspace.machine.ts).
 */
import { z } from 'zod';
import {
  connectionCounts,
  duplicate,
  id,
  metricsSnapshot,
  nullableTime,
  page,
  rate,
  time,
} from './common.ts';

const protocol = z.enum(['http', 'acp']);
const initiatedBy = z.enum(['system', 'operator', 'user']);
const trigger = z.enum(['auto-threshold', 'manual-operator', 'manual-user']);

export const installationSettings = z
  .strictObject({
    defaultProtocol: protocol,
    migrationEnabled: z.boolean(),
    rolloutMode: z.enum(['opt-in', 'scheduled', 'automatic']),
    autoRollout: z.boolean(),
    thresholds: z.strictObject({
      minSuccessRate: rate,
      windowMinutes: z.number().int(),
      minSamples: z.number().int(),
      cooldownMinutes: z.number().int(),
      flapLimit: z.number().int(),
      flapWindowHours: z.number().int(),
      autoMigrateAfterMinutes: z.number().int(),
      migrationTimeoutMinutes: z.number().int(),
    }),
  })
  .meta({ id: 'InstallationSettings' });

export const settingsChange = z
  .strictObject({
    changeId: id,
    installationId: id,
    changedBy: z.string().meta({ description: "the token's name, never the token" }),
    changedAt: time,
    changes: z
      .record(z.string(), z.strictObject({ from: z.unknown(), to: z.unknown() }))
      .meta({ description: 'by setting, e.g. `thresholds.flapLimit`' }),
  })
  .meta({ id: 'SettingsChange' });

export const settingsUpdate = z
  .strictObject({
    settings: installationSettings,
    change: settingsChange
      .nullable()
      .meta({ description: 'the audited change; null when the request changed nothing' }),
  })
  .meta({ id: 'SettingsUpdate' });

export const settingsChangePage = page(settingsChange).meta({ id: 'SettingsChangePage' });

const migrationInProgress = z.strictObject({
  migrationId: id,
  fromProtocol: protocol,
  toProtocol: protocol,
  initiatedBy,
  requestedBy: z.string().nullable(),
  startedAt: time,
  scheduledAt: nullableTime,
  status: z.literal('in-progress'),
});

export const workspace = z
  .strictObject({
    workspaceId: id,
    installationId: id,
    transport: protocol,
    state: z.enum([
      'http.idle',
      'http.scheduled',
      'http.warming',
      'http.cooldown',
      'migrating',
      'acp',
    ]),
    transportSince: time,
    migration: migrationInProgress.nullable(),
    scheduledMigration: z
      .strictObject({
        migrationId: id,
        fromProtocol: protocol,
        toProtocol: protocol,
        initiatedBy,
        requestedBy: z.string().nullable(),
        scheduledAt: nullableTime,
        requestedAt: time,
      })
      .nullable(),
    connections: connectionCounts
      .extend({
        total: z.number().int().min(0),
        byStatus: z.record(z.string(), z.number().int().min(0)),
      })
      .strict(),
    health: metricsSnapshot
      .extend({
        verdict: z.enum(['healthy', 'breach', 'held', 'insufficient-data']),
        minSuccessRate: rate,
        minSamples: z.number().int(),
      })
      .strict()
      .meta({ id: 'WorkspaceHealth' }),
    cooldownUntil: nullableTime,
    autoMigrationBlocked: z.boolean(),
    autoRollbacksInFlapWindow: z.number().int().min(0),
    lastRollback: z
      .strictObject({ eventId: id, at: time, trigger, reasonCode: z.string() })
      .nullable(),
    settings: installationSettings,
    duplicate,
  })
  .meta({ id: 'Workspace' });

export const migrationAccepted = z
  .strictObject({ migrationId: id, workspace, duplicate })
  .meta({ id: 'MigrationAccepted' });

export const rollbackAccepted = z
  .strictObject({ eventId: id, workspace, duplicate })
  .meta({ id: 'RollbackAccepted' });

export const migrationLogEntry = z
  .strictObject({
    migrationId: id,
    workspaceId: id,
    installationId: id,
    initiatedBy,
    requestedBy: z.string().nullable(),
    fromProtocol: protocol,
    toProtocol: protocol,
    status: z.enum(['in-progress', 'succeeded', 'rolled-back', 'failed']),
    startedAt: time,
    completedAt: nullableTime,
    scheduledAt: nullableTime,
    rollbackReason: z.string().nullable(),
    failureReason: z.string().nullable(),
    metricsSnapshot: metricsSnapshot.nullable(),
    connections: connectionCounts,
    recordedAt: time,
    rollbackEventId: id.optional().meta({ description: 'on `rolled-back` entries' }),
  })
  .meta({ id: 'ProtocolMigrationLogEntry' });

export const rollbackEvent = z
  .strictObject({
    eventId: id,
    workspaceId: id,
    installationId: id,
    trigger,
    reasonCode: z.enum(['success-rate-below-threshold', 'manual']),
    reason: z.string(),
    requestedBy: z.string().nullable(),
    initiatedAt: time,
    completedAt: time,
    previousProtocol: z.literal('acp'),
    newProtocol: z.literal('http'),
    followUpActions: z.array(z.enum(['notify-users', 'schedule-review'])),
    migrationId: id,
    metricsSnapshot,
    thresholds: z.strictObject({
      minSuccessRate: rate,
      minSamples: z.number().int(),
      windowMinutes: z.number().int(),
    }),
    connectionIds: z.array(id),
    cooldownUntil: time,
    notification: z.strictObject({
      toast: z.strictObject({
        severity: z.enum(['info', 'warning', 'error']),
        title: z.string(),
        body: z.string(),
      }),
      transcriptNote: z.string(),
    }),
  })
  .meta({ id: 'RollbackEvent' });

export const decision = z
  .strictObject({
    decisionId: id,
    workspaceId: id,
    installationId: id,
    decision: z.enum(['rollback-held', 'auto-migration-reenabled']),
    reason: z.string().optional().meta({ description: 'rollback-held' }),
    metricsSnapshot: metricsSnapshot.nullable().optional().meta({ description: 'rollback-held' }),
    requestedBy: z.string().nullable().optional().meta({ description: 'auto-migration-reenabled' }),
    at: time,
  })
  .meta({ id: 'Decision' });

export const migrationLogPage = page(migrationLogEntry).meta({ id: 'MigrationLogPage' });
export const rollbackEventPage = page(rollbackEvent).meta({ id: 'RollbackEventPage' });
export const decisionPage = page(decision).meta({ id: 'DecisionPage' });
