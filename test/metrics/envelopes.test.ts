/**
 * MetricsEnvelopes end to end: the real service with only the metrics module, real Redis under
 * a per-test key prefix, a manual clock at T0. Envelopes are read back through
 * `GET /v1/metrics/envelopes` after every pending write has settled.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { Redis } from 'ioredis';
import { metricsStreamKey } from '../../src/metrics/envelopes.ts';
import { createMetricsModule } from '../../src/metrics/module.ts';
import { FleetLease } from '../../src/metrics/fleet.ts';
import { MetricsService } from '../../src/metrics/service.ts';
import { createLogger } from '../../src/logger.ts';
import type { MetricsEnvelope } from '../../src/notifications/types.ts';
import { OPERATOR, T0, TOKEN_A, TOKEN_B, type TestService, hb, startService } from '../helpers.ts';
import {
  SEC,
  beat,
  call,
  connect,
  envelopes,
  expectError,
  metricsOf,
  register,
  scrape,
  settle,
  startMetricsService,
  valueOf,
} from './support.ts';

const iso = (ms: number) => new Date(ms).toISOString();

let service: TestService;
let extra: TestService | null = null;

beforeEach(async () => {
  service = await startMetricsService();
});

afterEach(async () => {
  await extra?.close();
  extra = null;
  await service.close();
});

/** An envelope as another module (capacity) would send it. */
function capacity(value: number, installationId = 'inst-a'): MetricsEnvelope {
  return {
    timestamp: iso(service.clock.now()),
    installationId,
    workspaceId: null,
    metricType: 'capacity-percent',
    value,
    thresholdBreached: value >= 0.85,
  };
}

/** The connection metrics of one emission, by type. */
function byType(items: any[]): Record<string, any> {
  return Object.fromEntries(items.map((e) => [e.metricType, e]));
}

