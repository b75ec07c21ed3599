import type { Config } from '../config.ts';
import type { RedisClient } from '../store/client.ts';
import { type JobRecord, JobQueue } from '../store/job-queue.ts';
import { NOTIFY_QUEUE } from '../store/keys.ts';
import type { NotifyKeys } from './keys.ts';
import type { Channel, DeliveryRecord, NotificationKind } from './types.ts';

/** What every attempt of a delivery sends: the queue job's data. */
export interface DeliveryJob {
  channel: string;
  address: string;
  payload: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A delivery's record mirrors its job: the queue writes these fields in the same script as
 * its own change, so the API's status, attempts, lastError, deliveredAt and deadLetteredAt are
 * never behind the queue.
 */
export function deliveryRecord(keys: NotifyKeys, retentionMs: number): JobRecord {
  return {
    retentionMs,
    key: (installationId, id) => keys.delivery(installationId, id),
    completed: (attempt, now) => ({
      status: 'delivered',
      attempts: String(attempt),
      // A delivered webhook no longer shows the error of an earlier attempt.
      lastError: '',
      deliveredAt: iso(now),
      updatedAt: iso(now),
    }),
    retrying: (attempt, error, now) => ({
      status: 'failed',
      attempts: String(attempt),
      lastError: error,
      updatedAt: iso(now),
    }),
    deadLettered: (attempt, error, now) => ({
      status: 'dead-lettered',
      attempts: String(attempt),
      lastError: error,
      updatedAt: iso(now),
      deadLetteredAt: iso(now),
    }),
    revived: (now) => ({
      status: 'pending',
      attempts: '0',
      deadLetteredAt: '',
      updatedAt: iso(now),
    }),
  };
}

/**
 * The deliveries' queue: NOTIFY_MAX_ATTEMPTS attempts, NOTIFY_BASE_DELAY_MS doubled after each
 * failure (at most RETRY_MAX_DELAY_MS), each attempt leased for `leaseMs`.
 */
export function deliveryQueue(
  redis: RedisClient,
  keys: NotifyKeys,
  config: Pick<
    Config['notifications'],
    'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'retentionMs'
  >,
  leaseMs: number,
): JobQueue {
  const { maxAttempts, baseDelayMs, maxDelayMs, retentionMs } = config;
  return new JobQueue(
    redis,
    keys.prefix,
    NOTIFY_QUEUE,
    { maxAttempts, baseDelayMs, maxDelayMs, leaseMs },
    deliveryRecord(keys, retentionMs),
  );
}

/** A delivery as served by the API: the contract's record plus its identifiers. */
export interface DeliveryView extends DeliveryRecord {
  /** Stable: the `X-LumiLink-Delivery` header and the email's Message-ID. */
  deliveryId: string;
  notificationId: string;
  kind: NotificationKind;
  sourceId: string;
  createdAt: string;
  deadLetteredAt: string | null;
}

const RECORD_FIELDS = [
  'id',
  'notificationId',
  'kind',
  'sourceId',
  'channel',
  'target',
  'status',
  'attempts',
  'lastError',
  'deliveredAt',
  'createdAt',
  'updatedAt',
  'deadLetteredAt',
] as const;

/** The records of deliveries, with identifiers, in the order of `ids` (unknown ids skipped). */
export async function loadDeliveries(
  redis: RedisClient,
  keys: NotifyKeys,
  queue: JobQueue,
  installationId: string,
  ids: readonly string[],
): Promise<DeliveryView[]> {
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(keys.delivery(installationId, id), ...RECORD_FIELDS);
  const [replies, running] = await Promise.all([
    pipeline.exec().then((r) => r ?? []),
    queue.attempts(installationId, ids),
  ]);
  const out: DeliveryView[] = [];
  for (const [i, [err, value]] of replies.entries()) {
    if (err) throw err;
    const v = value as (string | null)[];
    const f = Object.fromEntries(RECORD_FIELDS.map((k, i) => [k, v[i] ?? ''])) as Record<
      (typeof RECORD_FIELDS)[number],
      string
    >;
    if (!f.id) continue;
    out.push({
      deliveryId: f.id,
      notificationId: f.notificationId,
      kind: f.kind as NotificationKind,
      sourceId: f.sourceId,
      channel: f.channel as Channel,
      target: f.target,
      status: f.status as DeliveryRecord['status'],
      // An attempt that runs (or was interrupted) is counted by the queue before its record.
      attempts: Math.max(Number(f.attempts), running[i] ?? 0),
      lastError: f.lastError || null,
      deliveredAt: f.deliveredAt || null,
      createdAt: f.createdAt,
      updatedAt: f.updatedAt,
      deadLetteredAt: f.deadLetteredAt || null,
    });
  }
  return out;
}

export function toRecord(v: DeliveryView): DeliveryRecord {
  return {
    channel: v.channel,
    target: v.target,
    status: v.status,
    attempts: v.attempts,
    lastError: v.lastError,
    deliveredAt: v.deliveredAt,
    updatedAt: v.updatedAt,
  };
}
