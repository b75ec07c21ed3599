/**
 * Metrics out: MetricsEnvelopes to a capped Redis Stream per installation, and Prometheus
 * metrics on `/metrics`.
 *
 * Sources of envelopes:
 * - connection commits (`onCommit`): success rate, latency p95 and throughput of the
 *   connection, at most once per `intervalMs` of the injected clock per connection, and at once
 *   when its status changes;
 * - the `rollback` domain event (`onRollback`): `rollback-count` 1, once per eventId;
 * - other modules through `emit` (capacity percent, skip counts...).
 *
 * The commit listener is on the heartbeat hot path: it does O(1) work, never awaits and never
 * throws. Envelopes are buffered and written once per tick (XADD MAXLEN ~, batched with the
 * tick's other commands by the auto-pipelining client, or one pipeline per installation); a
 * failed write is logged and counted, never surfaced to a request.
 */
import type { RedisClient as Redis } from '../store/client.ts';
import type { ConnectionContext, ConnectionThresholds } from '../../machines/connection.machine.ts';
import type { Clock } from '../clock.ts';
import { CONNECTION, type Principal } from '../connections/connections.ts';
import type { DomainEventMap } from '../domain-events.ts';
import type { CommitListener, Engine } from '../engine/engine.ts';
import { stateName } from '../engine/step.ts';
import { UnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { MetricsEnvelope, MetricsSink } from '../notifications/types.ts';
import type { RedisStore } from '../store/redis-store.ts';
import { commands } from '../store/scripts.ts';
import {
  ENVELOPE_FIELD,
  type EnvelopePage,
  type EnvelopesQuery,
  ROLLBACK_DEDUPE_TTL_MS,
  type StoredEnvelope,
  envelopeSchema,
  metricsStreamKey,
  rollbackSeenKey,
} from './envelopes.ts';
import { connectionEnvelopes, readEnvelopePage } from './connection-envelopes.ts';
import { type FleetLease, refreshFleetGauges } from './fleet.ts';
import {
  BoundedLabel,
  type HeartbeatCounts,
  type HeartbeatEndpoint,
  type PrometheusMetrics,
  createPrometheusMetrics,
} from './prometheus.ts';

export interface MetricsOptions {
  /** At most one set of connection envelopes per connection per interval (ms, injected clock). */
  intervalMs?: number;
  /** Envelopes buffered or being written before new ones are dropped (and counted). */
  maxBacklog?: number;
  /** Connections whose last emission time is remembered (least recently used ones are forgotten). */
  maxTrackedConnections?: number;
}

export const DEFAULT_METRICS_INTERVAL_MS = 10_000;

export interface MetricsDeps {
  redis: Redis;
  store: RedisStore;
  engine: Engine;
  clock: Clock;
  logger: Logger;
  thresholds: ConnectionThresholds;
  streamMaxLen: number;
  /** The `instance` label of every per-process series (INSTANCE_ID). */
  instanceId: string;
  /** Elects the one process that exports the fleet-wide gauges. */
  fleet: FleetLease;
}

interface Batch {
  items: StoredEnvelope[];
  done: Promise<void>;
  resolve(): void;
}

export class MetricsService implements MetricsSink {
  readonly prometheus: PrometheusMetrics;
  readonly intervalMs: number;
  readonly #deps: MetricsDeps;
  readonly #maxBacklog: number;
  readonly #maxTracked: number;
  /** Connection id -> clock time of its last emission (insertion order = recency). */
  readonly #lastEmit = new Map<string, number>();
  readonly #inFlight = new Set<Promise<void>>();
  #inFlightItems = 0;
  #batch: Batch | null = null;
  readonly #autoPipelined: boolean;
  /** Heartbeat counts, plain numbers on the hot path; read into Prometheus at scrape time. */
  readonly #heartbeats: HeartbeatCounts = {
    single: { accepted: 0, rejected: 0 },
    batch: { accepted: 0, rejected: 0 },
  };
  /** A scrape in progress: whether this process exports the fleet gauges this time. */
  #scrape: Promise<boolean> | null = null;
  readonly #labels = { trigger: new BoundedLabel(8), reason: new BoundedLabel(32) };

  constructor(deps: MetricsDeps, options: MetricsOptions = {}) {
    this.#deps = deps;
    this.intervalMs = options.intervalMs ?? DEFAULT_METRICS_INTERVAL_MS;
    this.#maxBacklog = options.maxBacklog ?? 50_000;
    this.#maxTracked = options.maxTrackedConnections ?? 100_000;
    this.prometheus = createPrometheusMetrics(deps.engine, this.#heartbeats, deps.instanceId);
    this.#autoPipelined = deps.redis.options?.enableAutoPipelining === true;
  }

  // ---------------------------------------------------------------- MetricsSink

  /**
   * Queues an envelope from another module. Resolves once its batch was written or failed;
   * never rejects (a bad envelope or a Redis error is logged and counted), so callers may await
   * it or not.
   */
  emit(envelope: MetricsEnvelope): Promise<void> {
    const parsed = envelopeSchema.safeParse(envelope);
    if (!parsed.success) {
      this.prometheus.envelopes.inc({ result: 'invalid' });
      this.#deps.logger.warn('metrics envelope refused', {
        metricType: (envelope as { metricType?: unknown } | null)?.metricType,
        issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      });
      return Promise.resolve();
    }
    const e = parsed.data;
    const stored: StoredEnvelope = {
      timestamp: e.timestamp,
      installationId: e.installationId,
      workspaceId: e.workspaceId,
      metricType: e.metricType,
      value: e.value,
      thresholdBreached: e.thresholdBreached,
    };
    if (e.connectionId !== undefined) stored.connectionId = e.connectionId;
    return this.#enqueue(stored);
  }

  /** Bumps a Prometheus counter; never throws. Labels other than the counter's own are ignored. */
  count(
    name: 'alerts' | 'skips' | 'rollbacks' | 'shed',
    labels: Record<string, string> = {},
  ): void {
    try {
      const p = this.prometheus;
      if (name === 'alerts') p.alerts.inc({ trigger: this.#labels.trigger.value(labels.trigger) });
      else if (name === 'skips') p.skips.inc({ reason: this.#labels.reason.value(labels.reason) });
      else if (name === 'shed') p.shed.inc();
      // 'rollbacks' is counted here from the rollback domain event, once per eventId across
      // processes; counting callers' reports as well would count each rollback twice.
    } catch (error) {
      this.#deps.logger.error('metrics counter failed', { name, error: String(error) });
    }
  }

  // ---------------------------------------------------------------- sources

  /** Engine commit listener (hot path): O(1), no awaits, no throws. */
  readonly onCommit: CommitListener = ({ ref, before, after, events }) => {
    if (ref.kind !== CONNECTION || before === null) return;
    const status = stateName(after.value);
    const statusChanged = stateName(before.value) !== status;
    // Connection ids are unique across installations (claimed in the owners hash): no key to build.
    const key = ref.id;
    const now = this.#deps.clock.now();
    if (!statusChanged) {
      let heartbeat = false;
      for (const e of events) if (e.type === 'HEARTBEAT') heartbeat = true;
      if (!heartbeat) return;
      const last = this.#lastEmit.get(key);
      if (last !== undefined && now - last < this.intervalMs) return;
    }
    this.#lastEmit.delete(key);
    if (status !== 'rolledBack') {
      // A rolled-back connection is final: nothing more will come from it.
      this.#lastEmit.set(key, now);
      if (this.#lastEmit.size > this.#maxTracked) {
        const oldest = this.#lastEmit.keys().next().value;
        if (oldest !== undefined) this.#lastEmit.delete(oldest);
      }
    }
    for (const e of this.connectionEnvelopes(
      after.context as unknown as ConnectionContext,
      status,
      now,
    )) {
      void this.#enqueue(e);
    }
  };

  /** What a connection's state says, as envelopes (see {@link connectionEnvelopes}). */
  connectionEnvelopes(c: ConnectionContext, status: string, at: number): StoredEnvelope[] {
    return connectionEnvelopes(c, status, at, this.#deps.thresholds);
  }

  /**
   * Rollback domain event: `rollback-count` 1, once per eventId across retries and processes
   * (an atomic SET NX + XADD). A Redis failure is thrown, so the effect that emitted the event is
   * retried after its lease and the metric is not lost; the retry adds nothing twice.
   */
  readonly onRollback = async (event: DomainEventMap['rollback']): Promise<void> => {
    if (event.kind !== 'rollback') return;
    const envelope: StoredEnvelope = {
      timestamp: new Date(event.at).toISOString(),
      installationId: event.installationId,
      workspaceId: event.workspaceId,
      metricType: 'rollback-count',
      value: 1,
      thresholdBreached: true,
    };
    const { redis, store, streamMaxLen } = this.#deps;
    let id: string | null;
    try {
      id = await commands.addRollbackMetric(
        redis,
        [
          rollbackSeenKey(store.keys, event.installationId, event.eventId),
          metricsStreamKey(store.keys, event.installationId),
        ],
        [ROLLBACK_DEDUPE_TTL_MS, streamMaxLen, ENVELOPE_FIELD, JSON.stringify(envelope)],
      );
    } catch (error) {
      this.prometheus.envelopes.inc({ result: 'failed' });
      this.#deps.logger.error('rollback metric not written; the effect will be retried', {
        eventId: event.eventId,
        error: String(error),
      });
      throw error;
    }
    if (id === null) {
      this.prometheus.envelopes.inc({ result: 'duplicate' });
      return;
    }
    this.prometheus.envelopes.inc({ result: 'written' });
    this.prometheus.rollbacks.inc();
  };

  /** Records one heartbeat request (called by the module's middleware when it finished). */
  recordHeartbeats(
    endpoint: HeartbeatEndpoint,
    accepted: number,
    rejected: number,
    seconds: number,
  ): void {
    const counts = this.#heartbeats[endpoint];
    counts.accepted += accepted;
    counts.rejected += rejected;
    this.prometheus.heartbeatDuration.observe({ endpoint }, seconds);
  }

  // ---------------------------------------------------------------- writing

  #enqueue(envelope: StoredEnvelope): Promise<void> {
    if (this.#inFlightItems + (this.#batch?.items.length ?? 0) >= this.#maxBacklog) {
      this.prometheus.envelopes.inc({ result: 'dropped' });
      return Promise.resolve();
    }
    if (!this.#batch) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      this.#batch = { items: [], done, resolve };
      setImmediate(() => this.#flush());
    }
    this.#batch.items.push(envelope);
    return this.#batch.done;
  }

  /**
   * Writes the buffered envelopes of this tick. With an auto-pipelining client (as
   * connectRedis makes) the XADDs join the tick's one write; otherwise one explicit pipeline
   * per installation (each stays within one Cluster slot).
   */
  #flush(): void {
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = null;
    const { redis, store, streamMaxLen, logger } = this.#deps;
    const groups = new Map<string, StoredEnvelope[]>();
    for (const e of batch.items) {
      const group = groups.get(e.installationId);
      if (group) group.push(e);
      else groups.set(e.installationId, [e]);
    }
    const size = batch.items.length;
    this.#inFlightItems += size;
    const writes = [...groups].map(async ([installationId, items]) => {
      const key = metricsStreamKey(store.keys, installationId);
      const args = (e: StoredEnvelope) =>
        ['MAXLEN', '~', streamMaxLen, '*', ENVELOPE_FIELD, JSON.stringify(e)] as const;
      let written = 0;
      let firstError: unknown = null;
      if (this.#autoPipelined) {
        // The client already sends every command of this tick in one write, together with the
        // engine's own commands: no extra round trip or syscall for the envelopes.
        for (const r of await Promise.allSettled(items.map((e) => redis.xadd(key, ...args(e))))) {
          if (r.status === 'fulfilled') written++;
          else firstError ??= r.reason;
        }
      } else {
        const pipeline = redis.pipeline();
        for (const e of items) pipeline.xadd(key, ...args(e));
        try {
          for (const [error] of (await pipeline.exec()) ?? []) {
            if (error) firstError ??= error;
            else written++;
          }
        } catch (error) {
          firstError = error;
        }
      }
      if (written > 0) this.prometheus.envelopes.inc({ result: 'written' }, written);
      if (written < items.length) {
        this.prometheus.envelopes.inc({ result: 'failed' }, items.length - written);
        logger.error('metrics envelopes not written', {
          installationId,
          failed: items.length - written,
          error: firstError instanceof Error ? firstError.message : 'no reply',
        });
      }
    });
    const run = Promise.all(writes)
      .then(() => undefined)
      .catch((error: unknown) => logger.error('metrics flush failed', { error: String(error) }))
      .finally(() => {
        this.#inFlightItems -= size;
        this.#inFlight.delete(run);
        batch.resolve();
      });
    this.#inFlight.add(run);
  }

  /** Writes what is buffered now and waits for every write in flight. */
  async idle(): Promise<void> {
    this.#flush();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  // ---------------------------------------------------------------- reading

  /** One page of an installation's envelopes (see {@link readEnvelopePage}). */
  envelopes(principal: Principal, query: EnvelopesQuery): Promise<EnvelopePage> {
    return readEnvelopePage(this.#deps, principal, query);
  }

  // ---------------------------------------------------------------- Prometheus

  /**
   * The Prometheus exposition text: this process's series, then, on the holder of the fleet
   * lease only, the fleet-wide gauges read from Redis now (concurrent scrapes share one read).
   */
  async scrape(): Promise<string> {
    this.#scrape ??= this.holdFleetLease()
      .then(async (exporting) => {
        if (exporting) {
          const { redis, store, clock } = this.#deps;
          await refreshFleetGauges(this.prometheus, { redis, store, now: clock.now() });
        }
        return exporting;
      })
      .finally(() => (this.#scrape = null));
    let exporting: boolean;
    try {
      exporting = await this.#scrape;
    } catch (error) {
      this.#deps.logger.error('metrics scrape failed', { error: String(error) });
      throw new UnavailableError('metrics are unavailable: Redis did not answer');
    }
    const own = await this.prometheus.registry.metrics();
    if (!exporting) return own;
    return `${own.endsWith('\n') ? own : `${own}\n`}${await this.prometheus.fleet.metrics()}`;
  }

  /** Gives the fleet lease up (shutdown). */
  releaseFleetLease(): Promise<boolean> {
    this.prometheus.fleetExporter.set(0);
    return this.#deps.fleet.release();
  }

  /** Takes or renews the fleet lease (each scrape, and AppModule.poll); true while held. */
  async holdFleetLease(): Promise<boolean> {
    const exporting = await this.#deps.fleet.hold();
    this.prometheus.fleetExporter.set(exporting ? 1 : 0);
    return exporting;
  }

  get contentType(): string {
    return this.prometheus.registry.contentType;
  }
}
