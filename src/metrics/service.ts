/**
 * Metrics out: MetricsEnvelopes to a capped Redis Stream per installation, and Prometheus
 * metrics on `/metrics`.
 *
 * Sources of envelopes:
 * - workspace commits (`onCommit`): success rate, latency p95 and throughput of the workspace,
 *   from the chart's own health evidence (its window of every connection's operations), at most
 *   once per `intervalMs` of the injected clock per workspace and process, and at once when the
 *   workspace's verdict changes; for a commit that rolls the workspace back, the evidence and
 *   verdict the chart recorded with the rollback (the window it decided on is emptied by then);
 * - connection commits (`onCommit`): the connection's own success rate, latency p95 and
 *   throughput, only when its status changes (and the change says something: see
 *   statusChangeSaysSomething), never per heartbeat;
 * - the `rollback` domain event (`onRollback`): `rollback-count` 1, once per eventId;
 * - other modules through `emit` (skip counts...) and `emitOnce` (an alert change's capacity
 *   percent, once per change however often its effect runs).
 *
 * The commit listener is on the heartbeat hot path: it does O(1) work, never awaits and never
 * throws. Envelopes are buffered and written once per tick (XADD MAXLEN ~, batched with the
 * tick's other commands by the auto-pipelining client, or one pipeline per installation); a
 * failed write is logged and counted, never surfaced to a request. Each stream is also trimmed by
 * age (XTRIM MINID ~, `retentionMs` before its newest entry), at most once per `trimEveryMs` per
 * installation and process, by the flush that writes to it.
 */