describe('connection metrics from heartbeats', () => {
  it('emits success-rate, latency-p95 and throughput with the seed envelope fields and the connection id', async () => {
    await connect(service, 'c1');
    // The handshake changed the status: throughput 0 at once, nothing else computed yet.
    const atHandshake = await envelopes(service);
    expect(atHandshake).toEqual([
      {
        id: expect.stringMatching(/^\d+-\d+$/),
        timestamp: iso(T0),
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        metricType: 'throughput',
        value: 0,
        thresholdBreached: false,
        connectionId: 'c1',
      },
    ]);

    service.clock.advance(10 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 120, 0, [10, 20, 30]));
    const items = (await envelopes(service)).slice(1);
    expect(items.map((e) => e.metricType).sort()).toEqual([
      'latency-p95',
      'success-rate',
      'throughput',
    ]);
    const m = byType(items);
    const common = {
      timestamp: iso(T0 + 10 * SEC),
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      connectionId: 'c1',
      thresholdBreached: false,
    };
    expect(m['success-rate']).toEqual({
      ...common,
      id: expect.any(String),
      metricType: 'success-rate',
      value: 1,
    });
    // 30 ms falls in the 35 ms histogram bucket: p95 is the bucket's upper bound.
    expect(m['latency-p95']).toEqual({
      ...common,
      id: expect.any(String),
      metricType: 'latency-p95',
      value: 35,
    });
    expect(m.throughput).toEqual({
      ...common,
      id: expect.any(String),
      metricType: 'throughput',
      value: 120,
    });
  });

  it('emits no success rate below MIN_SAMPLES operations and no p95 without latency samples', async () => {
    await connect(service, 'c1');
    service.clock.advance(10 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 40, 2));
    const items = (await envelopes(service)).slice(1);
    expect(items.map((e) => [e.metricType, e.value])).toEqual([['throughput', 42]]);
  });

  it('emits at most once per connection per 10 s interval of the injected clock', async () => {
    await connect(service, 'c1');
    await connect(service, 'c2');
    const start = (await envelopes(service)).length; // one throughput each, at the handshakes

    // Within the interval after the handshake: nothing.
    for (let i = 0; i < 5; i++) {
      service.clock.advance(SEC);
      await beat(service, 'c1', hb(service.clock.now(), 30));
    }
    expect(await envelopes(service)).toHaveLength(start);

    // 10 s after the last emission: one set, then quiet again for 10 s.
    service.clock.advance(5 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 30));
    await beat(service, 'c1', hb(service.clock.now(), 30));
    service.clock.advance(9 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 30));
    let items = (await envelopes(service)).slice(start);
    expect(items.map((e) => `${e.connectionId}:${e.metricType}`).sort()).toEqual([
      'c1:success-rate',
      'c1:throughput',
    ]);
    expect(byType(items)['success-rate'].timestamp).toBe(iso(T0 + 10 * SEC));

    // Throttling is per connection: c2 emits on its first heartbeat past its own interval.
    await beat(service, 'c2', hb(service.clock.now(), 5));
    service.clock.advance(SEC);
    await beat(service, 'c1', hb(service.clock.now(), 30));
    items = (await envelopes(service)).slice(start + 2);
    expect(items.map((e) => `${e.connectionId}:${e.metricType}`).sort()).toEqual([
      'c1:success-rate',
      'c1:throughput',
      'c2:throughput',
    ]);
  });

  it('takes the interval from the module option', async () => {
    extra = await startService({}, undefined, [createMetricsModule({ intervalMs: 2 * SEC })]);
    await connect(extra, 'c1');
    for (let i = 0; i < 5; i++) {
      extra.clock.advance(SEC);
      await beat(extra, 'c1', hb(extra.clock.now(), 1));
    }
    // Handshake at T0, then emissions at T0+2 s and T0+4 s only.
    const times = (await envelopes(extra)).map((e) => e.timestamp);
    expect(times).toEqual([iso(T0), iso(T0 + 2 * SEC), iso(T0 + 4 * SEC)]);
  });

  it('emits at once when the status changes, with thresholdBreached set while degraded', async () => {
    await connect(service, 'c1');
    service.clock.advance(10 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 150, 0, [40]));
    const before = (await envelopes(service)).length;

    // 1 s later, well inside the interval: 150 ok / 1 failed = 99.3% < 99.5% -> degraded.
    service.clock.advance(SEC);
    const ack = await beat(service, 'c1', hb(service.clock.now(), 0, 1));
    expect(ack.status).toBe('degraded');
    const degraded = byType((await envelopes(service)).slice(before));
    expect(Object.keys(degraded).sort()).toEqual(['latency-p95', 'success-rate', 'throughput']);
    expect(degraded['success-rate']).toMatchObject({
      timestamp: iso(T0 + 11 * SEC),
      value: 150 / 151,
      thresholdBreached: true,
    });
    // Values within their own thresholds are still breached while the connection is degraded.
    expect(degraded['latency-p95']).toMatchObject({ value: 50, thresholdBreached: true });
    expect(degraded.throughput).toMatchObject({ value: 151, thresholdBreached: true });

    // The status change restarted the interval: the next heartbeat inside it emits nothing.
    service.clock.advance(SEC);
    await beat(service, 'c1', hb(service.clock.now(), 0, 1));
    expect(await envelopes(service)).toHaveLength(before + 3);

    // Collapse to error (status change again): emitted at once, breached.
    await beat(service, 'c1', hb(service.clock.now(), 0, 20));
    const error = byType((await envelopes(service)).slice(before + 3));
    expect(error['success-rate']).toMatchObject({ value: 150 / 172, thresholdBreached: true });
  });

  it('emits when a connection is rolled back, and for the statuses timers move to', async () => {
    await connect(service, 'c1');
    const start = (await envelopes(service)).length;
    // No heartbeat for HEARTBEAT_TIMEOUT_MS (90 s): the durable timer moves c1 to error.
    service.clock.advance(90 * SEC);
    await service.engine.fireDueTimers();
    expect((await call(service, 'GET', '/v1/connections/c1')).body.status).toBe('error');
    let items = (await envelopes(service)).slice(start);
    expect(items).toEqual([
      expect.objectContaining({
        metricType: 'throughput',
        connectionId: 'c1',
        thresholdBreached: true,
      }),
    ]);
    const res = await call(service, 'POST', '/v1/connections/c1/rollback', { reason: 'test' });
    expect(res.body.status).toBe('rolled-back');
    items = (await envelopes(service)).slice(start + 1);
    expect(items).toEqual([
      expect.objectContaining({
        metricType: 'throughput',
        connectionId: 'c1',
        timestamp: iso(T0 + 90 * SEC),
        thresholdBreached: false,
      }),
    ]);
  });

  it('never slows or fails a heartbeat when metric writes fail: they are logged and counted', async () => {
    const lines: string[] = [];
    // A client that is never connected: every command fails at once.
    const broken = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    broken.on('error', () => {});
    const failing = new MetricsService({
      redis: broken,
      store: service.store,
      engine: service.engine,
      clock: service.clock,
      logger: createLogger('error', (l) => lines.push(l)),
      thresholds: service.config.connection,
      streamMaxLen: 1000,
      instanceId: 'broken-1',
      fleet: new FleetLease(broken, service.prefix, 'broken-1', 30_000),
    });
    service.engine.onCommit(failing.onCommit);
    await connect(service, 'c1');
    service.clock.advance(10 * SEC);
    const ack = await beat(service, 'c1', hb(service.clock.now(), 120, 0, [5]));
    expect(ack.status).toBe('connected');
    await expect(failing.emit(capacity(0.5))).resolves.toBeUndefined();
    await failing.idle();
    const text = await failing.prometheus.registry.metrics();
    expect(valueOf(text, 'lumilink_metric_envelopes_total', { result: 'failed' })).toBe(5);
    expect(lines.some((l) => JSON.parse(l).message === 'metrics envelopes not written')).toBe(true);
    broken.disconnect();
  });
});

