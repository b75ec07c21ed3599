/**
 * Streams on the embedded store (ioredis-mock, what `npm start` runs without REDIS_URL) behave
 * as on Redis: the same commands give the same answers on both, cursors move strictly after an
 * id, ids are `<ms>-<seq>` and never repeat, also when written by the Lua scripts.
 */
import RedisMock from 'ioredis-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareStreamIds, nextStreamId } from '../../src/http/live-events.ts';
import type { RedisClient } from '../../src/store/client.ts';
import { adaptEmbeddedStore, isEmbeddedStore } from '../../src/store/embedded.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { commands } from '../../src/store/scripts.ts';
import { realRedis, testPrefix } from '../helpers.ts';

const backends: [string, () => RedisClient][] = [
  ['real Redis', () => realRedis()],
  ['embedded store', () => new RedisMock()],
];

const ID = /^\d+-\d+$/;

/** Every id strictly after the one before it. */
function expectIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    expect(compareStreamIds(ids[i - 1]!, ids[i]!), `${ids[i - 1]} < ${ids[i]}`).toBeLessThan(0);
  }
}

/** What a command answers, or the error it fails with (the same text on both stores). */
async function outcome(run: () => Promise<unknown>): Promise<unknown> {
  try {
    return await run();
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe.each(backends)('streams on %s', (_name, connect) => {
  let redis: RedisClient;
  let store: RedisStore;
  let key: string;

  beforeEach(() => {
    redis = connect();
    // The store adapts the embedded client (as `start` does); nothing for a real one.
    store = new RedisStore(redis, testPrefix('streams'));
    key = `${store.keys.prefix}:{s}:stream`;
  });
  afterEach(async () => {
    await store.deleteAllOwnKeys();
    redis.disconnect();
  });

  it('ranges by id as numbers, with incomplete ids, exclusive bounds and COUNT', async () => {
    for (const id of ['5-1', '5-3', '7-0', '10-0', '10-2', '123-0'])
      await redis.xadd(key, id, 'f', id);
    const ids = async (p: Promise<[string, string[]][]>) => (await p).map(([id]) => id);
    // `(id` starts strictly after id, as a cursor does.
    expect(await ids(redis.xrange(key, '(5-3', '+'))).toEqual(['7-0', '10-0', '10-2', '123-0']);
    expect(await ids(redis.xrange(key, nextStreamId('5-3')!, '+'))).toEqual([
      '7-0',
      '10-0',
      '10-2',
      '123-0',
    ]);
    expect(await ids(redis.xrange(key, '(0-0', '+', 'COUNT', 2))).toEqual(['5-1', '5-3']);
    expect(await ids(redis.xrange(key, '(123-0', '+'))).toEqual([]);
    // Numbers, not strings: 10 and 123 come after 7.
    expect(await ids(redis.xrange(key, '7', '+'))).toEqual(['7-0', '10-0', '10-2', '123-0']);
    expect(await ids(redis.xrange(key, '5', '5'))).toEqual(['5-1', '5-3']);
    expect(await ids(redis.xrange(key, '(5', '(10-2'))).toEqual(['5-1', '5-3', '7-0', '10-0']);
    expect(await redis.xrange(key, '-', '+', 'COUNT', 0)).toBeNull();
    expect(await redis.xrange(`${key}:none`, '-', '+', 'COUNT', 0)).toEqual([]);
    expect(await ids(redis.xrange(key, '+', '-'))).toEqual([]);
    expect(await ids(redis.xrevrange(key, '+', '(7-0'))).toEqual(['123-0', '10-2', '10-0']);
    expect(await ids(redis.xrevrange(key, '(10-2', '-', 'COUNT', 2))).toEqual(['10-0', '7-0']);
    // An incomplete end id is its last possible id: `(10` still takes 10-2.
    expect(await ids(redis.xrevrange(key, '(10', '-', 'COUNT', 2))).toEqual(['10-2', '10-0']);
    expect(await redis.xrange(key, '10-2', '10-2')).toEqual([['10-2', ['f', '10-2']]]);
  });

  it('answers bad ids and arguments with the errors of Redis', async () => {
    await redis.xadd(key, '5-1', 'f', 'v');
    const results = [
      await outcome(() => redis.xadd(key, '5-1', 'f', 'v')),
      await outcome(() => redis.xadd(key, '4-9', 'f', 'v')),
      await outcome(() => redis.xrange(key, '(-', '+')),
      await outcome(() => redis.xrange(key, 'abc', '+')),
      await outcome(() => redis.xrange(key, '(18446744073709551615-18446744073709551615', '+')),
      await outcome(() => redis.xrange(key, '-', '+', 'COUNT', 'x')),
    ];
    expect(results).toEqual([
      { error: 'ERR The ID specified in XADD is equal or smaller than the target stream top item' },
      { error: 'ERR The ID specified in XADD is equal or smaller than the target stream top item' },
      { error: 'ERR Invalid stream ID specified as stream command argument' },
      { error: 'ERR Invalid stream ID specified as stream command argument' },
      { error: 'ERR invalid start ID for the interval' },
      { error: 'ERR value is not an integer or out of range' },
    ]);
    await redis.set(`${store.keys.prefix}:{s}:string`, 'v');
    expect(
      await outcome(() => redis.xadd(`${store.keys.prefix}:{s}:string`, '*', 'f', 'v')),
    ).toEqual({ error: 'WRONGTYPE Operation against a key holding the wrong kind of value' });
  });

  it('gives `<ms>-<seq>` ids from the clock that never repeat, also past MAXLEN', async () => {
    const before = Date.now();
    const ids: string[] = [];
    // Many in one go: entries of one millisecond count up their sequence number.
    const pipeline = redis.pipeline();
    for (let i = 0; i < 50; i++) pipeline.xadd(key, 'MAXLEN', '~', 10, '*', 'i', String(i));
    for (const [error, id] of (await pipeline.exec()) ?? []) {
      expect(error).toBeNull();
      ids.push(id as string);
    }
    for (let i = 50; i < 80; i++)
      ids.push((await redis.xadd(key, 'MAXLEN', 10, '*', 'i', `${i}`))!);
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(ID);
      const ms = Number(id.split('-')[0]);
      expect(ms).toBeGreaterThanOrEqual(before - 1000);
      expect(ms).toBeLessThanOrEqual(after + 1000);
    }
    expectIncreasing(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const kept = await redis.xrange(key, '-', '+');
    expect(kept.map(([id]) => id)).toEqual(ids.slice(-10));
    expect(kept.map(([, f]) => f[1])).toEqual(ids.slice(-10).map((_, i) => String(70 + i)));
  });

  it('trims by MINID and MAXLEN (XTRIM)', async () => {
    for (let i = 1; i <= 8; i++) await redis.xadd(key, `${i}-0`, 'f', `${i}`);
    expect(await redis.xtrim(key, 'MINID', 4)).toBe(3);
    expect(await redis.xtrim(key, 'MINID', '4-0')).toBe(0);
    expect(await redis.xtrim(key, 'MAXLEN', 2)).toBe(3);
    expect((await redis.xrange(key, '-', '+')).map(([id]) => id)).toEqual(['7-0', '8-0']);
    expect(await redis.xlen(key)).toBe(2);
    // An emptied stream is still there, and still refuses older ids.
    expect(await redis.xtrim(key, 'MAXLEN', 0)).toBe(2);
    expect(await redis.exists(key)).toBe(1);
    expect(await redis.xtrim(`${key}:none`, 'MAXLEN', 0)).toBe(0);
  });

  it('gives Lua scripts the same ids and entries: live events linked to the one before', async () => {
    const live = `${store.keys.prefix}:{inst-a}:live:toasts`;
    const ids: string[] = [];
    // Exact MAXLEN 3: the stream is trimmed from the fourth event on; ids keep increasing.
    for (let i = 0; i < 10; i++) {
      ids.push(
        await commands.appendLiveEvent(redis, [live], [3, `${store.keys.prefix}:c`, `e${i}`]),
      );
    }
    for (const id of ids) expect(id).toMatch(ID);
    expectIncreasing(ids);
    const entries = await redis.xrange(live, '-', '+');
    expect(entries).toEqual([
      [ids[7], ['p', ids[6], 'd', 'e7']],
      [ids[8], ['p', ids[7], 'd', 'e8']],
      [ids[9], ['p', ids[8], 'd', 'e9']],
    ]);
    // The notify script (sent by EVALSHA) appends its toast the same way.
    const toasts = `${store.keys.prefix}:{inst-a}:live:notify`;
    const notified: string[] = [];
    for (let i = 0; i < 6; i++) {
      const requests = `${store.keys.prefix}:{inst-a}:notify:requests`;
      const request = `${store.keys.prefix}:{inst-a}:notify:request:r${i}`;
      const sources = `${store.keys.prefix}:{inst-a}:notify:source:s${i}`;
      const queue = store.keys.jobQueue('inst-a', 'notify');
      expect(
        await commands.notify(
          redis,
          [requests, request, sources, toasts, queue.due, queue.data],
          [`r${i}`, '{}', `${store.keys.prefix}:c`, `t${i}`, 2, 60_000, 0],
        ),
      ).toBeNull();
      const newest = await redis.xrevrange(toasts, '+', '-', 'COUNT', 1);
      notified.push(newest[0]![0]);
    }
    expectIncreasing(notified);
    expect(await redis.xrange(toasts, '-', '+')).toEqual([
      [notified[4], ['p', notified[3], 'd', 't4']],
      [notified[5], ['p', notified[4], 'd', 't5']],
    ]);

    // A script's entry and the client's interleave in id order.
    const metrics = `${store.keys.prefix}:{inst-a}:metrics`;
    const first = await redis.xadd(metrics, '*', 'envelope', '1');
    const seen = `${store.keys.prefix}:{inst-a}:metrics-seen:rollback:e1`;
    const rollback = await commands.addMetricOnce(
      redis,
      [seen, metrics],
      [60_000, 100, 'envelope', '2'],
    );
    const last = await redis.xadd(metrics, '*', 'envelope', '3');
    expect(rollback).toMatch(ID);
    expectIncreasing([first!, rollback!, last!]);
    expect((await redis.xrange(metrics, `(${first}`, '+')).map(([id]) => id)).toEqual([
      rollback,
      last,
    ]);
  });
});

describe('the embedded store', () => {
  it('is told apart from a client of a server, which is left as it is', () => {
    const real = realRedis();
    try {
      expect(isEmbeddedStore(real)).toBe(false);
      // Nothing is added to or replaced on a client of a server.
      const before = Object.getOwnPropertyNames(real);
      adaptEmbeddedStore(real);
      expect(Object.getOwnPropertyNames(real)).toEqual(before);
    } finally {
      real.disconnect();
    }
    expect(isEmbeddedStore(new RedisMock())).toBe(true);
  });
});
