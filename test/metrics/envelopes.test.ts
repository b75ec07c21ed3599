/**
 * MetricsEnvelopes end to end: the real service with only the metrics module, real Redis under
 * a per-test key prefix, a manual clock at T0. Envelopes are read back through
 * `GET /v1/metrics/envelopes` after every pending write has settled.
 */
import { describe, it, expect } from 'vitest';
import { Redis } from 'ioredis';
import { metricsStreamKey } from '../../src/metrics/envelopes.ts';
import { FleetLease } from '../../src/metrics/fleet.ts';
import { MetricsService } from '../../src/metrics/service.ts';
import { createLogger } from '../../src/logger.ts';
import type { MetricsEnvelope } from '../../src/notifications/types.ts';
import { OPERATOR, T0, TOKEN_A, TOKEN_B, hb } from '../helpers.ts';
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
  valueOf,
  another,
  service,
  useMetricsService,
} from './support.ts';

const iso = (ms: number) => new Date(ms).toISOString();

useMetricsService();

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

describe('writing', () => {
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
    // 120 operations: the workspace's verdict moves to healthy, its three envelopes at once.
    const ack = await beat(service, 'c1', hb(service.clock.now(), 120, 0, [5]));
    expect(ack.status).toBe('connected');
    await expect(failing.emit(capacity(0.5))).resolves.toBeUndefined();
    await failing.idle();
    const text = await failing.prometheus.registry.metrics();
    expect(valueOf(text, 'lumilink_metric_envelopes_total', { result: 'failed' })).toBe(4);
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
    const extra = await another({ KEY_PREFIX: service.prefix });
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
    // A cursor no page gave, ahead of everything: on an empty stream, then past the newest.
    const future = `${Date.now() + 3_600_000}-0`;
    const path = `/v1/metrics/envelopes?installationId=inst-a&after=${future}`;
    expectError(await call(service, 'GET', path), 400, 'validation-failed', 'after');
    await metricsOf(service).emit(capacity(0.5));
    const refused = await call(service, 'GET', path);
    expectError(refused, 400, 'validation-failed', 'after');
    expect(refused.body.error.message).toContain('beyond the newest envelope');
    const [newest] = (await call(service, 'GET', '/v1/metrics/envelopes?installationId=inst-a'))
      .body.items;
    const caughtUp = await call(
      service,
      'GET',
      `/v1/metrics/envelopes?installationId=inst-a&after=${newest.id}`,
    );
    expect(caughtUp.body).toMatchObject({ items: [], nextCursor: newest.id });
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
    // The largest possible id is well formed, but no page gave it: beyond the newest envelope.
    expectError(
      await call(
        service,
        'GET',
        '/v1/metrics/envelopes?installationId=inst-a&after=18446744073709551615-18446744073709551615',
      ),
      400,
      'validation-failed',
      'after',
    );
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
    const extra = await another({ METRICS_STREAM_MAXLEN: '100' });
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
