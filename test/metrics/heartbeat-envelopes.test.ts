/**
 * The envelopes heartbeats lead to: per workspace, from the workspace chart's own window, at
 * most once per METRICS_INTERVAL_MS (and at once when its verdict moves); per connection only
 * when its status changes. Real service with only the metrics module, real Redis, manual clock.
 */
import { describe, expect, it } from 'vitest';
import { metricsStreamKey } from '../../src/metrics/envelopes.ts';
import { createMetricsModule } from '../../src/metrics/module.ts';
import { T0, hb } from '../helpers.ts';
import {
  SEC,
  beat,
  call,
  connect,
  envelopes,
  metricsOf,
  settle,
  another,
  service,
  useMetricsService,
} from './support.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const MIN = 60 * SEC;

useMetricsService();

/** The envelopes of one emission, by type. */
const byType = (items: any[]): Record<string, any> =>
  Object.fromEntries(items.map((e) => [e.metricType, e]));
const workspaceOnly = (items: any[]) => items.filter((e) => e.connectionId === undefined);

describe('workspace metrics', () => {
  it("emits the workspace's success rate, p95 and throughput from its own window, with the seed fields only", async () => {
    await connect(service, 'c1');
    await connect(service, 'c2');
    // Handshakes of fresh connections carry no operations: nothing to emit.
    expect(await envelopes(service)).toEqual([]);

    service.clock.advance(10 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 50, 0, [10, 20, 30]));
    // 50 operations < the policy's 100: no success rate yet; p95 and throughput.
    const first = await envelopes(service);
    expect(first).toEqual([
      {
        id: expect.stringMatching(/^\d+-\d+$/),
        timestamp: iso(T0 + 10 * SEC),
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        metricType: 'latency-p95',
        value: 35,
        thresholdBreached: false,
      },
      {
        id: expect.stringMatching(/^\d+-\d+$/),
        timestamp: iso(T0 + 10 * SEC),
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        metricType: 'throughput',
        value: 50,
        thresholdBreached: false,
      },
    ]);

    // Inside the interval, but c2's 60 operations move the verdict to healthy: at once, summed.
    service.clock.advance(SEC);
    await beat(service, 'c2', hb(service.clock.now(), 60));
    const second = byType((await envelopes(service)).slice(2));
    expect(Object.keys(second).sort()).toEqual(['latency-p95', 'success-rate', 'throughput']);
    expect(second['success-rate']).toMatchObject({ value: 1, thresholdBreached: false });
    expect(second.throughput).toMatchObject({ value: 110, timestamp: iso(T0 + 11 * SEC) });
  });

  it('emits at most once per workspace per METRICS_INTERVAL_MS (default 1 min) of the injected clock', async () => {
    await connect(service, 'c1');
    await connect(service, 'c2', 'inst-a', 'ws-2');
    service.clock.advance(SEC);
    await beat(service, 'c1', hb(service.clock.now(), 10));
    expect(await envelopes(service)).toHaveLength(1); // throughput of ws-1
    for (let i = 0; i < 5; i++) {
      service.clock.advance(10 * SEC);
      await beat(service, 'c1', hb(service.clock.now(), 10));
    }
    expect(await envelopes(service)).toHaveLength(1);
    // Per workspace: ws-2's first report with operations emits at once.
    await beat(service, 'c2', hb(service.clock.now(), 5));
    expect((await envelopes(service)).map((e) => e.workspaceId)).toEqual(['ws-1', 'ws-2']);
    // A minute after ws-1's last emission: once more.
    service.clock.advance(10 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 10));
    await beat(service, 'c1', hb(service.clock.now(), 10));
    const items = await envelopes(service);
    expect(items.map((e) => `${e.workspaceId}:${e.timestamp}`)).toEqual([
      `ws-1:${iso(T0 + SEC)}`,
      `ws-2:${iso(T0 + 51 * SEC)}`,
      `ws-1:${iso(T0 + 61 * SEC)}`,
    ]);
    // The emission came with the first of those two: 70 operations over two minutes of window.
    expect(items[2].value).toBe(35);
  });

  it('takes the interval from METRICS_INTERVAL_MS, or the module option', async () => {
    const extra = await another({ METRICS_INTERVAL_MS: '5000' });
    await connect(extra, 'c1');
    for (let i = 0; i < 6; i++) {
      extra.clock.advance(2 * SEC);
      await beat(extra, 'c1', hb(extra.clock.now(), 1));
    }
    expect((await envelopes(extra)).map((e) => e.timestamp)).toEqual([
      iso(T0 + 2 * SEC),
      iso(T0 + 8 * SEC),
    ]);
    const second = await another({}, [createMetricsModule({ intervalMs: 2 * SEC })]);
    await connect(second, 'c1');
    for (let i = 0; i < 3; i++) {
      second.clock.advance(SEC);
      await beat(second, 'c1', hb(second.clock.now(), 1));
    }
    expect((await envelopes(second)).map((e) => e.timestamp)).toEqual([
      iso(T0 + SEC),
      iso(T0 + 3 * SEC),
    ]);
  });

  it("sets thresholdBreached by the workspace's verdict, emitted at once when it moves", async () => {
    await connect(service, 'c1');
    service.clock.advance(SEC);
    await beat(service, 'c1', hb(service.clock.now(), 60, 0, [10]));
    service.clock.advance(SEC);
    // 98 ok / 2 failed = 98 % < the policy's 99 %: breach (the workspace is on HTTP: no rollback).
    await beat(service, 'c1', hb(service.clock.now(), 38, 2, [4000]));
    const items = byType(workspaceOnly(await envelopes(service)).slice(2));
    expect(items['success-rate']).toMatchObject({ value: 0.98, thresholdBreached: true });
    // Above DEGRADED_LATENCY_P95_MS (2,000 ms).
    expect(items['latency-p95']).toMatchObject({ thresholdBreached: true });
    expect(items.throughput).toMatchObject({ value: 100, thresholdBreached: true });
  });
});