describe('rollback-count from the rollback domain event', () => {
  const event = (eventId: string, kind: 'rollback' | 'recovery' = 'rollback') => ({
    eventId,
    effectId: `effect-${eventId}`,
    installationId: 'inst-a',
    workspaceId: 'ws-9',
    kind,
    toast: { severity: 'error' as const, title: 'Rolled back', body: 'ACP rolled back to HTTP' },
    transcriptNote: 'rolled back',
    at: T0 + 5 * SEC,
  });

  it('emits rollback-count 1 with thresholdBreached once per eventId, however often the event is delivered', async () => {
    await service.modules.events.emit('rollback', event('ev-1'));
    await service.modules.events.emit('rollback', event('ev-1'));
    await Promise.all([
      service.modules.events.emit('rollback', event('ev-2')),
      service.modules.events.emit('rollback', event('ev-2')),
    ]);
    // A recovery notification is not a rollback.
    await service.modules.events.emit('rollback', event('ev-3', 'recovery'));

    const items = await envelopes(service);
    expect(items.map(({ id: _id, ...e }) => e)).toEqual([
      {
        timestamp: iso(T0 + 5 * SEC),
        installationId: 'inst-a',
        workspaceId: 'ws-9',
        metricType: 'rollback-count',
        value: 1,
        thresholdBreached: true,
      },
      expect.objectContaining({ metricType: 'rollback-count', workspaceId: 'ws-9' }),
    ]);
    const { text } = await scrape(service);
    expect(valueOf(text, 'lumilink_rollbacks_total')).toBe(2);
    expect(valueOf(text, 'lumilink_metric_envelopes_total', { result: 'duplicate' })).toBe(2);
  });

  it('is idempotent across processes sharing the keys', async () => {
    extra = await startMetricsService({ KEY_PREFIX: service.prefix });
    await service.modules.events.emit('rollback', event('ev-1'));
    await extra.modules.events.emit('rollback', event('ev-1'));
    expect(await envelopes(service)).toHaveLength(1);
    expect(await envelopes(extra)).toHaveLength(1);
  });
});

