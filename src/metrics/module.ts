/**
 * Metrics out (issue: "Metrics out"): MetricsEnvelopes to a capped Redis Stream per
 * installation, `GET /v1/metrics/envelopes` to read them, and Prometheus metrics on
 * `GET /metrics`.
 *
 * `/metrics` is unauthenticated, like /healthz: Prometheus scrapers rarely carry credentials,
 * and it exposes aggregate counts only (no installation, workspace or connection id, no token,
 * no configuration). Put it behind the network boundary that protects /healthz.
 */
import type { Response } from 'express';
import { principalOf } from '../http/app.ts';
import { parse } from '../http/validate.ts';
import type { AppModule, ModuleContext } from '../module-context.ts';
import { serviceKey } from '../services.ts';
import { envelopesQuery } from './envelopes.ts';
import { FleetLease } from './fleet.ts';
import type { HeartbeatEndpoint } from './prometheus.ts';
import { MetricsService, type MetricsOptions } from './service.ts';

/** The metrics service (other modules use it as SERVICES.metrics, a MetricsSink). */
export const METRICS = serviceKey<MetricsService>('metrics');

// Express routing ignores case and one trailing slash; so must the matching here.
const SINGLE_HEARTBEAT = /^\/v1\/connections\/[^/]+\/heartbeats\/?$/i;
const BATCH_HEARTBEAT = /^\/v1\/heartbeats\/?$/i;

function metricsOf(ctx: ModuleContext): MetricsService {
  return ctx.services.require(METRICS);
}

/** How many heartbeats a finished request accepted and rejected. */
function heartbeatOutcome(
  endpoint: HeartbeatEndpoint,
  status: number,
  requestBody: unknown,
  responseBody: unknown,
): [accepted: number, rejected: number] {
  if (endpoint === 'single') return status < 400 ? [1, 0] : [0, 1];
  const r = responseBody as { accepted?: unknown; rejected?: unknown } | null | undefined;
  if (status < 400 && typeof r?.accepted === 'number' && typeof r.rejected === 'number') {
    return [r.accepted, r.rejected];
  }
  const items = (requestBody as { items?: unknown } | null | undefined)?.items;
  return [0, Array.isArray(items) ? items.length : 0];
}

/**
 * @example
 * startService({}, clock, [createMetricsModule({ intervalMs: 5_000 })]);
 */
export function createMetricsModule(options: MetricsOptions = {}): AppModule {
  /** AppModule.poll.ms is read after init: a third of METRICS_FLEET_LEASE_MS. */
  let pollMs = 10_000;
  return {
    name: 'metrics',
    init(ctx) {
      const service = new MetricsService(
        {
          redis: ctx.redis,
          store: ctx.store,
          engine: ctx.engine,
          clock: ctx.clock,
          logger: ctx.logger,
          thresholds: ctx.config.connection,
          streamMaxLen: ctx.config.metricsStreamMaxLen,
          retentionMs: ctx.config.metrics.retentionMs,
          instanceId: ctx.config.metrics.instanceId,
          fleet: new FleetLease(
            ctx.redis,
            ctx.store.keys.prefix,
            ctx.config.metrics.instanceId,
            ctx.config.metrics.fleetLeaseMs,
          ),
        },
        { intervalMs: ctx.config.metrics.intervalMs, ...options },
      );
      pollMs = Math.max(1000, Math.floor(ctx.config.metrics.fleetLeaseMs / 3));
      ctx.services.provide(METRICS, service);
      ctx.engine.onCommit(service.onCommit);
      ctx.events.on('rollback', service.onRollback);
    },
    // Mounted after authentication and body parsing: it sees authenticated requests only.
    middleware(ctx) {
      const service = metricsOf(ctx);
      return (req, res, next) => {
        if (req.method !== 'POST') return next();
        const endpoint: HeartbeatEndpoint | null = SINGLE_HEARTBEAT.test(req.path)
          ? 'single'
          : BATCH_HEARTBEAT.test(req.path)
            ? 'batch'
            : null;
        if (endpoint === null) return next();
        const started = process.hrtime.bigint();
        let responseBody: unknown;
        if (endpoint === 'batch') {
          const json = res.json.bind(res);
          res.json = ((body: unknown) => {
            responseBody = body;
            return json(body);
          }) as Response['json'];
        }
        res.once('finish', () => {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const [accepted, rejected] = heartbeatOutcome(
            endpoint,
            res.statusCode,
            req.body,
            responseBody,
          );
          service.recordHeartbeats(endpoint, accepted, rejected, seconds);
        });
        next();
      };
    },
    routes(app, ctx) {
      const service = metricsOf(ctx);
      app.get('/v1/metrics/envelopes', async (req, res) => {
        const query = parse(envelopesQuery, req.query, 'query');
        res.json(await service.envelopes(principalOf(res), query));
      });
      // Not under /v1, so not authenticated (see the module comment).
      app.get('/metrics', async (_req, res) => {
        const text = await service.scrape();
        res.set('content-type', service.contentType).set('cache-control', 'no-store').send(text);
      });
    },
    // The exporter renews the fleet lease between scrapes, so it keeps it while it runs.
    poll: {
      get ms() {
        return pollMs;
      },
      run: (ctx) => metricsOf(ctx).holdFleetLease(),
    },
    async stop(ctx) {
      const service = metricsOf(ctx);
      await service?.idle();
      // Another process exports the fleet gauges at its next scrape, not after the lease expires.
      await service?.releaseFleetLease().catch(() => false);
    },
  };
}

/** The metrics module with the configured interval (METRICS_INTERVAL_MS per workspace). */
export const metricsModule: AppModule = createMetricsModule();
