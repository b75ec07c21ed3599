/**
 * Metrics of a fleet of processes (issue 11, part 6), real services on one real Redis prefix:
 * prom-client's default process and Node metrics, every per-process series labelled with
 * `instance` (INSTANCE_ID), and the fleet-wide gauges computed from Redis exported by exactly
 * one process (the holder of a Redis lease), so that summing any metric over instances is right.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { metricsModule } from '../../src/metrics/module.ts';
import { hb, type TestService } from '../helpers.ts';
import {
  type Sample,
  beat,
  connect,
  metricsOf,
  register,
  samples,
  scrape,
  startMetricsService,
} from './support.ts';

const started: TestService[] = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.close();
});

async function service(env: Record<string, string>) {
  const s = await startMetricsService(env);
  started.push(s);
  return s;
}

const FLEET = [
  'lumilink_connections',
  'lumilink_outbox_lag_seconds',
  'lumilink_outbox_entries',
  'lumilink_dead_letters',
];

const sum = (all: Sample[], name: string, labels: Record<string, string> = {}) =>
  all
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);

const leaseKey = (s: TestService) => `${s.prefix}:metrics:fleet-exporter`;

describe('per-process metrics', () => {
  it('include the default process and Node metrics, every series labelled with INSTANCE_ID', async () => {
    const s = await service({ INSTANCE_ID: 'web-1' });
    await connect(s, 'c1');
    const all = samples((await scrape(s)).text);
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_version_info',
      'lumilink_engine_commits_total',
      'lumilink_fleet_exporter',
    ]) {
      expect(
        all.some((x) => x.name === name),
        name,
      ).toBe(true);
    }
    for (const x of all.filter((x) => !FLEET.includes(x.name))) {
      expect(x.labels.instance, x.name).toBe('web-1');
    }
    // The fleet-wide gauges carry no instance: they are not this process's.
    for (const x of all.filter((x) => FLEET.includes(x.name)))
      expect(x.labels.instance).toBeUndefined();
  });

  it('defaults INSTANCE_ID to <hostname>:<pid> and refuses a malformed one', () => {
    expect(loadConfig({}).metrics.instanceId).toMatch(new RegExp(`:${process.pid}$`));
    expect(() => loadConfig({ INSTANCE_ID: 'web 1' })).toThrow(ConfigError);
    expect(() => loadConfig({ INSTANCE_ID: 'web 1' })).toThrow(/INSTANCE_ID/);
  });
});

describe('fleet-wide gauges', () => {
  it('come from one process only, so a sum over instances counts each connection once', async () => {
    const a = await service({ INSTANCE_ID: 'web-1' });
    const b = await service({ INSTANCE_ID: 'web-2', KEY_PREFIX: a.prefix });
    await connect(a, 'c1');
    await connect(b, 'c2');
    await register(b, 'c3');
    await beat(a, 'c1', hb(a.clock.now(), 10));
    await beat(b, 'c2', hb(b.clock.now(), 10));
    await beat(b, 'c2', hb(b.clock.now(), 10));

    const texts = [(await scrape(a)).text, (await scrape(b)).text];
    const all = texts.flatMap(samples);
    expect(sum(all, 'lumilink_fleet_exporter')).toBe(1);
    expect(all.filter((x) => x.name === 'lumilink_fleet_exporter')).toEqual([
      { name: 'lumilink_fleet_exporter', labels: { instance: 'web-1' }, value: 1 },
      { name: 'lumilink_fleet_exporter', labels: { instance: 'web-2' }, value: 0 },
    ]);
    expect(samples(texts[1]!).some((x) => FLEET.includes(x.name))).toBe(false);
    // What `sum(lumilink_connections) by (status)` would show: the real counts.
    expect(sum(all, 'lumilink_connections', { status: 'connected' })).toBe(2);
    expect(sum(all, 'lumilink_connections', { status: 'connecting' })).toBe(1);
    // Per-process counters add up over instances too.
    expect(sum(all, 'lumilink_heartbeats_total', { outcome: 'accepted' })).toBe(3);
    expect(sum(all, 'lumilink_heartbeats_total', { instance: 'web-2' })).toBe(2);
  });

  it("count every installation's connections, installations spread over a Cluster's masters included", async () => {
    // On a Redis Cluster these five installations' keys live in different slots (and masters):
    // one pipeline over all of them was refused there, and /metrics answered 503.
    const s = await service({ INSTANCE_ID: 'web-1' });
    for (const i of [1, 2, 3, 4, 5]) await connect(s, `k${i}`, `inst-k${i}`, `ws-k${i}`);
    const res = await scrape(s);
    expect(res.status).toBe(200);
    expect(sum(samples(res.text), 'lumilink_connections', { status: 'connected' })).toBe(5);
  });

  it('are handed over at once when the exporter shuts down', async () => {
    const a = await service({ INSTANCE_ID: 'web-1' });
    const b = await service({ INSTANCE_ID: 'web-2', KEY_PREFIX: a.prefix });
    await connect(a, 'c1');
    expect(sum(samples((await scrape(a)).text), 'lumilink_fleet_exporter')).toBe(1);
    expect(sum(samples((await scrape(b)).text), 'lumilink_fleet_exporter')).toBe(0);

    await a.stopKeepingKeys();
    started.splice(started.indexOf(a), 1);
    const after = samples((await scrape(b)).text);
    expect(sum(after, 'lumilink_fleet_exporter')).toBe(1);
    expect(sum(after, 'lumilink_connections', { status: 'connected' })).toBe(1);
  });

  it('are taken over when the exporter stops renewing its lease, and the old exporter then stops exporting', async () => {
    const a = await service({ INSTANCE_ID: 'web-1', METRICS_FLEET_LEASE_MS: '60000' });
    const b = await service({ INSTANCE_ID: 'web-2', KEY_PREFIX: a.prefix });
    expect(sum(samples((await scrape(a)).text), 'lumilink_fleet_exporter')).toBe(1);
    const ttl = await a.redis.pttl(leaseKey(a));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    // The exporter renews between scrapes (AppModule.poll, every third of the lease).
    expect(metricsModule.poll!.ms).toBe(10_000);
    await a.redis.pexpire(leaseKey(a), 5);
    await metricsModule.poll!.run(a.modules);
    expect(await a.redis.pttl(leaseKey(a))).toBeGreaterThan(50_000);

    // A stalled exporter: its lease runs out.
    await a.redis.pexpire(leaseKey(a), 0);
    expect(sum(samples((await scrape(b)).text), 'lumilink_fleet_exporter')).toBe(1);
    const back = samples((await scrape(a)).text);
    expect(sum(back, 'lumilink_fleet_exporter')).toBe(0);
    expect(back.some((x) => FLEET.includes(x.name))).toBe(false);
    expect(await metricsOf(a).holdFleetLease()).toBe(false);
  });
});