describe('GET /v1/metrics/envelopes', () => {
  it('walks the stream with a cursor, oldest first, each envelope exactly once', async () => {
    const values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
    for (const v of values) void metricsOf(service).emit(capacity(v));
    await metricsOf(service).emit(capacity(0.9, 'inst-b'));
    await settle(service);

    const seen: any[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const q: string = after ? `&after=${after}` : '';
      const res = await call(
        service,
        'GET',
        `/v1/metrics/envelopes?installationId=inst-a&limit=1${q}`,
      );
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.installationId).toBe('inst-a');
      expect(res.body.items.length).toBeLessThanOrEqual(1);
      seen.push(...res.body.items);
      if (res.body.items.length === 0) {
        // Caught up: the cursor stays where it was, ready for the next poll.
        expect(res.body).toMatchObject({ nextCursor: after, hasMore: false });
        break;
      }
      expect(res.body.nextCursor).toBe(res.body.items[0].id);
      expect(res.body.hasMore).toBe(seen.length < values.length);
      after = res.body.nextCursor;
    }
    expect(seen.map((e) => e.value)).toEqual(values);
    expect(new Set(seen.map((e) => e.id)).size).toBe(values.length);
    expect(seen.every((e) => e.installationId === 'inst-a')).toBe(true);

    // New envelopes appear after the cursor of the last page.
    await metricsOf(service).emit(capacity(0.95));
    const next = await call(
      service,
      'GET',
      `/v1/metrics/envelopes?installationId=inst-a&after=${after}`,
    );
    expect(next.body.items.map((e: any) => [e.value, e.thresholdBreached])).toEqual([[0.95, true]]);
  });

  it('scopes reads by token: another tenant gets 403, a single-installation token may omit installationId, others must name it', async () => {
    await metricsOf(service).emit(capacity(0.5));

    expectError(
      await call(service, 'GET', '/v1/metrics/envelopes?installationId=inst-a', undefined, TOKEN_B),
      403,
      'forbidden',
      'installationId',
    );
    const own = await call(service, 'GET', '/v1/metrics/envelopes', undefined, TOKEN_A);
    expect(own.status).toBe(200);
    expect(own.body.installationId).toBe('inst-a');
    expect(own.body.items).toHaveLength(1);
    const empty = await call(service, 'GET', '/v1/metrics/envelopes', undefined, TOKEN_B);
    expect(empty.body).toEqual({
      installationId: 'inst-b',
      items: [],
      nextCursor: null,
      hasMore: false,
    });

    expectError(
      await call(service, 'GET', '/v1/metrics/envelopes', undefined, OPERATOR),
      400,
      'validation-failed',
      'installationId',
    );
    const operator = await call(service, 'GET', '/v1/metrics/envelopes?installationId=inst-a');
    expect(operator.body.items).toHaveLength(1);
    expectError(
      await call(service, 'GET', '/v1/metrics/envelopes', undefined, null),
      401,
      'unauthorized',
    );
  });

  it('answers 400 naming the parameter for a bad cursor, limit or unknown parameter', async () => {
    for (const after of ['abc', '12', '1-2-3', '-1-0', '99999999999999999999-0', "1-0'"]) {
      expectError(
        await call(
          service,
          'GET',
          `/v1/metrics/envelopes?installationId=inst-a&after=${encodeURIComponent(after)}`,
        ),
        400,
        'validation-failed',
        'after',
      );
    }
    for (const limit of ['0', '1001', 'x', '1.5']) {
      expectError(
        await call(service, 'GET', `/v1/metrics/envelopes?installationId=inst-a&limit=${limit}`),
        400,
        'validation-failed',
        'limit',
      );
    }
    expectError(
      await call(service, 'GET', '/v1/metrics/envelopes?installationId=inst-a&cursor=1-0'),
      400,
      'validation-failed',
      'cursor',
    );
    expectError(
      await call(service, 'GET', '/v1/metrics/envelopes?installationId=%7Binst%7D'),
      400,
      'validation-failed',
      'installationId',
    );
    // The largest possible id is a valid cursor with nothing after it.
    const last = await call(
      service,
      'GET',
      '/v1/metrics/envelopes?installationId=inst-a&after=18446744073709551615-18446744073709551615',
    );
    expect(last.body).toMatchObject({ items: [], hasMore: false });
  });

  it('refuses malformed envelopes from other modules without throwing, and counts them', async () => {
    const svc = metricsOf(service);
    await expect(
      svc.emit({ ...capacity(0.5), installationId: '{inst-b}' }),
    ).resolves.toBeUndefined();
    await expect(svc.emit({ ...capacity(Number.NaN) })).resolves.toBeUndefined();
    await expect(
      svc.emit({ ...capacity(0.5), metricType: 'bogus' as never }),
    ).resolves.toBeUndefined();
    await expect(svc.emit({ ...capacity(0.5), timestamp: 'yesterday' })).resolves.toBeUndefined();
    // An offset timestamp is accepted and stored in UTC.
    await svc.emit({ ...capacity(0.5), timestamp: '2026-11-25T13:00:00+01:00' });
    const items = await envelopes(service);
    expect(items.map((e) => [e.timestamp, e.value])).toEqual([[iso(T0), 0.5]]);
    const { text } = await scrape(service);
    expect(valueOf(text, 'lumilink_metric_envelopes_total', { result: 'invalid' })).toBe(4);
  });
});

describe('capped stream', () => {
  it('keeps each installation stream near METRICS_STREAM_MAXLEN (XADD MAXLEN ~)', async () => {
    extra = await startMetricsService({ METRICS_STREAM_MAXLEN: '100' });
    const svc = metricsOf(extra);
    const total = 600;
    for (let i = 0; i < total; i++) {
      void svc.emit({
        timestamp: iso(T0),
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        metricType: 'skip-count',
        value: i,
        thresholdBreached: false,
      });
      if (i % 150 === 149) await svc.idle();
    }
    await svc.idle();
    const key = metricsStreamKey(extra.store.keys, 'inst-a');
    expect(key).toBe(`${extra.prefix}:{inst-a}:metrics`);
    const length = await extra.redis.xlen(key);
    // Approximate trimming removes whole stream nodes only (stream-node-max-entries each).
    const [, nodeMax] = (await extra.redis.config('GET', 'stream-node-max-entries')) as string[];
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThanOrEqual(100 + Number(nodeMax ?? 100));
    const items = await envelopes(extra);
    expect(items).toHaveLength(length);
    expect(items[items.length - 1].value).toBe(total - 1);
    expect(items[0].value).toBe(total - length);
  });
});

describe('registration alone', () => {
  it('emits nothing for a connection created in connecting', async () => {
    await register(service, 'c1');
    expect(await envelopes(service)).toEqual([]);
  });
});
