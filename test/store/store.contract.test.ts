import RedisMock from 'ioredis-mock';
import type { RedisClient as Redis } from '../../src/store/client.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ActorCommit, type ActorRef, RedisStore } from '../../src/store/redis-store.ts';
import { timerMember } from '../../src/store/keys.ts';
import { dataNodes } from '../../src/store/client.ts';
import { realRedis, testPrefix } from '../helpers.ts';

/** The same contract, run against the real server and the embedded store used by `npm start`. */
const backends: [string, () => Redis][] = [
  ['real Redis', () => realRedis()],
  ['embedded ioredis-mock', () => new RedisMock()],
];

const ref: ActorRef = { kind: 'connection', installationId: 'inst-a', id: 'c1' };
const POLICY = { maxAttempts: 5, baseDelayMs: 1000, leaseMs: 4000 };

function commit(partial: Partial<ActorCommit> = {}): ActorCommit {
  return {
    ref,
    expectedVersion: 0,
    snapshot: '{"value":"a"}',
    timers: [],
    outbox: [],
    indexes: [],
    ...partial,
  };
}

describe.each(backends)('RedisStore contract on %s', (_name, connect) => {
  let redis: Redis;
  let store: RedisStore;

  beforeEach(() => {
    redis = connect();
    store = new RedisStore(redis, testPrefix('store'));
  });
  afterEach(async () => {
    await store.deleteAllOwnKeys();
    redis.disconnect();
  });

  it('creates an actor at version 1 and refuses to create it twice', async () => {
    expect(await store.commit('inst-a', [commit()])).toEqual([{ status: 'committed', version: 1 }]);
    expect(await store.load(ref)).toEqual({ version: 1, snapshot: '{"value":"a"}' });
    const [again] = await store.commit('inst-a', [commit({ snapshot: '{"value":"b"}' })]);
    expect(again).toEqual({
      status: 'conflict',
      current: { version: 1, snapshot: '{"value":"a"}' },
    });
  });

  it('compare-and-sets on the version and returns the current snapshot on conflict', async () => {
    await store.commit('inst-a', [commit()]);
    expect(
      await store.commit('inst-a', [commit({ expectedVersion: 1, snapshot: '{"value":"b"}' })]),
    ).toEqual([{ status: 'committed', version: 2 }]);
    const [stale] = await store.commit('inst-a', [
      commit({ expectedVersion: 1, snapshot: '{"value":"c"}' }),
    ]);
    expect(stale).toEqual({
      status: 'conflict',
      current: { version: 2, snapshot: '{"value":"b"}' },
    });
    expect((await store.load(ref))!.snapshot).toBe('{"value":"b"}');
  });

  it('writes nothing of a conflicting commit: no timers, outbox entries or index changes', async () => {
    await store.commit('inst-a', [commit()]);
    await store.commit('inst-a', [
      commit({
        expectedVersion: 5,
        timers: [
          { op: 'schedule', member: timerMember('connection', 'c1', 't'), due: 10, event: '' },
        ],
        outbox: [{ id: 'o1', leaseUntil: 0, json: '{}' }],
        indexes: [{ op: 'add', index: 'connection:all', member: 'c1' }],
      }),
    ]);
    expect(await store.dueTimers('inst-a', 1e15, 10)).toEqual([]);
    expect(await store.effectQueue(POLICY).size('inst-a')).toBe(0);
    expect(await store.indexPage('inst-a', 'connection:all', null, 10)).toEqual([]);
  });

  it('schedules, reschedules and cancels durable timers with the snapshot', async () => {
    const member = timerMember('connection', 'c1', 'xstate.after.x.connection.connected');
    await store.commit('inst-a', [
      commit({ timers: [{ op: 'schedule', member, due: 100, event: '' }] }),
    ]);
    expect(await store.dueTimers('inst-a', 99, 10)).toEqual([]);
    expect(await store.dueTimers('inst-a', 100, 10)).toEqual([
      {
        member,
        kind: 'connection',
        actorId: 'c1',
        sendId: 'xstate.after.x.connection.connected',
        due: 100,
        event: null,
      },
    ]);
    await store.commit('inst-a', [
      commit({
        expectedVersion: 1,
        timers: [{ op: 'schedule', member, due: 500, event: '{"type":"X"}' }],
      }),
    ]);
    expect((await store.dueTimers('inst-a', 1000, 10))[0]).toMatchObject({
      due: 500,
      event: '{"type":"X"}',
    });
    expect(await store.timersOf(ref)).toEqual([
      { sendId: 'xstate.after.x.connection.connected', due: 500 },
    ]);
    await store.commit('inst-a', [
      commit({ expectedVersion: 2, timers: [{ op: 'cancel', member }] }),
    ]);
    expect(await store.dueTimers('inst-a', 1e15, 10)).toEqual([]);
  });

  it('consumes a timer once: a second consume of the same timer reports it gone', async () => {
    const member = timerMember('connection', 'c1', 't');
    await store.commit('inst-a', [
      commit({ timers: [{ op: 'schedule', member, due: 100, event: '' }] }),
    ]);
    const consume = (v: number) =>
      commit({ expectedVersion: v, timers: [{ op: 'consume', member, due: 100 }] });
    expect(await store.commit('inst-a', [consume(1)])).toEqual([
      { status: 'committed', version: 2 },
    ]);
    expect(await store.commit('inst-a', [consume(2)])).toEqual([
      { status: 'timer-gone', version: 2 },
    ]);
    expect((await store.load(ref))!.version).toBe(2);
  });

  it('refuses to consume a timer that was rescheduled to another due time', async () => {
    const member = timerMember('connection', 'c1', 't');
    await store.commit('inst-a', [
      commit({ timers: [{ op: 'schedule', member, due: 100, event: '' }] }),
    ]);
    await store.commit('inst-a', [
      commit({ expectedVersion: 1, timers: [{ op: 'schedule', member, due: 200, event: '' }] }),
    ]);
    const [r] = await store.commit('inst-a', [
      commit({ expectedVersion: 2, timers: [{ op: 'consume', member, due: 100 }] }),
    ]);
    expect(r).toEqual({ status: 'timer-gone', version: 2 });
  });

  it('keeps outbox entries until completed: claimed by their writer, then leased to one claimer at a time', async () => {
    await store.commit('inst-a', [
      commit({ outbox: [{ id: 'o1', leaseUntil: 1000, json: '{"n":1}' }] }),
    ]);
    const queue = store.effectQueue(POLICY);
    expect(await queue.claim('inst-a', 999, 10)).toEqual([]);
    const [first] = await queue.claim('inst-a', 1000, 10);
    expect(first).toMatchObject({ id: 'o1', data: '{"n":1}', attempt: 2 });
    expect(await queue.claim('inst-a', 1001, 10)).toEqual([]);
    // The writer's late outcome is ignored: the claimer owns the entry now.
    const writer = { id: 'o1', attempt: 1, data: '', token: 'o1' };
    expect(await queue.complete('inst-a', writer, 1001)).toBe(false);
    const [second] = await queue.claim('inst-a', 1000 + POLICY.leaseMs, 10);
    expect(second).toMatchObject({ id: 'o1', attempt: 3 });
    expect(await queue.complete('inst-a', first!, 7000)).toBe(false);
    expect(await queue.complete('inst-a', second!, 7000)).toBe(true);
    expect(await queue.claim('inst-a', 1e15, 10)).toEqual([]);
    expect(await queue.size('inst-a')).toBe(0);
  });

  it("lets the writer complete or fail its own first attempt with the entry's id as token", async () => {
    await store.commit('inst-a', [
      commit({
        outbox: [
          { id: 'o1', leaseUntil: 1000, json: '{}' },
          { id: 'o2', leaseUntil: 1000, json: '{}' },
        ],
      }),
    ]);
    const queue = store.effectQueue(POLICY);
    const writer = (id: string) => ({ id, attempt: 1, data: '', token: id });
    expect(await queue.complete('inst-a', writer('o1'), 10)).toBe(true);
    expect(await queue.fail('inst-a', writer('o2'), 'down', 10)).toBe('retrying');
    expect(await queue.dueAt('inst-a', 'o2')).toBe(10 + POLICY.baseDelayMs);
    expect(await queue.size('inst-a')).toBe(1);
  });

  it('maintains ordered indexes and pages through them', async () => {
    const refs = ['c3', 'c1', 'c2'].map((id) => ({ ...ref, id }));
    await store.commit(
      'inst-a',
      refs.map((r) =>
        commit({ ref: r, indexes: [{ op: 'add', index: 'connection:all', member: r.id }] }),
      ),
    );
    expect(await store.indexPage('inst-a', 'connection:all', null, 2)).toEqual(['c1', 'c2']);
    expect(await store.indexPage('inst-a', 'connection:all', 'c2', 2)).toEqual(['c3']);
    await store.commit('inst-a', [
      commit({
        ref: refs[0],
        expectedVersion: 1,
        indexes: [{ op: 'remove', index: 'connection:all', member: 'c3' }],
      }),
    ]);
    expect(await store.indexSize('inst-a', 'connection:all')).toBe(2);
  });

  it('remembers request ids (as hashes) and names a repeated one by its own id', async () => {
    await store.commit('inst-a', [commit({ requestIds: { ids: ['req-1'], max: 4 } })]);
    expect(await store.seenRequestIds(ref, ['req-1', 'req-2'])).toEqual(['repeat', false]);
    const [again] = await store.commit('inst-a', [
      commit({ expectedVersion: 1, requestIds: { ids: ['req-2', 'req-1'], max: 4 } }),
    ]);
    expect(again).toEqual({ status: 'duplicate', version: 1, requestId: 'req-1' });
    expect(await store.seenRequestIds(ref, ['req-2'])).toEqual([false]);
  });

  it('refuses, inside the commit, a request id remembered with another body digest', async () => {
    await store.commit('inst-a', [
      commit({ requestIds: { ids: ['CMD:r1#aaaa', 'CMD:bare'], max: 4 } }),
    ]);
    expect(
      await store.seenRequestIds(ref, ['CMD:r1#aaaa', 'CMD:r1#bbbb', 'CMD:r2#aaaa', 'CMD:bare#cc']),
    ).toEqual(['repeat', 'reused', false, 'repeat']);
    const next = (ids: string[]) =>
      store.commit('inst-a', [commit({ expectedVersion: 1, requestIds: { ids, max: 4 } })]);
    expect(await next(['CMD:r2#aaaa', 'CMD:r1#bbbb'])).toEqual([
      { status: 'reused', version: 1, requestId: 'CMD:r1#bbbb' },
    ]);
    expect(await next(['CMD:r1#aaaa'])).toEqual([
      { status: 'duplicate', version: 1, requestId: 'CMD:r1#aaaa' },
    ]);
    // An id remembered without a digest (before digests) is a repeat whatever the body.
    expect(await next(['CMD:bare#cc'])).toEqual([
      { status: 'duplicate', version: 1, requestId: 'CMD:bare#cc' },
    ]);
    // Nothing was written by the refused commits: the other id is still new.
    expect(await store.seenRequestIds(ref, ['CMD:r2#aaaa'])).toEqual([false]);
    expect(await next(['CMD:r2#aaaa'])).toEqual([{ status: 'committed', version: 2 }]);
  });

  it("keeps the actor's event log in its own hash, newest first, capped at max", async () => {
    expect(await store.eventLog(ref, 20)).toEqual([]);
    await store.commit('inst-a', [
      commit({ eventLog: { events: ['{"n":1}', '{"n":2}'], max: 3, maxBytes: 2048 } }),
    ]);
    expect(await store.eventLog(ref, 20)).toEqual(['{"n":2}', '{"n":1}']);
    await store.commit('inst-a', [
      commit({
        expectedVersion: 1,
        eventLog: { events: ['{"n":3}', '{"n":4}'], max: 3, maxBytes: 2048 },
      }),
    ]);
    expect(await store.eventLog(ref, 20)).toEqual(['{"n":4}', '{"n":3}', '{"n":2}']);
    expect(await store.eventLog(ref, 2)).toEqual(['{"n":4}', '{"n":3}']);
    await store.commit('inst-a', [
      commit({ expectedVersion: 2, eventLog: { events: ['{"n":5}'], max: 1, maxBytes: 2048 } }),
    ]);
    expect(await store.eventLog(ref, 20)).toEqual(['{"n":5}']);
    // No key of its own: the log goes with the actor.
    expect(await redis.exists(`${store.keys.prefix}:{inst-a}:events:connection:c1`)).toBe(0);
  });

  it('keeps only the newest logged events that fit in maxBytes, and always the newest one', async () => {
    const entry = (n: number, bytes: number) => JSON.stringify({ n, pad: 'x'.repeat(bytes - 16) });
    const log = (n: number, bytes: number, version: number) =>
      store.commit('inst-a', [
        commit({
          expectedVersion: version,
          eventLog: { events: [entry(n, bytes)], max: 20, maxBytes: 100 },
        }),
      ]);
    await log(1, 40, 0);
    await log(2, 40, 1);
    // 40 + 1 + 40 = 81 bytes fit; a third entry of 40 would make 122.
    expect((await store.eventLog(ref, 20)).map((e) => JSON.parse(e).n)).toEqual([2, 1]);
    await log(3, 40, 2);
    expect((await store.eventLog(ref, 20)).map((e) => JSON.parse(e).n)).toEqual([3, 2]);
    for (const e of await store.eventLog(ref, 20)) expect(e.length).toBe(40);
    // An entry larger than the bound alone is still kept, alone.
    await log(4, 150, 3);
    expect((await store.eventLog(ref, 20)).map((e) => JSON.parse(e).n)).toEqual([4]);
    await log(5, 40, 4);
    expect((await store.eventLog(ref, 20)).map((e) => JSON.parse(e).n)).toEqual([5]);
  });

  it('pages through the union of several indexes in member order, each member once', async () => {
    const placed: [string, string][] = [
      ['c4', 'x'],
      ['c1', 'y'],
      ['c3', 'x'],
      ['c2', 'z'],
      ['c5', 'y'],
    ];
    await store.commit(
      'inst-a',
      placed.map(([id, index]) =>
        commit({ ref: { ...ref, id }, indexes: [{ op: 'add', index, member: id }] }),
      ),
    );
    const union = ['x', 'y', 'z', 'empty'];
    expect(await store.indexPage('inst-a', union, null, 2)).toEqual(['c1', 'c2']);
    expect(await store.indexPage('inst-a', union, 'c2', 2)).toEqual(['c3', 'c4']);
    expect(await store.indexPage('inst-a', union, 'c4', 2)).toEqual(['c5']);
    expect(await store.indexPage('inst-a', ['x', 'x'], null, 10)).toEqual(['c3', 'c4']);
  });

  it('commits several actors in one call with independent results', async () => {
    const other = { ...ref, id: 'c2' };
    await store.commit('inst-a', [commit()]);
    const results = await store.commit('inst-a', [
      commit({ expectedVersion: 0 }),
      commit({ ref: other }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['conflict', 'committed']);
  });

  it('refuses to batch an actor of another installation into one script', async () => {
    await expect(store.commit('inst-b', [commit()])).rejects.toThrow(/batched under inst-b/);
  });

  it('records installations and actor owners', async () => {
    await store.registerInstallation('inst-b');
    await store.registerInstallation('inst-a');
    expect(await store.installations()).toEqual(['inst-a', 'inst-b']);
    expect(await store.claimOwner('connection', 'c1', 'inst-a')).toBe('inst-a');
    expect(await store.claimOwner('connection', 'c1', 'inst-b')).toBe('inst-a');
    expect(await store.owner('connection', 'c1')).toBe('inst-a');
  });

  describe('the what-if journal', () => {
    const journal = (
      events: string[],
      extra: { max?: number; every?: number; initial?: string } = {},
    ) => ({
      journal: {
        events: events.map((json) => ({ json })),
        max: extra.max ?? 100,
        every: extra.every ?? 3,
        ...(extra.initial ? { initial: extra.initial } : {}),
      },
    });
    const read = async (limit = 100) =>
      (await store.journal(ref, limit)).map((j) => JSON.parse(j) as Record<string, unknown>);

    it('checkpoints the state before the first journaled event, then every `every` events, each entry with its version', async () => {
      await store.commit('inst-a', [commit()]);
      await store.commit('inst-a', [
        commit({
          expectedVersion: 1,
          snapshot: '{"value":"b"}',
          ...journal(['{"type":"E1","at":1}', '{"type":"E2","at":2}']),
        }),
      ]);
      await store.commit('inst-a', [
        commit({
          expectedVersion: 2,
          snapshot: '{"value":"c"}',
          ...journal(['{"type":"E3","at":3}']),
        }),
      ]);
      await store.commit('inst-a', [
        commit({
          expectedVersion: 3,
          snapshot: '{"value":"d"}',
          ...journal(['{"type":"E4","at":4}']),
        }),
      ]);
      expect(await read()).toEqual([
        { v: 1, checkpoint: { value: 'a' } },
        { v: 2, event: { type: 'E1', at: 1 } },
        { v: 2, event: { type: 'E2', at: 2 } },
        { v: 3, event: { type: 'E3', at: 3 } },
        // Three events since the last checkpoint: the state before E4 is checkpointed.
        { v: 3, checkpoint: { value: 'c' } },
        { v: 4, event: { type: 'E4', at: 4 } },
      ]);
      expect(await store.load(ref)).toEqual({ version: 4, snapshot: '{"value":"d"}' });
    });

    it('checkpoints the created state when the commit creates the actor', async () => {
      await store.commit('inst-a', [
        commit({
          snapshot: '{"value":"b"}',
          ...journal(['{"type":"E1","at":1}'], { initial: '{"value":"a"}' }),
        }),
      ]);
      expect(await read()).toEqual([
        { v: 0, checkpoint: { value: 'a' } },
        { v: 1, event: { type: 'E1', at: 1 } },
      ]);
    });

    it('keeps only the last `max` entries, oldest dropped first', async () => {
      await store.commit('inst-a', [commit()]);
      for (let v = 1; v <= 4; v++) {
        await store.commit('inst-a', [
          commit({
            expectedVersion: v,
            ...journal([`{"type":"E${v}","at":${v}}`], { max: 3, every: 100 }),
          }),
        ]);
      }
      expect(await read()).toEqual([
        { v: 3, event: { type: 'E2', at: 2 } },
        { v: 4, event: { type: 'E3', at: 3 } },
        { v: 5, event: { type: 'E4', at: 4 } },
      ]);
      expect(await read(2)).toHaveLength(2);
    });

    it('checkpoints again first when the journal was deleted (an operator freeing memory)', async () => {
      await store.commit('inst-a', [commit()]);
      await store.commit('inst-a', [
        commit({
          expectedVersion: 1,
          snapshot: '{"value":"b"}',
          ...journal(['{"type":"E1","at":1}']),
        }),
      ]);
      await redis.del(store.keys.journal('inst-a', ref.kind, ref.id));
      await store.commit('inst-a', [
        commit({
          expectedVersion: 2,
          snapshot: '{"value":"c"}',
          ...journal(['{"type":"E2","at":2}']),
        }),
      ]);
      expect(await read()).toEqual([
        { v: 2, checkpoint: { value: 'b' } },
        { v: 3, event: { type: 'E2', at: 2 } },
      ]);
    });

    it("keeps an event's planning time beside it as `t` when the commit gives one", async () => {
      await store.commit('inst-a', [commit()]);
      await store.commit('inst-a', [
        commit({
          expectedVersion: 1,
          journal: {
            events: [
              { json: '{"type":"E1","at":1}', plannedAt: 1_500 },
              { json: '{"type":"E2","at":2}' },
            ],
            max: 100,
            every: 100,
          },
        }),
      ]);
      expect(await store.journal(ref, 100)).toEqual([
        '{"v":1,"checkpoint":{"value":"a"}}',
        '{"v":2,"event":{"type":"E1","at":1},"t":1500}',
        '{"v":2,"event":{"type":"E2","at":2}}',
      ]);
    });

    it('keeps an event encoded as a JSON array as that array with the version first', async () => {
      await store.commit('inst-a', [commit()]);
      await store.commit('inst-a', [
        commit({
          expectedVersion: 1,
          ...journal(['["R","c1",1]', '{"type":"E2","at":2}', '["R","c2",2]'], { every: 100 }),
        }),
      ]);
      expect(await store.journal(ref, 100)).toEqual([
        '{"v":1,"checkpoint":{"value":"a"}}',
        '[2,"R","c1",1]',
        '{"v":2,"event":{"type":"E2","at":2}}',
        '[2,"R","c2",2]',
      ]);
    });

    it('keeps the last `max` entries when one commit journals more events than that', async () => {
      await store.commit('inst-a', [commit()]);
      const events = Array.from({ length: 1_203 }, (_, i) => `{"type":"E","at":${i}}`);
      await store.commit('inst-a', [
        commit({ expectedVersion: 1, ...journal(events, { max: 1_100, every: 5_000 }) }),
      ]);
      const kept = await read(5_000);
      expect(kept).toHaveLength(1_100);
      expect(kept.at(0)).toEqual({ v: 2, event: { type: 'E', at: 103 } });
      expect(kept.at(-1)).toEqual({ v: 2, event: { type: 'E', at: 1_202 } });
    });

    it('writes nothing to the journal of a conflicting or aborted commit', async () => {
      await store.commit('inst-a', [commit()]);
      const other: ActorRef = { ...ref, id: 'c2' };
      const results = await store.commit(
        'inst-a',
        [
          commit({ expectedVersion: 1, ...journal(['{"type":"E1","at":1}']) }),
          commit({ ref: other, expectedVersion: 7 }),
        ],
        'all',
      );
      expect(results.map((r) => r.status)).toEqual(['aborted', 'conflict']);
      expect(await read()).toEqual([]);
    });
  });

  it('puts every key of one installation in one hash slot', async () => {
    await store.commit('inst-a', [
      commit({
        timers: [
          {
            op: 'schedule',
            member: timerMember('connection', 'c1', 't'),
            due: 1,
            event: '{"type":"t"}',
          },
        ],
        outbox: [{ id: 'o', leaseUntil: 1, json: '{}' }],
        indexes: [{ op: 'add', index: 'connection:all', member: 'c1' }],
      }),
    ]);
    // On a cluster the keys live on one master: ask every one.
    const keys = (
      await Promise.all(dataNodes(redis).map((n) => n.keys(`${store.keys.prefix}:*`)))
    ).flat();
    expect(keys.length).toBeGreaterThanOrEqual(6);
    for (const key of keys) expect(key).toContain('{inst-a}');
  });
});
