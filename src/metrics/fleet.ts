/**
 * The fleet-wide gauges (connections by status, outbox backlog, dead letters). They are computed from Redis,
 * so every process would report the same totals and a `sum` over instances would count them
 * once per process. Instead one process at a time exports them: the holder of a Redis lease, taken or
 * renewed at each scrape and every third of its duration (AppModule.poll), given up on
 * shutdown. Another process takes over at most METRICS_FLEET_LEASE_MS after the holder
 * stopped renewing (it died), at its next scrape or poll.
 */
import { randomUUID } from 'node:crypto';
import { CONNECTION_STATUSES } from '../../machines/connection.machine.ts';
import type { RedisClient } from '../store/client.ts';
import { NotifyKeys } from '../notifications/keys.ts';
import { EFFECT_QUEUE, NOTIFY_QUEUE } from '../store/keys.ts';
import type { RedisStore } from '../store/redis-store.ts';
import { commands } from '../store/scripts.ts';
import { toKebab } from '../wire.ts';
import type { PrometheusMetrics } from './prometheus.ts';

/** Installations read at once (one pipeline each) while computing the fleet gauges. */
const SCRAPE_CHUNK = 200;

/**
 * @example
 * const lease = new FleetLease(redis, 'lumi', 'web-1:4242', 30_000);
 * if (await lease.hold()) exportFleetGauges();
 * await lease.release(); // on shutdown
 */
export class FleetLease {
  readonly key: string;
  /** Unique per process start: two services started with one INSTANCE_ID never both hold it. */
  readonly holder: string;

  constructor(
    readonly redis: RedisClient,
    prefix: string,
    instanceId: string,
    readonly ttlMs: number,
  ) {
    this.key = `${prefix}:metrics:fleet-exporter`;
    this.holder = `${instanceId}#${randomUUID()}`;
  }

  /** Takes or renews the lease; true while this process is the exporter. */
  hold(): Promise<boolean> {
    return commands.holdLease(this.redis, [this.key], [this.holder, this.ttlMs]);
  }

  /** Gives the lease up if held, so another process exports at its next scrape. */
  release(): Promise<boolean> {
    return commands.releaseLease(this.redis, [this.key], [this.holder]);
  }
}

/**
 * Sets the fleet-wide gauges from Redis: connections by status from every installation's status
 * indexes, the outbox backlog and how overdue its most overdue entry is, and the dead letters
 * of every installation (those of an installation with notifications but no connection too).
 */
export async function refreshFleetGauges(
  prometheus: Pick<
    PrometheusMetrics,
    'connections' | 'outboxLag' | 'outboxEntries' | 'deadLetters'
  >,
  { redis, store, now }: { redis: RedisClient; store: RedisStore; now: number },
): Promise<void> {
  const [engineInstallations, notifyInstallations] = await Promise.all([
    store.installations(),
    redis.smembers(new NotifyKeys(store.keys.prefix).installations()),
  ]);
  const installations = [...new Set([...engineInstallations, ...notifyInstallations])].sort();
  const byStatus = new Map<string, number>(CONNECTION_STATUSES.map((s) => [s, 0]));
  const dead = { timers: 0, effects: 0, notifications: 0 };
  let oldestLease = Infinity;
  let entries = 0;
  for (let i = 0; i < installations.length; i += SCRAPE_CHUNK) {
    const chunk = installations.slice(i, i + SCRAPE_CHUNK);
    // One pipeline per installation: its keys share a hash slot, and on a Redis Cluster a
    // pipeline must stay within one slot's node (installations are spread over the masters).
    const perInstallation = await Promise.all(
      chunk.map(async (inst) => {
        const pipeline = redis.pipeline();
        for (const s of CONNECTION_STATUSES)
          pipeline.zcard(store.keys.index(inst, `connection:status:${s}`));
        const effects = store.keys.jobQueue(inst, EFFECT_QUEUE);
        pipeline.zrange(effects.due, 0, 0, 'WITHSCORES');
        pipeline.zcard(effects.due);
        pipeline.hlen(store.keys.deadTimers(inst));
        pipeline.zcard(effects.dead);
        pipeline.zcard(store.keys.jobQueue(inst, NOTIFY_QUEUE).dead);
        return (await pipeline.exec()) ?? [];
      }),
    );
    for (const replies of perInstallation) {
      let r = 0;
      const next = (): unknown => {
        const [error, value] = replies[r++] ?? [new Error('missing reply'), null];
        if (error) throw error;
        return value;
      };
      for (const s of CONNECTION_STATUSES) byStatus.set(s, byStatus.get(s)! + Number(next()));
      const oldest = next() as string[];
      if (oldest.length >= 2) oldestLease = Math.min(oldestLease, Number(oldest[1]));
      entries += Number(next());
      dead.timers += Number(next());
      dead.effects += Number(next());
      dead.notifications += Number(next());
    }
  }
  const g = prometheus.connections;
  for (const [status, n] of byStatus) {
    // Every status but rolled-back is an ACP connection (error ones await a reconnect).
    const protocol = status === 'rolledBack' ? 'http' : 'acp';
    g.set({ status: toKebab(status), protocol }, n);
  }
  // An entry's score is when it may run again: its lease expiry (written or claimed) or, after a
  // failure, its retry time. Past it, the entry is overdue: the reaper has not caught up.
  const lag = oldestLease === Infinity ? 0 : Math.max(0, now - oldestLease);
  prometheus.outboxLag.set(lag / 1000);
  prometheus.outboxEntries.set(entries);
  for (const [kind, n] of Object.entries(dead)) prometheus.deadLetters.set({ kind }, n);
}
