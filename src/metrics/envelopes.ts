/**
 * MetricsEnvelope storage: one capped Redis Stream per installation.
 *
 * Layout: `<prefix>:{<installationId>}:metrics`, under the installation's hash tag like every
 * other per-installation key (src/store/keys.ts). On Redis Cluster the streams spread over the
 * slots with their tenants instead of one global stream making a single hot shard, a batch of
 * XADDs for one installation stays in one slot (one pipeline per installation per tick), and the
 * rollback de-duplication script touches two keys of the same slot. A consumer discovers the
 * streams from the installation registry (`store.installations()`).
 *
 * Each entry has one field, `envelope`, holding the JSON envelope: numbers, booleans and a null
 * `workspaceId` survive unchanged, and the entry id (`<ms>-<seq>`) is the read cursor.
 */
import { z } from 'zod';
import type { MetricsEnvelope } from '../notifications/types.ts';
import type { Keys } from '../store/keys.ts';
import { identifier, pageLimit } from '../wire.ts';
import { isStreamId } from '../http/live-events.ts';

/** The stream field that holds the envelope JSON. */
export const ENVELOPE_FIELD = 'envelope';

/**
 * How long what an envelope records once (a rollback's eventId, an alert change) is remembered,
 * so that a retried effect writes and counts it once.
 */
export const METRIC_DEDUPE_TTL_MS = 7 * 24 * 3_600_000;

/**
 * An envelope as stored and served. Connection metrics (success rate, latency p95, throughput)
 * also name the connection: without it, two connections of one workspace would be
 * indistinguishable in the stream. Other metrics have no `connectionId`.
 */
export type StoredEnvelope = MetricsEnvelope & { connectionId?: string };

/**
 * Makes the envelopes of one subject (a workspace, or one of its connections) at one time: each
 * call is one metric.
 *
 * @example
 * const envelope = envelopeMaker(Date.now(), { installationId: 'inst-a', workspaceId: 'ws-1' });
 * envelope('success-rate', 0.993, false);
 */
export function envelopeMaker(
  at: number,
  subject: { installationId: string; workspaceId: string; connectionId?: string },
) {
  const timestamp = new Date(at).toISOString();
  return (
    metricType: StoredEnvelope['metricType'],
    value: number,
    thresholdBreached: boolean,
  ): StoredEnvelope => ({
    timestamp,
    installationId: subject.installationId,
    workspaceId: subject.workspaceId,
    metricType,
    value,
    thresholdBreached,
    ...(subject.connectionId === undefined ? {} : { connectionId: subject.connectionId }),
  });
}

export const METRIC_TYPES = [
  'success-rate',
  'latency-p95',
  'throughput',
  'capacity-percent',
  'rollback-count',
  'skip-count',
] as const satisfies readonly MetricsEnvelope['metricType'][];

export function metricsStreamKey(keys: Keys, installationId: string): string {
  return `${keys.prefix}:{${installationId}}:metrics`;
}

/**
 * The marker of something recorded once (`metricsSeenKey(keys, inst, 'rollback:<eventId>')`,
 * `'alert:<alertId>:<change>'`), under the installation's hash tag with its stream.
 */
export function metricsSeenKey(keys: Keys, installationId: string, onceId: string): string {
  return `${keys.prefix}:{${installationId}}:metrics-seen:${onceId}`;
}

/** What other modules may pass to `MetricsSink.emit`; anything else is logged and dropped. */
export const envelopeSchema = z.object({
  timestamp: z.iso
    .datetime({ offset: true })
    .transform((s) => new Date(Date.parse(s)).toISOString()),
  // An identifier: no braces, so it can never break the installation's hash tag.
  installationId: identifier,
  workspaceId: identifier.nullable(),
  metricType: z.enum(METRIC_TYPES),
  value: z.number().refine(Number.isFinite, 'must be a finite number'),
  thresholdBreached: z.boolean(),
  connectionId: identifier.optional(),
});

// One implementation of stream ids for envelope cursors and SSE event ids.
export { compareStreamIds, isStreamId, nextStreamId } from '../http/live-events.ts';

export const envelopesQuery = z.strictObject({
  installationId: identifier.optional(),
  after: z
    .string()
    .max(41)
    .refine(
      isStreamId,
      'must be a cursor from a previous page (nextCursor), such as 1764072000000-0',
    )
    .optional(),
  limit: pageLimit(1000, 100),
});

export type EnvelopesQuery = z.output<typeof envelopesQuery>;

export interface EnvelopePage {
  installationId: string;
  /** Oldest first; `id` is the entry's cursor. */
  items: (StoredEnvelope & { id: string })[];
  /** Pass as `after` to continue: the last item's id, or the `after` given when nothing is new. */
  nextCursor: string | null;
  /** True when more entries were already there after this page. */
  hasMore: boolean;
}
