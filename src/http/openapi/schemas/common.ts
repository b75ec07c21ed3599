/**
 * Building blocks of the response schemas. Responses are strict objects (no field the document
 * does not name), so a test that validates real answers against them catches any drift.
 */
import { z } from 'zod';
import { CONNECTION_STATUSES } from '../../../../machines/connection.machine.ts';
import { toKebab } from '../../../wire.ts';

/** An ISO 8601 UTC timestamp as the API writes it (`Date.toISOString()`). */
export const time = z.iso.datetime().meta({ example: '2026-11-25T12:00:00.000Z' });
export const nullableTime = time.nullable();

/** A decimal 0.0-1.0. */
export const rate = z.number().min(0).max(1);

export const id = z.string().min(1);

/** Connection statuses on the wire (kebab-case). */
export const connectionStatus = z
  .enum(CONNECTION_STATUSES.map(toKebab) as [string, ...string[]])
  .meta({ id: 'ConnectionStatus' });

/** What the engine measured for a decision (`metricsSnapshot`). */
export const metricsSnapshot = z
  .strictObject({
    successRate: rate.nullable(),
    sampleSize: z.number().int().min(0),
    latencyP95: z.number().nullable(),
    windowMinutes: z.number().int(),
    activeConnections: z.number().int().min(0),
    // The installation's capacity use where known; null in workspace decisions (the workspace
    // chart knows its own connections, the capacity actor the installation's).
    capacityPercent: z.number().min(0).nullable(),
  })
  .meta({ id: 'MetricsSnapshot' });

/** Connection counts of a workspace. */
export const connectionCounts = z.strictObject({
  active: z.number().int().min(0),
  onAcp: z.number().int().min(0),
  pending: z.number().int().min(0),
  onHttp: z.number().int().min(0),
});

/** `{ items, nextCursor }`: pass `nextCursor` back as `cursor` for the next page; null at the end. */
export const page = <T extends z.ZodType>(item: T) =>
  z.strictObject({ items: z.array(item), nextCursor: z.string().nullable() });

/** `"duplicate": true` marks the answer to a repeated request id (heartbeatId / requestId). */
export const duplicate = z
  .literal(true)
  .optional()
  .meta({ description: 'present on the answer to a repeated request id' });
