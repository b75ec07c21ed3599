/**
 * The Prometheus metrics of one service instance, on its own Registries (never prom-client's
 * global one, so several services can live in one process, as in tests):
 *
 * - `registry`: what this process counts, with prom-client's default process and Node metrics,
 *   every series labelled `instance` (INSTANCE_ID). Summing over instances gives the fleet total.
 * - `fleet`: gauges computed from Redis (the same value whichever process computes them), exported
 *   only by the process holding the fleet lease (./fleet.ts), without `instance`: a sum over
 *   instances counts them once.
 *
 * No metric carries an installation, workspace or connection id: `/metrics` exposes counts
 * only, and label values are bounded (see `boundedLabel`).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../engine/engine.ts';

export const HEARTBEAT_DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

export type HeartbeatEndpoint = 'single' | 'batch';
export type HeartbeatCounts = Record<HeartbeatEndpoint, { accepted: number; rejected: number }>;

export function createPrometheusMetrics(
  engine: Engine,
  heartbeatCounts: HeartbeatCounts,
  instance: string,
) {
  const registry = new Registry();
  registry.setDefaultLabels({ instance });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const fleet = new Registry();
  const fleetOnly = [fleet];
  const stats = engine.stats;
  return {
    registry,
    fleet,
    fleetExporter: new Gauge({
      name: 'lumilink_fleet_exporter',
      help: '1 on the one process that exports the fleet-wide gauges (lumilink_connections, lumilink_outbox_*, lumilink_dead_letters) at this scrape, 0 on the others.',
      registers,
    }),
    connections: new Gauge({
      name: 'lumilink_connections',
      help: 'Fleet-wide: ACP connections by status (kebab-case) and transport protocol (acp, or http once rolled back), across all installations; counted from the status indexes at scrape time. Exported by one process only (lumilink_fleet_exporter 1), without instance label.',
      labelNames: ['status', 'protocol'] as const,
      registers: fleetOnly,
    }),
    outboxLag: new Gauge({
      name: 'lumilink_outbox_lag_seconds',
      help: 'Fleet-wide: how long in seconds the most overdue outbox entry across installations has been due (its lease expired without an outcome, or its retry time came) without being run again; 0 when the reaper keeps up. Exported by one process only.',
      registers: fleetOnly,
    }),
    outboxEntries: new Gauge({
      name: 'lumilink_outbox_entries',
      help: 'Fleet-wide: outbox entries (effects) not yet done across installations: running, or waiting for a retry; dead letters not counted. Exported by one process only.',
      registers: fleetOnly,
    }),
    deadLetters: new Gauge({
      name: 'lumilink_dead_letters',
      help: 'Fleet-wide: dead letters waiting for an operator across installations, by kind: timers the poller could not apply, effects and webhook/email notification deliveries that exhausted their attempts (the kinds of POST /v1/installations/:id/dead-letters/:kind/:action). Exported by one process only.',
      labelNames: ['kind'] as const,
      registers: fleetOnly,
    }),
    rollbacks: new Counter({
      name: 'lumilink_rollbacks_total',
      help: 'Workspace rollbacks to HTTP (RollbackEvents), counted once per eventId across processes.',
      registers,
    }),
    alerts: new Counter({
      name: 'lumilink_alerts_total',
      help: 'Capacity alerts by the trigger they reached (warning, critical): an alert opened counts under its trigger, and again under critical when a warning escalates; sum over triggers counts alert changes, not alerts. Each change counts once across retries and processes, by the process that records it.',
      labelNames: ['trigger'] as const,
      registers,
    }),
    skips: new Counter({
      name: 'lumilink_skips_total',
      help: 'Automation skips recorded, by reason (kebab-case).',
      labelNames: ['reason'] as const,
      registers,
    }),
    shed: new Counter({
      name: 'lumilink_shed_total',
      help: 'Connection registrations refused by load shedding.',
      registers,
    }),
    heartbeats: new Counter({
      name: 'lumilink_heartbeats_total',
      help: 'Heartbeats received on the heartbeat routes (each item of a batch counts), by endpoint (single, batch) and outcome (accepted, rejected).',
      labelNames: ['endpoint', 'outcome'] as const,
      registers,
      // Counted in plain numbers on the request path, copied here when scraped.
      collect() {
        this.reset();
        for (const [endpoint, c] of Object.entries(heartbeatCounts)) {
          if (c.accepted > 0) this.inc({ endpoint, outcome: 'accepted' }, c.accepted);
          if (c.rejected > 0) this.inc({ endpoint, outcome: 'rejected' }, c.rejected);
        }
      },
    }),
    heartbeatDuration: new Histogram({
      name: 'lumilink_heartbeat_request_duration_seconds',
      help: 'Latency of authenticated heartbeat requests (a batch is one request), by endpoint.',
      labelNames: ['endpoint'] as const,
      buckets: HEARTBEAT_DURATION_BUCKETS,
      registers,
    }),
    envelopes: new Counter({
      name: 'lumilink_metric_envelopes_total',
      help: 'MetricsEnvelopes by result: written to the stream, failed (Redis error, logged), dropped (write backlog full), invalid (refused from another module), duplicate (a rollback eventId or an alert change seen before: a retried effect).',
      labelNames: ['result'] as const,
      registers,
    }),
    engineCommits: new Counter({
      name: 'lumilink_engine_commits_total',
      help: 'Actor commits made by this process.',
      registers,
      collect() {
        this.reset();
        this.inc(stats.commits);
      },
    }),
    engineConflicts: new Counter({
      name: 'lumilink_engine_conflicts_total',
      help: 'Compare-and-set conflicts this process retried.',
      registers,
      collect() {
        this.reset();
        this.inc(stats.conflicts);
      },
    }),
    engineEffects: new Counter({
      name: 'lumilink_engine_effects_total',
      help: 'Outbox effects run by this process, by result (ok, failed).',
      labelNames: ['result'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'ok' }, stats.effectsRun);
        this.inc({ result: 'failed' }, stats.effectsFailed);
      },
    }),
  };
}

export type PrometheusMetrics = ReturnType<typeof createPrometheusMetrics>;

/**
 * Keeps a label's values bounded: kebab-case, at most 40 characters, at most `max` distinct
 * values per label (anything else becomes `other`), so a caller cannot blow up cardinality.
 */
export class BoundedLabel {
  readonly #seen = new Set<string>();
  constructor(readonly max = 32) {}

  value(raw: unknown): string {
    if (typeof raw !== 'string') return 'other';
    const v = raw.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/_/g, '-');
    if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(v)) return 'other';
    if (this.#seen.has(v)) return v;
    if (this.#seen.size >= this.max) return 'other';
    this.#seen.add(v);
    return v;
  }
}