import type { RedisClient as Redis } from '../store/client.ts';
import type { EventObject } from 'xstate';
import type { ConnectionContext, ConnectionThresholds } from '../../machines/connection.machine.ts';
import type { WorkspaceContext } from '../../machines/workspace.machine.ts';
import type { Clock } from '../clock.ts';
import { CONNECTION, type Principal } from '../connections/connections.ts';
import { WORKSPACE } from '../workspaces/workspaces.ts';
import type { DomainEventMap } from '../domain-events.ts';
import type { CommitListener, Engine } from '../engine/engine.ts';
import { type PersistedState, stateName } from '../engine/step.ts';
import { UnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { MetricsEnvelope, MetricsSink } from '../notifications/types.ts';
import type { RedisStore } from '../store/redis-store.ts';
import { commands } from '../store/scripts.ts';
import {
  ENVELOPE_FIELD,
  type EnvelopePage,
  type EnvelopesQuery,
  METRIC_DEDUPE_TTL_MS,
  type StoredEnvelope,
  envelopeSchema,
  metricsSeenKey,
  metricsStreamKey,
} from './envelopes.ts';
import {
  connectionEnvelopes,
  readEnvelopePage,
  statusChangeSaysSomething,
} from './connection-envelopes.ts';
import {
  rollbackEnvelopes,
  rolledBack,
  verdictMoved,
  workspaceEnvelopes,
} from './workspace-envelopes.ts';
import { EnvelopeWriter } from './writer.ts';
import { type FleetLease, refreshFleetGauges } from './fleet.ts';
import {
  BoundedLabel,
  type HeartbeatCounts,
  type HeartbeatEndpoint,
  type PrometheusMetrics,
  createPrometheusMetrics,
} from './prometheus.ts';

export interface MetricsOptions {
  /**
   * At most one set of workspace envelopes per workspace per interval (ms, injected clock);
   * default METRICS_INTERVAL_MS.
   */
  intervalMs?: number;
  /** Envelopes buffered or being written before new ones are dropped (and counted). */
  maxBacklog?: number;
  /** Workspaces whose last emission time is remembered (least recently used ones are forgotten). */
  maxTrackedWorkspaces?: number;
}

export const DEFAULT_METRICS_INTERVAL_MS = 60_000;
export const DEFAULT_METRICS_RETENTION_MS = 15 * 60_000;

export interface MetricsDeps {
  redis: Redis;
  store: RedisStore;
  engine: Engine;
  clock: Clock;
  logger: Logger;
  thresholds: ConnectionThresholds;
  streamMaxLen: number;
  /** Envelopes older than this (by stream entry id) are trimmed. */
  retentionMs?: number;
  /** The `instance` label of every per-process series (INSTANCE_ID). */
  instanceId: string;
  /** Elects the one process that exports the fleet-wide gauges. */
  fleet: FleetLease;
}

export class MetricsService implements MetricsSink {
  readonly prometheus: PrometheusMetrics;
  readonly intervalMs: number;
  readonly #deps: MetricsDeps;
  readonly #maxTracked: number;
  /** Workspace id -> clock time of its last emission (insertion order = recency). */
  readonly #lastEmit = new Map<string, number>();
  readonly #writer: EnvelopeWriter;
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
    this.#maxTracked = options.maxTrackedWorkspaces ?? 100_000;
    this.prometheus = createPrometheusMetrics(deps.engine, this.#heartbeats, deps.instanceId);
    this.#writer = new EnvelopeWriter({
      redis: deps.redis,
      keys: deps.store.keys,
      clock: deps.clock,
      logger: deps.logger,
      streamMaxLen: deps.streamMaxLen,
      retentionMs: deps.retentionMs ?? DEFAULT_METRICS_RETENTION_MS,
      maxBacklog: options.maxBacklog ?? 50_000,
      maxTracked: this.#maxTracked,
      counter: this.prometheus.envelopes,
    });
  }

  // ---------------------------------------------------------------- MetricsSink

  /**
   * Queues an envelope from another module. Resolves once its batch was written or failed;
   * never rejects (a bad envelope or a Redis error is logged and counted), so callers may await
   * it or not.
   */
  emit(envelope: MetricsEnvelope): Promise<void> {
    const stored = this.#accepted(envelope);
    return stored ? this.#writer.enqueue(stored) : Promise.resolve();
  }

  /**
   * Writes an envelope once per `onceId` (e.g. `alert:<alertId>:<change>`) across retries and
   * processes and, only then, bumps `counter`: an atomic SET NX + XADD, as for rollbacks, so an
   * effect run again after its lease adds and counts nothing twice. Resolves true when written,
   * false when seen before or refused (a bad envelope is logged and counted); rejects when Redis
   * fails, so that the calling effect is retried.
   */
  async emitOnce(
    onceId: string,
    envelope: MetricsEnvelope,
    counter?: { name: 'alerts'; labels: Record<string, string> },
  ): Promise<boolean> {
    const stored = this.#accepted(envelope);
    if (!stored || !(await this.#addOnce(onceId, stored))) return false;
    if (counter) this.count(counter.name, counter.labels);
    return true;
  }

  /** An envelope from another module as stored, or null (logged and counted) when refused. */
  #accepted(envelope: MetricsEnvelope): StoredEnvelope | null {
    const parsed = envelopeSchema.safeParse(envelope);
    if (!parsed.success) {
      this.prometheus.envelopes.inc({ result: 'invalid' });
      this.#deps.logger.warn('metrics envelope refused', {
        metricType: (envelope as { metricType?: unknown } | null)?.metricType,
        issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      });
      return null;
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
    return stored;
  }

  /**
   * SET NX `onceId`'s marker + XADD the envelope, in one script. True when written, false when
   * the marker was set before; a Redis failure is logged, counted and thrown.
   */
  async #addOnce(onceId: string, envelope: StoredEnvelope): Promise<boolean> {
    const { redis, store, streamMaxLen } = this.#deps;
    let id: string | null;
    try {
      id = await commands.addMetricOnce(
        redis,
        [
          metricsSeenKey(store.keys, envelope.installationId, onceId),
          metricsStreamKey(store.keys, envelope.installationId),
        ],
        [METRIC_DEDUPE_TTL_MS, streamMaxLen, ENVELOPE_FIELD, JSON.stringify(envelope)],
      );
    } catch (error) {
      this.prometheus.envelopes.inc({ result: 'failed' });
      this.#deps.logger.error('metric not written; the effect will be retried', {
        onceId,
        error: String(error),
      });
      throw error;
    }
    this.prometheus.envelopes.inc({ result: id === null ? 'duplicate' : 'written' });
    return id !== null;
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

  /**
   * Engine commit listener (hot path): O(1) but for the commits that emit (a status change, a
   * workspace's first report of an interval), no awaits, no throws.
   */
  readonly onCommit: CommitListener = ({ ref, before, after, events }) => {
    if (ref.kind === WORKSPACE) {
      this.#onWorkspaceCommit(ref.id, before, after, events);
      return;
    }
    if (ref.kind !== CONNECTION || before === null) return;
    const status = stateName(after.value);
    if (stateName(before.value) === status) return;
    const c = after.context as unknown as ConnectionContext;
    if (!statusChangeSaysSomething(c, status)) return;
    for (const e of this.connectionEnvelopes(c, status, this.#deps.clock.now())) {
      void this.#writer.enqueue(e);
    }
  };

  /**
   * A workspace commit: its envelopes when a connection's report reached it, its window holds
   * operations and the interval since its last emission (in this process) has passed; or at once
   * when its verdict moved. A commit that rolls the workspace back emits, at once, the health the
   * chart recorded with the rollback (its verdict, `breach` for an automatic one), not the
   * window the rollback emptied in the same commit.
   */
  #onWorkspaceCommit(
    id: string,
    before: PersistedState | null,
    after: PersistedState,
    events: readonly EventObject[],
  ): void {
    const context = after.context as unknown as WorkspaceContext;
    const was = (before?.context ?? null) as unknown as WorkspaceContext | null;
    const now = this.#deps.clock.now();
    const latency = this.#deps.thresholds.degradedLatencyP95Ms;
    if (rolledBack(was, context)) {
      this.#emitted(id, now);
      for (const e of rollbackEnvelopes(context, latency)) void this.#writer.enqueue(e);
      return;
    }
    if (!context.health) return;
    if (!verdictMoved(was, context)) {
      // Nothing to say before the window holds an operation (registrations, handshakes).
      if (context.health.sampleSize === 0) return;
      let report = false;
      for (const e of events) if (e.type === 'CONNECTION_REPORT') report = true;
      if (!report) return;
      const last = this.#lastEmit.get(id);
      if (last !== undefined && now - last < this.intervalMs) return;
    }
    this.#emitted(id, now);
    for (const e of workspaceEnvelopes(context, now, latency)) void this.#writer.enqueue(e);
  }

  /** Remembers a workspace's emission time (its interval starts again). */
  #emitted(id: string, now: number): void {
    // Workspace ids are unique across installations (claimed in the owners hash).
    this.#lastEmit.delete(id);
    this.#lastEmit.set(id, now);
    if (this.#lastEmit.size > this.#maxTracked) {
      const oldest = this.#lastEmit.keys().next().value;
      if (oldest !== undefined) this.#lastEmit.delete(oldest);
    }
  }

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
    if (await this.#addOnce(`rollback:${event.eventId}`, envelope)) this.prometheus.rollbacks.inc();
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

  /** Writes what is buffered now and waits for every write in flight. */
  idle(): Promise<void> {
    return this.#writer.idle();
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
