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