describe('connection metrics on status changes only', () => {
  it('emits a connection’s envelopes when its status changes, never per heartbeat', async () => {
    await connect(service, 'c1');
    service.clock.advance(10 * SEC);
    await beat(service, 'c1', hb(service.clock.now(), 150, 0, [40]));
    for (let i = 0; i < 3; i++) {
      service.clock.advance(MIN);
      await beat(service, 'c1', hb(service.clock.now(), 10));
    }
    const perConnection = (await envelopes(service)).filter((e) => e.connectionId);
    expect(perConnection).toEqual([]);

    // 150 ok / 1 failed = 99.3 % < 99.5 % -> degraded: at once, breached, with the connection id.
    const before = (await envelopes(service)).length;
    service.clock.advance(SEC);
    const ack = await beat(service, 'c1', hb(service.clock.now(), 0, 1));
    expect(ack.status).toBe('degraded');
    const degraded = byType(
      (await envelopes(service)).slice(before).filter((e) => e.connectionId === 'c1'),
    );
    expect(Object.keys(degraded).sort()).toEqual(['latency-p95', 'success-rate', 'throughput']);
    expect(degraded['success-rate']).toMatchObject({
      timestamp: iso(T0 + 191 * SEC),
      workspaceId: 'ws-1',
      thresholdBreached: true,
    });
  });

  it('emits for the statuses timers move to, and for a rollback of a connection with operations', async () => {
    await connect(service, 'c1');
    await connect(service, 'c2');
    service.clock.advance(SEC);
    await beat(service, 'c2', hb(service.clock.now(), 5));
    // No heartbeat from c1 for HEARTBEAT_TIMEOUT_MS (90 s): the durable timer moves it to error
    // (c2's is due a second later).
    service.clock.advance(89 * SEC);
    await service.engine.fireDueTimers();
    await settle(service);
    expect((await call(service, 'GET', '/v1/connections/c1')).body.status).toBe('error');
    const c1 = (await envelopes(service)).filter((e) => e.connectionId === 'c1');
    expect(c1).toEqual([
      expect.objectContaining({ metricType: 'throughput', value: 0, thresholdBreached: true }),
    ]);
    const res = await call(service, 'POST', '/v1/connections/c2/rollback', { reason: 'test' });
    expect(res.body.status).toBe('rolled-back');
    const c2 = (await envelopes(service)).filter((e) => e.connectionId === 'c2');
    expect(c2).toEqual([
      expect.objectContaining({ metricType: 'throughput', thresholdBreached: false }),
    ]);
  });
});

describe('retention', () => {
  it('trims each installation stream by age (METRICS_RETENTION_MS, XTRIM MINID ~) as well as by length', async () => {
    const extra = await another({ METRICS_RETENTION_MS: '60000' });
    const key = metricsStreamKey(extra.store.keys, 'inst-a');
    // 300 entries from long ago (ids in 1970), then a fresh envelope.
    for (let i = 1; i <= 300; i++) await extra.redis.xadd(key, `${i}-0`, 'envelope', '{}');
    await metricsOf(extra).emit({
      timestamp: iso(T0),
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      metricType: 'skip-count',
      value: 1,
      thresholdBreached: false,
    });
    await settle(extra);
    // Approximate trimming removes whole stream nodes only: at most one node of old entries stays.
    const [, nodeMax] = (await extra.redis.config('GET', 'stream-node-max-entries')) as string[];
    const old = await extra.redis.xrange(key, '-', '1000');
    expect(old.length).toBeLessThanOrEqual(Math.min(Number(nodeMax ?? 100), 299));
    const all = await extra.redis.xrange(key, '-', '+');
    expect(all.at(-1)![1]).toEqual(['envelope', expect.stringContaining('skip-count')]);
  });
});
