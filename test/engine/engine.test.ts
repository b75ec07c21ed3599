import { spawn } from 'node:child_process';
import type { RedisClient as Redis } from '../../src/store/client.ts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { DEFAULT_CONNECTION_THRESHOLDS as D } from '../../machines/connection.machine.ts';
import {
  CONNECTION,
  ConnectionService,
  type SnapshotFormat,
  connectionBinding,
} from '../../src/connections/connections.ts';
import { type Effect, Engine, requestKey } from '../../src/engine/engine.ts';
import { silentLogger } from '../../src/logger.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { T0, realRedis, testPrefix } from '../helpers.ts';

const operator = { installations: null };

/** One engine "process": its own Redis connection, cache and clock, sharing the prefix. */
function engineOn(
  prefix: string,
  clock: ManualClock,
  effects: Record<string, (e: Effect) => void> = {},
  hotSnapshots?: number,
  snapshots: SnapshotFormat = 'compact',
) {
  const redis = realRedis();
  const store = new RedisStore(redis, prefix);
  const engine = new Engine({
    store,
    clock,
    logger: silentLogger,
    charts: [connectionBinding(D, snapshots)],
    effects,
    outboxLeaseMs: 1000,
    ...(hotSnapshots !== undefined ? { hotSnapshots } : {}),
  });
  const connections = new ConnectionService(engine, clock, D);
  return { redis, store, engine, connections };
}

