/**
 * The metrics envelopes of connections and their reading: pure derivations from a connection's
 * window, and the paged read of an installation's envelope stream.
 */
import type { ConnectionContext, ConnectionThresholds } from '../../machines/connection.machine.ts';
import { latencyHigh, rateHealth } from '../../machines/shared/connection-types.ts';
import { windowStats } from '../../machines/shared/window.ts';
import { type Principal, canAccess } from '../connections/connections.ts';
import { ForbiddenError, invalidFields } from '../errors.ts';
import {
  ENVELOPE_FIELD,
  type EnvelopePage,
  type EnvelopesQuery,
  type StoredEnvelope,
  compareStreamIds,
  envelopeMaker,
  metricsStreamKey,
  nextStreamId,
} from './envelopes.ts';
import type { Logger } from '../logger.ts';
import type { RedisClient } from '../store/client.ts';
import type { Keys } from '../store/keys.ts';

const BREACHED_STATUSES = new Set(['degraded', 'error']);

/**
 * What a connection's state says, as envelopes. `thresholdBreached` is true in `degraded` and
 * `error`, or when the value crosses the chart's own threshold as the chart judges it (the
 * chart's `rateHealth` and `latencyHigh`, the parts of its `healthOf`): success rate below
 * DEGRADED_SUCCESS_RATE (only with at least MIN_SAMPLES operations, as no rate is computed below
 * that), latency p95 above DEGRADED_LATENCY_P95_MS with at least MIN_SAMPLES latency samples.
 * Metrics the engine has not computed (no rate yet, no latency sample) are not emitted;
 * throughput always is.
 */
export function connectionEnvelopes(
  c: ConnectionContext,
  status: string,
  at: number,
  t: ConnectionThresholds,
): StoredEnvelope[] {
  const s = windowStats(c.window, t.minSamples);
  const statusBreach = BREACHED_STATUSES.has(status);
  const envelope = envelopeMaker(at, c);
  const out: StoredEnvelope[] = [];
  if (s.successRate !== null) {
    out.push(
      envelope('success-rate', s.successRate, statusBreach || rateHealth(s, t) !== 'healthy'),
    );
  }
  if (s.latencyP95 !== null) {
    out.push(envelope('latency-p95', s.latencyP95, statusBreach || latencyHigh(s, t)));
  }
  out.push(envelope('throughput', Math.round(s.throughputPerMin * 100) / 100, statusBreach));
  return out;
}
/**
 * Whether a connection's status change is worth its envelopes: it has operations in its window,
 * or its new status is a breach (`degraded`, `error`). A fresh connection's handshake, or the
 * rollback of one that never reported an operation, says nothing a metric could carry.
 */
export function statusChangeSaysSomething(c: ConnectionContext, status: string): boolean {
  if (BREACHED_STATUSES.has(status)) return true;
  const s = windowStats(c.window, 0);
  return s.samples > 0;
}

/** How far ahead of Redis' clock a cursor of an empty stream may be (clocks of replicas). */
const CURSOR_SKEW_MS = 60_000n;

/**
 * Refuses an `after` no page ever gave: beyond the newest envelope, or (the stream being empty)
 * ahead of Redis' clock. Accepted, it answered empty pages with itself as `nextCursor`, and a
 * client following it never saw the envelopes written after.
 */
async function refuseFutureCursor(redis: RedisClient, key: string, after: string): Promise<void> {
  const [newest] = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
  let beyond: string | null = null;
  if (newest) {
    if (compareStreamIds(after, newest[0]) > 0) beyond = `the newest envelope (${newest[0]})`;
  } else {
    const [seconds = 0, micros = 0] = await redis.time();
    const now = BigInt(seconds) * 1000n + BigInt(micros) / 1000n;
    if (BigInt(after.split('-')[0]!) > now + CURSOR_SKEW_MS) beyond = 'the present';
  }
  if (beyond) {
    throw invalidFields('query', [
      {
        field: 'after',
        message: `is beyond ${beyond}: pass a nextCursor this route gave, or no cursor to start at the oldest`,
      },
    ]);
  }
}

/**
 * One page of an installation's envelopes, oldest first, strictly after the `after` cursor.
 * The installation may be omitted only by a token that has exactly one.
 */
export async function readEnvelopePage(
  deps: { redis: RedisClient; store: { keys: Keys }; logger: Logger },
  principal: Principal,
  query: EnvelopesQuery,
): Promise<EnvelopePage> {
  let installationId = query.installationId;
  if (installationId === undefined) {
    if (principal.installations === null || principal.installations.size !== 1) {
      throw invalidFields('query', [
        {
          field: 'installationId',
          message: 'is required unless the token is scoped to exactly one installation',
        },
      ]);
    }
    installationId = [...principal.installations][0]!;
  }
  if (!canAccess(principal, installationId)) {
    throw new ForbiddenError(`installationId ${installationId} is not readable with this token`, {
      field: 'installationId',
    });
  }
  const start = query.after === undefined ? '-' : nextStreamId(query.after);
  const entries =
    start === null
      ? []
      : await deps.redis.xrange(
          metricsStreamKey(deps.store.keys, installationId),
          start,
          '+',
          'COUNT',
          query.limit + 1,
        );
  if (entries.length === 0 && query.after !== undefined) {
    await refuseFutureCursor(
      deps.redis,
      metricsStreamKey(deps.store.keys, installationId),
      query.after,
    );
  }
  const page = entries.slice(0, query.limit);
  const items: EnvelopePage['items'] = [];
  for (const [id, fields] of page) {
    const i = fields.indexOf(ENVELOPE_FIELD);
    const json = i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined;
    try {
      items.push({ id, ...(JSON.parse(json ?? '') as StoredEnvelope) });
    } catch {
      // Not ours (or damaged): skipped, but the cursor still moves past it.
      deps.logger.warn('unreadable metrics stream entry skipped', { installationId, id });
    }
  }
  const last = page[page.length - 1];
  return {
    installationId,
    items,
    nextCursor: last ? last[0] : (query.after ?? null),
    hasMore: entries.length > query.limit,
  };
}
