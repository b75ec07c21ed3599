/**
 * Fleet-wide gauges (connections by status, outbox backlog) are computed from Redis, so every
 * process would report the same totals and a `sum` over instances would count them once per
 * process. Instead one process at a time exports them: the holder of a Redis lease, taken or
 * renewed at each scrape and every third of its duration (AppModule.poll), given up on
 * shutdown. Another process takes over at most METRICS_FLEET_LEASE_MS after the holder
 * stopped renewing (it died), at its next scrape or poll.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../store/client.ts';
import { commands } from '../store/scripts.ts';

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
