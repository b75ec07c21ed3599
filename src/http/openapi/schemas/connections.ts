/** Response schemas of the connection routes (src/connections/connections.ts). */
import { z } from 'zod';
import { connectionStatus, duplicate, id, nullableTime, page, rate } from './common.ts';

const health = z.enum(['insufficient-data', 'healthy', 'degraded', 'failing']);

export const connectionRecord = z
  .strictObject({
    connectionId: id,
    installationId: id,
    workspaceId: id,
    status: connectionStatus,
    protocolVersion: z.string().nullable(),
    negotiatedCapabilities: z.array(z.string()),
    successRate: rate.nullable().meta({
      description: 'over the rolling hour; null below MIN_SAMPLES operations',
    }),
    successRateStatus: z.enum(['ok', 'insufficient-data']),
    observedSuccessRate: rate.nullable(),
    sampleSize: z.number().int().min(0),
    latencyP95: z.number().nullable(),
    throughputPerMin: z.number().min(0),
    lastHeartbeat: nullableTime,
    rollbackTriggered: z.boolean(),
    rollbackReason: z.string().nullable(),
    health,
    reconnectAttempts: z.number().int().min(0),
    lastError: z
      .strictObject({
        code: z.string(),
        category: z.enum(['connection', 'protocol', 'application', 'system']),
        message: z.string(),
        at: nullableTime,
      })
      .nullable(),
    diagnostics: z
      .array(
        z.strictObject({
          at: nullableTime,
          from: connectionStatus,
          to: connectionStatus,
          event: z.string(),
          cause: z.string(),
          successRate: rate.nullable(),
          latencyP95: z.number().nullable(),
          samples: z.number().int().min(0),
        }),
      )
      .meta({ description: 'the last 50 transitions, oldest first' }),
    createdAt: nullableTime,
    version: z.number().int().min(1),
    duplicate,
  })
  .meta({ id: 'ConnectionRecord', description: "the seed's ACPConnectionRecord" });

export const connectionPage = page(connectionRecord).meta({ id: 'ConnectionPage' });

export const heartbeatAck = z
  .strictObject({
    connectionId: id,
    status: connectionStatus,
    health,
    successRate: rate.nullable(),
    sampleSize: z.number().int().min(0),
    latencyP95: z.number().nullable(),
    lastHeartbeat: nullableTime,
    version: z.number().int().min(1),
    rollback: z
      .strictObject({ eventId: id })
      .optional()
      .meta({ description: 'present when this heartbeat rolled its workspace back' }),
    duplicate,
  })
  .meta({ id: 'HeartbeatAck' });

/** The error of one batch item: the one error shape without the envelope. */
const itemError = z.strictObject({
  code: z.string(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
  requestId: z.string(),
});

export const batchAnswer = z
  .strictObject({
    accepted: z.number().int().min(0),
    rejected: z.number().int().min(0),
    results: z.array(
      z.union([
        z.strictObject({
          connectionId: z.string().nullable(),
          ok: z.literal(true),
          status: z.literal(200),
          result: heartbeatAck,
        }),
        z.strictObject({
          connectionId: z
            .string()
            .nullable()
            .meta({ description: "the item's connectionId when it was a string" }),
          ok: z.literal(false),
          status: z.number().int().min(400).max(599),
          error: itemError,
        }),
      ]),
    ),
  })
  .meta({ id: 'HeartbeatBatchAnswer', description: 'one answer per item, in order' });

export const healthAnswer = z.strictObject({ status: z.literal('ok') });
export const readyAnswer = z.strictObject({ status: z.enum(['ready', 'redis-unavailable']) });
