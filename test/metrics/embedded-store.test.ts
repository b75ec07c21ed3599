/**
 * Metrics on the embedded store: the real service started as `npm start` starts it without
 * REDIS_URL or REDIS_CLUSTER_NODES (`start` connects the embedded in-process store itself), with
 * only the metrics module and a manual clock at T0, driven over HTTP. The envelope stream pages,
 * caps and trims as on Redis (test/metrics/envelopes.test.ts runs the same on Redis), and
 * `/metrics` exports the fleet-wide gauges.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { compareStreamIds } from '../../src/http/live-events.ts';
import { silentLogger } from '../../src/logger.ts';
import { start } from '../../src/main.ts';
import { metricsStreamKey } from '../../src/metrics/envelopes.ts';
import { metricsModule } from '../../src/metrics/module.ts';
import type { MetricsEnvelope } from '../../src/notifications/types.ts';
import { isEmbeddedStore } from '../../src/store/embedded.ts';
import { OPERATOR, T0, TOKEN_A, type TestService, testPrefix } from '../helpers.ts';
import { SEC, call, connect, metricsOf, scrape, settle, valueOf } from './support.ts';

const started: TestService[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.close();
});

/** The service on the embedded store, as a TestService for the helpers of ./support.ts. */
async function startEmbedded(env: Record<string, string> = {}): Promise<TestService> {
  const prefix = testPrefix('embedded');
  const clock = new ManualClock(T0);
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    OPERATOR_TOKENS: OPERATOR,
    API_TOKENS: JSON.stringify([{ token: TOKEN_A, installations: ['inst-a'] }]),
    ...env,
  });
  expect(config.redisUrl).toBeUndefined();
  const service = await start({
    config,
    clock,
    logger: silentLogger,
    background: false,
    modules: [metricsModule],
  });
  const redis = service.modules.redis;
  expect(isEmbeddedStore(redis)).toBe(true);
  let stopped = false;
  const close = async () => {
    if (stopped) return;
    stopped = true;
    // The embedded store lives as long as the test process: leave nothing behind in it.
    await service.store.deleteAllOwnKeys();
    await service.stop();
  };
  const s: TestService = {
    ...service,
    clock,
    prefix,
    redis,
    api: async (method, path, body, token = OPERATOR) => {
      const headers: Record<string, string> = { 'x-request-id': 'test-request' };
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${service.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    close,
    stopKeepingKeys: close,
  };
  started.push(s);
  return s;
}

/** An envelope as another module (capacity) sends it. */
function capacity(s: TestService, value: number): MetricsEnvelope {
  return {
    timestamp: new Date(s.clock.now()).toISOString(),
    installationId: 'inst-a',
    workspaceId: null,
    metricType: 'capacity-percent',
    value,
    thresholdBreached: false,
  };
}

async function page(s: TestService, query: string) {
  const res = await call(s, 'GET', `/v1/metrics/envelopes?installationId=inst-a&${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as {
    items: { id: string; metricType: string; value: number }[];
    nextCursor: string | null;
    hasMore: boolean;
  };
}

describe('GET /v1/metrics/envelopes on the embedded store', () => {
  it('pages with `after` as on Redis: <ms>-<seq> ids, strictly after the cursor, each envelope once', async () => {
    const s = await startEmbedded();
    const sink = metricsOf(s);
    const before = Date.now();
    // Ten in one tick (one millisecond or a few), a rollback-count written by a Lua script,
    // then eight one by one: 19 envelopes.
    const batch: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) batch.push(sink.emit(capacity(s, i)));
    await Promise.all(batch);
    await s.modules.events.emit('rollback', {
      eventId: 'ev-1',
      effectId: 'effect-ev-1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      kind: 'rollback',
      toast: { severity: 'error', title: 'Rolled back', body: 'ACP rolled back to HTTP' },
      transcriptNote: 'rolled back',
      at: T0,
    });
    for (let i = 10; i < 18; i++) await sink.emit(capacity(s, i));
    await settle(s);
    const after = Date.now();

    const pages = [];
    let cursor: string | null = null;
    for (;;) {
      const p = await page(s, `limit=5${cursor ? `&after=${cursor}` : ''}`);
      pages.push(p);
      if (p.items.length > 0) expect(p.nextCursor).toBe(p.items.at(-1)!.id);
      cursor = p.nextCursor;
      if (!p.hasMore) break;
      expect(pages.length).toBeLessThan(10);
    }
    expect(pages.map((p) => [p.items.length, p.hasMore])).toEqual([
      [5, true],
      [5, true],
      [5, true],
      [4, false],
    ]);
    const items = pages.flatMap((p) => p.items);
    expect(items.map((e) => (e.metricType === 'rollback-count' ? 'rollback' : e.value))).toEqual([
      ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      'rollback',
      ...[10, 11, 12, 13, 14, 15, 16, 17],
    ]);
    const ids = items.map((e) => e.id);
    for (const id of ids) {
      // The form Redis gives: <ms>-<seq>, ms from the store's clock (not `1-0, 2-0, ...`).
      expect(id).toMatch(/^\d+-\d+$/);
      const ms = Number(id.split('-')[0]);
      expect(ms).toBeGreaterThanOrEqual(before - 1000);
      expect(ms).toBeLessThanOrEqual(after + 1000);
    }
    for (let i = 1; i < ids.length; i++)
      expect(compareStreamIds(ids[i - 1]!, ids[i]!)).toBeLessThan(0);

    // `after` is exclusive, and any id works as a cursor.
    expect((await page(s, `limit=5&after=${ids[2]}`)).items.map((e) => e.id)).toEqual(
      ids.slice(3, 8),
    );
    expect((await page(s, 'limit=5&after=0-0')).items.map((e) => e.id)).toEqual(ids.slice(0, 5));
    expect((await page(s, 'limit=5&after=2-0')).items.map((e) => e.id)).toEqual(ids.slice(0, 5));
    expect(await page(s, `limit=5&after=${ids.at(-1)}`)).toEqual({
      installationId: 'inst-a',
      items: [],
      nextCursor: ids.at(-1),
      hasMore: false,
    });
  });

  it('keeps the newest METRICS_STREAM_MAXLEN envelopes with ids that never repeat', async () => {
    const s = await startEmbedded({ METRICS_STREAM_MAXLEN: '100' });
    const sink = metricsOf(s);
    // 250 envelopes, 50 a tick: past 2 × MAXLEN, where the mock's own XADD fails for good.
    for (let tick = 0; tick < 5; tick++) {
      const batch: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) batch.push(sink.emit(capacity(s, tick * 50 + i)));
      await Promise.all(batch);
    }
    const walked = [];
    let cursor: string | null = null;
    do {
      const p = await page(s, `limit=30${cursor ? `&after=${cursor}` : ''}`);
      walked.push(...p.items);
      cursor = p.hasMore ? p.nextCursor : null;
    } while (cursor);
    expect(walked.map((e) => e.value)).toEqual(Array.from({ length: 100 }, (_, i) => 150 + i));
    expect(new Set(walked.map((e) => e.id)).size).toBe(100);
    const text = (await scrape(s)).text;
    expect(valueOf(text, 'lumilink_metric_envelopes_total', { result: 'written' })).toBe(250);
    expect(valueOf(text, 'lumilink_metric_envelopes_total', { result: 'failed' })).toBeUndefined();
  });

  it('trims the stream by age (XTRIM MINID) as on Redis', async () => {
    const s = await startEmbedded({ METRICS_RETENTION_MS: '60000' });
    const key = metricsStreamKey(s.store.keys, 'inst-a');
    // 300 entries from long ago (ids in 1970), then a fresh envelope.
    for (let i = 1; i <= 300; i++) await s.redis.xadd(key, `${i}-0`, 'envelope', '{}');
    await metricsOf(s).emit(capacity(s, 1));
    await settle(s);
    const all = await s.redis.xrange(key, '-', '+');
    expect(all).toHaveLength(1);
    expect(all[0]![1]).toEqual(['envelope', expect.stringContaining('capacity-percent')]);
  });
});

describe('GET /metrics on the embedded store', () => {
  it('exports the fleet-wide gauges, outbox lag and entries included, with their values', async () => {
    const s = await startEmbedded();
    const empty = (await scrape(s)).text;
    expect(valueOf(empty, 'lumilink_fleet_exporter')).toBe(1);
    expect(valueOf(empty, 'lumilink_outbox_lag_seconds')).toBe(0);
    expect(valueOf(empty, 'lumilink_outbox_entries')).toBe(0);

    let transportUp = false;
    s.engine.registerEffect('scheduleTransportChange', () => {
      if (!transportUp) throw new Error('transport down');
    });
    await connect(s, 'c1');
    await call(s, 'POST', '/v1/connections/c1/rollback', { reason: 'test' });
    s.clock.advance(s.config.effects.baseDelayMs - SEC);
    const waiting = (await scrape(s)).text;
    expect(valueOf(waiting, 'lumilink_outbox_lag_seconds')).toBe(0);
    expect(valueOf(waiting, 'lumilink_outbox_entries')).toBe(1);
    expect(
      valueOf(waiting, 'lumilink_connections', { status: 'rolled-back', protocol: 'http' }),
    ).toBe(1);
    s.clock.advance(8 * SEC);
    const lagging = (await scrape(s)).text;
    expect(valueOf(lagging, 'lumilink_outbox_lag_seconds')).toBe(7);
    expect(valueOf(lagging, 'lumilink_outbox_entries')).toBe(1);

    transportUp = true;
    expect(await s.engine.reapOutbox()).toBe(1);
    const drained = (await scrape(s)).text;
    expect(valueOf(drained, 'lumilink_outbox_lag_seconds')).toBe(0);
    expect(valueOf(drained, 'lumilink_outbox_entries')).toBe(0);
  });
});
