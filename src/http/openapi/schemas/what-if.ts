/** Response schema of `POST /v1/workspaces/:workspaceId/what-if` (src/workspaces/what-if-service.ts). */
import { z } from 'zod';
import { id, nullableTime, rate, time } from './common.ts';
import { installationSettings } from './workspaces.ts';

const decisionKinds = [
  'rollback',
  'hold',
  'migration-started',
  'migration-succeeded',
  'migration-failed',
  'migration-rolled-back',
  'auto-migration-reenabled',
] as const;

const decision = z
  .strictObject({
    at: time,
    kind: z.enum(decisionKinds),
    id: id.meta({
      description:
        'the audit record id: a RollbackEvent eventId, `<migrationId>-<status>` or a decision id',
    }),
    migrationId: z.string().nullable(),
    trigger: z.string().nullable().meta({
      description: 'rollback trigger, migration initiator, or who re-enabled',
    }),
    reason: z.string().nullable(),
    evidence: z
      .strictObject({
        successRate: rate.nullable(),
        sampleSize: z.number().int().min(0),
        latencyP95: z.number().nullable(),
        windowMinutes: z.number().int(),
        activeConnections: z.number().int().min(0),
        capacityPercent: z.number().min(0).nullable(),
      })
      .nullable()
      .meta({ description: 'the metricsSnapshot the decision recorded' }),
  })
  .meta({ id: 'WhatIfDecision' });

const countsByKind = z.strictObject(
  Object.fromEntries(decisionKinds.map((k) => [k, z.number().int().min(0)])) as Record<
    (typeof decisionKinds)[number],
    z.ZodNumber
  >,
);

export const whatIfResult = z
  .strictObject({
    workspaceId: id,
    from: time,
    to: time,
    settings: z
      .strictObject({ recorded: installationSettings, candidate: installationSettings })
      .nullable()
      .meta({ description: 'the settings in force at `from`, and with the candidate applied' }),
    actual: z.strictObject({
      decisions: z.array(decision).meta({ description: 'the replay with the recorded settings' }),
      finalState: z.string().nullable(),
      recorded: z
        .array(decision)
        .meta({ description: 'the audit records committed in the range, oldest first' }),
      matchesRecord: z.boolean(),
    }),
    whatIf: z.strictObject({
      decisions: z.array(decision).meta({ description: 'the replay with the candidate settings' }),
      finalState: z.string().nullable(),
    }),
    summary: z.strictObject({
      actual: countsByKind,
      whatIf: countsByKind,
      changed: z.boolean(),
      firstDifference: z
        .strictObject({
          index: z.number().int().min(0),
          actual: decision.nullable(),
          whatIf: decision.nullable(),
        })
        .nullable(),
    }),
    coverage: z.strictObject({
      journalFrom: nullableTime.meta({
        description: 'the first event the journal still holds after its replay checkpoint',
      }),
      complete: z.boolean().meta({
        description: 'false when the journal was trimmed past `from`: the replay starts later',
      }),
      eventsBefore: z.number().int().min(0),
      eventsInRange: z.number().int().min(0),
    }),
  })
  .meta({ id: 'WhatIfResult' });