describe('Engine on real Redis', () => {
  let prefix: string;
  let clock: ManualClock;
  const opened: Redis[] = [];
  const open = (effects?: Record<string, (e: Effect) => void>) => {
    const e = engineOn(prefix, clock, effects);
    opened.push(e.redis);
    return e;
  };

  beforeEach(() => {
    prefix = testPrefix('engine');
    clock = new ManualClock(T0);
  });
  afterEach(async () => {
    const { store } = open();
    await store.deleteAllOwnKeys();
    for (const r of opened.splice(0)) r.disconnect();
  });

  async function connected(svc: ConnectionService, ids: string[]) {
    for (const connectionId of ids) {
      await svc.register(operator, { connectionId, installationId: 'inst-a', workspaceId: 'ws-1' });
      await svc.command(operator, connectionId, {
        type: 'HANDSHAKE',
        protocolVersion: '1.0.0',
        negotiatedCapabilities: [],
      });
    }
  }

  it('loses no update when two engines interleave heartbeats to the same connections', async () => {
    const a = open();
    const b = open();
    const ids = ['c1', 'c2', 'c3'];
    await connected(a.connections, ids);
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const svc = i % 2 === 0 ? a.connections : b.connections;
      const id = ids[i % ids.length]!;
      sends.push(
        svc.heartbeat(operator, id, {
          timestamp: T0 + i,
          succeeded: 1,
          failed: i % 7 === 0 ? 1 : 0,
          latencyMs: [5],
        }),
      );
    }
    await Promise.all(sends);
    let ok = 0;
    let ko = 0;
    for (const id of ids) {
      const found = await a.engine.read({ kind: CONNECTION, installationId: 'inst-a', id });
      const window = (found!.state.context as any).window;
      ok += window.okTotal;
      ko += window.koTotal;
    }
    expect(ok).toBe(300);
    expect(ko).toBe(Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 7 === 0).length);
    expect(a.engine.stats.conflicts + b.engine.stats.conflicts).toBeGreaterThan(0);
  });

  it('reads an actor another process writes after one conflict, instead of planning on a stale snapshot every time', async () => {
    const a = open();
    const b = open();
    await connected(a.connections, ['c1']);
    // Round robin: each heartbeat goes to the other process, whose cached snapshot is behind.
    for (let i = 0; i < 20; i++) {
      const svc = i % 2 === 0 ? b.connections : a.connections;
      await svc.heartbeat(operator, 'c1', {
        timestamp: T0 + i,
        succeeded: 1,
        failed: 0,
        latencyMs: [5],
      });
    }
    const found = await a.engine.read({ kind: CONNECTION, installationId: 'inst-a', id: 'c1' });
    expect((found!.state.context as any).window.okTotal).toBe(20);
    // Each process conflicts once on c1 and once on its workspace (which every heartbeat
    // reports to), then reads them first: without this, nearly every heartbeat conflicted.
    expect(a.engine.stats.conflicts).toBeLessThanOrEqual(2);
    expect(b.engine.stats.conflicts).toBeLessThanOrEqual(2);
  });

  it('applies concurrent events for one actor in one process without conflicts or losses', async () => {
    const a = open();
    await connected(a.connections, ['c1']);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        a.connections.heartbeat(operator, 'c1', {
          timestamp: T0 + i,
          succeeded: 1,
          failed: 0,
          latencyMs: [],
        }),
      ),
    );
    const rec = await a.connections.get(operator, 'c1');
    expect(rec.sampleSize).toBe(200);
    expect(a.engine.stats.conflicts).toBe(0);
    // 200 events were coalesced into far fewer commits.
    expect(a.engine.stats.commits).toBeLessThan(200);
  });

  it('fires a delayed transition after the clock passes its due time, and not before', async () => {
    const a = open();
    await connected(a.connections, ['c1']);
    clock.advance(D.heartbeatTimeoutMs - 1);
    expect(await a.engine.fireDueTimers()).toBe(0);
    expect((await a.connections.get(operator, 'c1')).status).toBe('connected');
    clock.advance(1);
    expect(await a.engine.fireDueTimers()).toBe(1);
    const rec = await a.connections.get(operator, 'c1');
    expect(rec.status).toBe('error');
    expect(rec.lastError?.code).toBe('heartbeat-timeout');
  });

  it('cancels the timer of a state that was left, and restarts it on each heartbeat', async () => {
    const a = open();
    await connected(a.connections, ['c1']);
    clock.advance(60_000);
    await a.connections.heartbeat(operator, 'c1', {
      timestamp: clock.now(),
      succeeded: 1,
      failed: 0,
      latencyMs: [],
    });
    clock.advance(60_000);
    expect(await a.engine.fireDueTimers()).toBe(0);
    await a.connections.command(operator, 'c1', { type: 'ROLLBACK', reason: 'test' });
    expect(
      await a.store.timersOf({ kind: CONNECTION, installationId: 'inst-a', id: 'c1' }),
    ).toEqual([]);
  });

  it('fires a timer once when two engines poll at the same time', async () => {
    const a = open();
    const b = open();
    await connected(a.connections, ['c1', 'c2', 'c3']);
    clock.advance(D.heartbeatTimeoutMs);
    const [fa, fb] = await Promise.all([a.engine.fireDueTimers(), b.engine.fireDueTimers()]);
    expect(fa + fb).toBe(3);
    for (const id of ['c1', 'c2', 'c3']) {
      const rec = await a.connections.get(operator, id);
      expect(rec.status).toBe('error');
      expect(rec.diagnostics.filter((d) => d.cause === 'heartbeat-timeout')).toHaveLength(1);
    }
    // The backoff timer that error scheduled is the only one left, once per connection.
    expect(await a.store.dueTimers('inst-a', Number.MAX_SAFE_INTEGER, 100)).toHaveLength(3);
  });

  it('still fires a timer after the process that scheduled it was killed', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/engine-child.ts', prefix, 'c-killed', String(T0)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: process.env,
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const restarted = open();
    expect((await restarted.connections.get(operator, 'c-killed')).status).toBe('connected');
    clock.advance(D.heartbeatTimeoutMs);
    expect(await restarted.engine.fireDueTimers()).toBe(1);
    expect((await restarted.connections.get(operator, 'c-killed')).status).toBe('error');
  }, 30_000);

  it('runs effects after commit and reruns failed ones after their backoff (at least once)', async () => {
    let fail = true;
    const seen: Effect[] = [];
    const a = open({
      requestReconnect: (e) => {
        seen.push(e);
        if (fail) throw new Error('transport down');
      },
    });
    await connected(a.connections, ['c1']);
    await a.connections.command(operator, 'c1', { type: 'DROPPED' });
    clock.advance(D.reconnectBaseDelayMs);
    expect(await a.engine.fireDueTimers()).toBe(1);
    await a.engine.idle();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      type: 'requestReconnect',
      actorId: 'c1',
      params: { connectionId: 'c1', attempt: 1 },
    });
    const outbox = a.store.effectQueue({ maxAttempts: 10, baseDelayMs: 5000, leaseMs: 1000 });
    expect(await outbox.size('inst-a')).toBe(1);

    // Not yet: the failed effect waits for its backoff (EFFECT_RETRY_BASE_DELAY_MS, 5 s).
    clock.advance(4999);
    expect(await a.engine.reapOutbox()).toBe(0);
    fail = false;
    clock.advance(1);
    const b = open({ requestReconnect: (e) => void seen.push(e) });
    expect(await b.engine.reapOutbox()).toBe(1);
    expect(seen.map((e) => e.id)).toEqual([seen[0]!.id, seen[0]!.id]);
    expect(await outbox.size('inst-a')).toBe(0);
  });

  it('reruns an effect whose writer stopped mid-run once its lease expired, and ignores its late outcome', async () => {
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const seen: Effect[] = [];
    const a = open({ requestReconnect: (e) => void seen.push(e) });
    a.engine.registerEffect('requestReconnect', async (e) => {
      seen.push(e);
      await stuck; // the writer "crashes": it never reports while the test runs
    });
    await connected(a.connections, ['c1']);
    await a.connections.command(operator, 'c1', { type: 'DROPPED' });
    clock.advance(D.reconnectBaseDelayMs);
    expect(await a.engine.fireDueTimers()).toBe(1);
    while (seen.length === 0) await new Promise((r) => setImmediate(r));

    const b = open({ requestReconnect: (e) => void seen.push(e) });
    clock.advance(999);
    expect(await b.engine.reapOutbox()).toBe(0); // still the writer's lease (1 s)
    clock.advance(1);
    expect(await b.engine.reapOutbox()).toBe(1);
    expect(seen.map((e) => e.id)).toEqual([seen[0]!.id, seen[0]!.id]);
    const outbox = b.store.effectQueue({ maxAttempts: 10, baseDelayMs: 5000, leaseMs: 1000 });
    expect(await outbox.size('inst-a')).toBe(0);

    release();
    await a.engine.idle();
    clock.advance(60_000);
    expect(await b.engine.reapOutbox()).toBe(0);
    expect(seen).toHaveLength(2);
  });

  it('keeps the status index exact as connections change state', async () => {
    const a = open();
    await connected(a.connections, ['c1', 'c2']);
    await a.connections.command(operator, 'c2', { type: 'DROPPED' });
    expect(await a.store.indexPage('inst-a', 'connection:status:connected', null, 10)).toEqual([
      'c1',
    ]);
    expect(await a.store.indexPage('inst-a', 'connection:status:error', null, 10)).toEqual(['c2']);
    // Every connection is in one status index: their union lists them all, no third index.
    const statuses = ['connection:status:connected', 'connection:status:error'];
    expect(await a.store.indexPage('inst-a', statuses, null, 10)).toEqual(['c1', 'c2']);
    expect(await a.store.indexSize('inst-a', 'connection:all')).toBe(0);
  });

  it('stores a connection snapshot compact, and reads one an earlier version stored as JSON', async () => {
    const a = open();
    await connected(a.connections, ['c1']);
    const ref = { kind: CONNECTION, installationId: 'inst-a', id: 'c1' };
    const key = a.store.actorKey(ref);
    const compact = (await a.redis.hget(key, 's'))!;
    expect(compact.startsWith('["connected","c1","inst-a","ws-1",')).toBe(true);
    // What an earlier version wrote: the same state as JSON of {value, context}.
    const before = (await a.engine.read(ref))!;
    await a.redis.hset(key, 's', JSON.stringify(before.state));
    const b = open(); // a fresh process: nothing cached
    expect(await b.engine.read(ref)).toEqual(before);
    const ack = await b.connections.heartbeat(operator, 'c1', {
      timestamp: T0,
      succeeded: 5,
      failed: 0,
      latencyMs: [],
    });
    expect(ack.sampleSize).toBe(5);
    expect((await a.redis.hget(key, 's'))!.startsWith('["connected","c1",')).toBe(true);
    expect(JSON.parse((await a.redis.hget(key, 's'))!).length).toBe(17);
  });

  it('SNAPSHOT_FORMAT=json writes JSON and reads compact: a fleet upgrading in two steps', async () => {
    const compact = open(); // an upgraded process
    const json = engineOn(prefix, clock, {}, undefined, 'json'); // one started with json
    opened.push(json.redis);
    const ref = { kind: CONNECTION, installationId: 'inst-a', id: 'c1' };
    const stored = async () => (await compact.redis.hget(compact.store.actorKey(ref), 's'))!;
    await connected(compact.connections, ['c1']);
    expect((await stored()).startsWith('[')).toBe(true);
    const hb = (at: number) => ({ timestamp: at, succeeded: 5, failed: 0, latencyMs: [] });
    expect((await json.connections.heartbeat(operator, 'c1', hb(T0))).sampleSize).toBe(5);
    // What a process of an earlier version reads: JSON of {value, context}.
    expect(JSON.parse(await stored())).toMatchObject({
      value: 'connected',
      context: { connectionId: 'c1' },
    });
    expect((await compact.connections.heartbeat(operator, 'c1', hb(T0 + 1))).sampleSize).toBe(10);
    expect((await stored()).startsWith('[')).toBe(true);
  });

  it('serves snapshots kept as text beyond the hot ones without reading the store', async () => {
    const a = engineOn(prefix, clock, {}, 1);
    opened.push(a.redis);
    await connected(a.connections, ['c1', 'c2', 'c3']);
    const loads = vi.spyOn(a.store, 'load');
    const loadMany = vi.spyOn(a.store, 'loadMany');
    for (let round = 1; round <= 3; round++) {
      for (const id of ['c1', 'c2', 'c3']) {
        const hb = { timestamp: T0 + round, succeeded: 10, failed: 0, latencyMs: [] };
        expect((await a.connections.heartbeat(operator, id, hb)).sampleSize).toBe(10 * round);
      }
    }
    expect(loads).not.toHaveBeenCalled();
    expect(loadMany).not.toHaveBeenCalled();
    expect(a.engine.stats.conflicts).toBe(0);
  });

  it('rejects an event the current state does not accept and writes nothing', async () => {
    const a = open();
    await a.connections.register(operator, {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    await expect(
      a.connections.command(operator, 'c1', { type: 'RECOVERED' }),
    ).rejects.toMatchObject({ code: 'invalid-transition' });
    expect((await a.connections.get(operator, 'c1')).version).toBe(1);
  });

  it('refuses a request id sent with another body: in one batch, and in the commit of another process', async () => {
    const a = open();
    const b = open();
    await connected(a.connections, ['c1']);
    const ref = { kind: CONNECTION, installationId: 'inst-a', id: 'c1' };
    const beat = (n: number) =>
      a.connections.heartbeatEvent({ timestamp: T0 + n, succeeded: n, failed: 0, latencyMs: [] });
    // Sent together (one batch, or the later two after the first commit): the first applies,
    // the same id with another body is refused, with the same body answered as a repeat.
    const [first, other, same] = await Promise.allSettled([
      a.engine.send(ref, beat(1), { requestId: requestKey('BEAT', 'x', { n: 1 }) }),
      a.engine.send(ref, beat(2), { requestId: requestKey('BEAT', 'x', { n: 2 }) }),
      a.engine.send(ref, beat(1), { requestId: requestKey('BEAT', 'x', { n: 1 }) }),
    ]);
    expect(first).toMatchObject({ status: 'fulfilled', value: { changed: true } });
    expect(other).toMatchObject({ status: 'rejected', reason: { code: 'request-id-reused' } });
    expect(same).toMatchObject({ status: 'fulfilled', value: { duplicate: true } });
    // Another process plans it on its own snapshot, which accepts it: the commit refuses it.
    const version = (await b.engine.read(ref))!.version;
    await expect(
      b.engine.send(ref, beat(3), { requestId: requestKey('BEAT', 'x', { n: 3 }) }),
    ).rejects.toMatchObject({ code: 'request-id-reused', details: { field: 'requestId' } });
    expect((await a.engine.read(ref))!.version).toBe(version);
    expect(
      (await b.engine.send(ref, beat(1), { requestId: requestKey('BEAT', 'x', { n: 1 }) }))
        .duplicate,
    ).toBe(true);
  });
});
