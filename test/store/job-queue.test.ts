/**
 * The one durable retry queue (JobQueue) on real Redis (single node, or the cluster in project
 * `cluster`) and on the embedded store, each test under its own key prefix: leases, backoff,
 * dead letters and their retry/discard, the record mirror, and competing consumers.
 */
import RedisMock from 'ioredis-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RedisClient } from '../../src/store/client.ts';
import { INTERRUPTED, type JobRecord, JobQueue, retryDelayMs } from '../../src/store/job-queue.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { deletePrefix, realRedis, testPrefix } from '../helpers.ts';

const backends: [string, () => RedisClient][] = [
  ['real Redis', () => realRedis()],
  ['embedded ioredis-mock', () => new RedisMock()],
];

const POLICY = { maxAttempts: 3, baseDelayMs: 1000, leaseMs: 10_000 };
const INST = 'inst-q';

/** Mirrors each outcome into a hash per job, as notification deliveries do. */
const record = (prefix: string): JobRecord => ({
  key: (installationId, id) => `${prefix}:{${installationId}}:record:${id}`,
  completed: (attempt, now) => ({ status: 'done', attempts: String(attempt), at: String(now) }),
  retrying: (attempt, error) => ({ status: 'failed', attempts: String(attempt), error }),
  deadLettered: (attempt, error, now) => ({
    status: 'dead',
    attempts: String(attempt),
    error,
    deadAt: String(now),
  }),
  revived: () => ({ status: 'pending', attempts: '0' }),
});

describe('retryDelayMs', () => {
  it('doubles the base delay after each failed attempt, up to the cap', () => {
    const policy = { ...POLICY, maxDelayMs: 5000 };
    expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(policy, a))).toEqual([
      1000, 2000, 4000, 5000, 5000,
    ]);
    expect(retryDelayMs(POLICY, 20)).toBe(3_600_000);
  });
});

describe.each(backends)('JobQueue on %s', (_name, connect) => {
  let redis: RedisClient;
  let prefix: string;
  let queue: JobQueue;

  beforeEach(async () => {
    redis = connect();
    prefix = testPrefix('jobs');
    queue = new JobQueue(redis, prefix, 'test', POLICY, record(prefix));
    await queue.schedule(INST, [{ id: 'j1', due: 100, data: '{"n":1}' }]);
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  const recordOf = (id: string) => redis.hgetall(record(prefix).key(INST, id));

  it('claims a job once it is due, with a lease; reruns it after the lease expires', async () => {
    expect(await queue.claim(INST, 99, 10)).toEqual([]);
    const [first] = await queue.claim(INST, 100, 10);
    expect(first).toMatchObject({ id: 'j1', attempt: 1, data: '{"n":1}' });
    expect(await queue.dueAt(INST, 'j1')).toBe(100 + POLICY.leaseMs);
    expect(await queue.claim(INST, 100 + POLICY.leaseMs - 1, 10)).toEqual([]);
    // The claimer stopped without an outcome: at-least-once, the job runs again.
    const [second] = await queue.claim(INST, 100 + POLICY.leaseMs, 10);
    expect(second).toMatchObject({ id: 'j1', attempt: 2 });
    expect(second!.token).not.toBe(first!.token);
    // The first claimer's late outcome is refused; the second one's stands.
    expect(await queue.complete(INST, first!, 20_000)).toBe(false);
    expect(await queue.fail(INST, first!, 'late', 20_000)).toBeNull();
    expect(await queue.complete(INST, second!, 20_000)).toBe(true);
    expect(await queue.size(INST)).toBe(0);
    expect(await recordOf('j1')).toEqual({ status: 'done', attempts: '2', at: '20000' });
  });

  it('retries a failed job after an exponential backoff, then dead-letters it after maxAttempts', async () => {
    let now = 100;
    for (let attempt = 1; attempt < POLICY.maxAttempts; attempt++) {
      const [job] = await queue.claim(INST, now, 10);
      expect(job).toMatchObject({ id: 'j1', attempt });
      expect(await queue.fail(INST, job!, `boom ${attempt}`, now)).toBe('retrying');
      const due = now + POLICY.baseDelayMs * 2 ** (attempt - 1);
      expect(await queue.dueAt(INST, 'j1')).toBe(due);
      expect(await recordOf('j1')).toEqual({
        status: 'failed',
        attempts: String(attempt),
        error: `boom ${attempt}`,
      });
      expect(await queue.claim(INST, due - 1, 10)).toEqual([]);
      now = due;
    }
    const [last] = await queue.claim(INST, now, 10);
    expect(last).toMatchObject({ attempt: POLICY.maxAttempts });
    expect(await queue.fail(INST, last!, 'boom 3', now)).toBe('dead-lettered');
    expect(await queue.size(INST)).toBe(0);
    expect(await queue.claim(INST, 1e15, 10)).toEqual([]);
    const { items, nextCursor } = await queue.dead(INST, { limit: 10 });
    expect(nextCursor).toBeNull();
    expect(items).toEqual([
      expect.objectContaining({
        id: 'j1',
        deadAt: now,
        attempts: 3,
        lastError: 'boom 3',
        data: '{"n":1}',
      }),
    ]);
    expect(await recordOf('j1')).toMatchObject({ status: 'dead', attempts: '3', error: 'boom 3' });
  });

  it('dead-letters a job whose last allowed attempt was interrupted, at the next claim', async () => {
    let now = 100;
    for (let attempt = 1; attempt <= POLICY.maxAttempts; attempt++) {
      expect(await queue.claim(INST, now, 10)).toHaveLength(1);
      now += POLICY.leaseMs; // every claimer stops mid-attempt
    }
    // Another job is due behind it: the claim dead-letters j1 and still returns one job.
    await queue.schedule(INST, [{ id: 'j2', due: now, data: '{"n":2}' }]);
    const interrupted: string[] = [];
    const claimed = await queue.claim(INST, now, 1, (job) => interrupted.push(job.id));
    expect(claimed.map((j) => j.id)).toEqual(['j2']);
    // The caller learns of it, to log it: no attempt of its own failed.
    expect(interrupted).toEqual(['j1']);
    const { items } = await queue.dead(INST, { limit: 10 });
    expect(items).toEqual([
      expect.objectContaining({ id: 'j1', attempts: 3, lastError: INTERRUPTED }),
    ]);
    expect(await queue.claim(INST, now + POLICY.leaseMs - 1, 10)).toEqual([]);
  });

  it('retries a dead job with its attempts reset, or discards it with its data', async () => {
    await queue.schedule(INST, [{ id: 'j2', due: 100, data: '{"n":2}' }]);
    const dead = { ...POLICY, maxAttempts: 1 };
    const once = new JobQueue(redis, prefix, 'test', dead, record(prefix));
    for (const job of await once.claim(INST, 100, 10))
      expect(await once.fail(INST, job, 'nope', 100 + Number(job.id === 'j2'))).toBe(
        'dead-lettered',
      );
    const page = await queue.dead(INST, { limit: 1 });
    expect(page.items.map((d) => d.id)).toEqual(['j2']); // newest first
    expect((await queue.dead(INST, { cursor: page.nextCursor!, limit: 1 })).items[0]!.id).toBe(
      'j1',
    );

    expect(await queue.retryDead(INST, 'j1', 500)).toBe(true);
    expect(await queue.retryDead(INST, 'j1', 500)).toBe(false);
    expect(await recordOf('j1')).toMatchObject({ status: 'pending', attempts: '0' });
    const [again] = await queue.claim(INST, 500, 10);
    expect(again).toMatchObject({ id: 'j1', attempt: 1, data: '{"n":1}' });

    expect(await queue.discardDead(INST, 'j2', 500)).toBe(true);
    expect(await queue.discardDead(INST, 'j2', 500)).toBe(false);
    expect(await queue.dead(INST, { limit: 10 })).toEqual({ items: [], nextCursor: null });
    expect(await redis.hget(queue.keys(INST).data, 'j2')).toBeNull();
    // Its record stays (a delivery keeps its history).
    expect(await recordOf('j2')).toMatchObject({ status: 'dead' });
    expect(await queue.retryDead(INST, 'unknown', 500)).toBe(false);
  });

  it('never lets two consumers claim the same job at once', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `k${i}`);
    await queue.schedule(
      INST,
      ids.map((id) => ({ id, due: 100, data: id })),
    );
    const other = new JobQueue(redis, prefix, 'test', POLICY);
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? other : queue).claim(INST, 100, 7)),
    );
    const claimed = claims.flat().map((j) => j.id);
    expect(claimed.sort()).toEqual([...ids, 'j1'].sort());
    expect(claims.flat().every((j) => j.attempt === 1)).toBe(true);
  });

  it('keeps every key of a queue in the installation slot', () => {
    const keys = Object.values(queue.keys(INST));
    expect(keys).toHaveLength(4);
    for (const key of keys) expect(key.startsWith(`${prefix}:{${INST}}:jobs:test:`)).toBe(true);
  });
});

describe('the outbox as a retry queue', () => {
  it('is the `effects` queue: commits write jobs that their writer has claimed', async () => {
    const redis = realRedis();
    const store = new RedisStore(redis, testPrefix('jobs'));
    try {
      const ref = { kind: 'connection', installationId: INST, id: 'c1' };
      await store.commit(INST, [
        {
          ref,
          expectedVersion: 0,
          snapshot: '{}',
          timers: [],
          outbox: [{ id: 'e1', leaseUntil: 5000, json: '{"type":"x"}' }],
          indexes: [],
        },
      ]);
      const effects = store.effectQueue(POLICY);
      expect(effects).toBeInstanceOf(JobQueue);
      expect(await effects.dueAt(INST, 'e1')).toBe(5000);
      expect(await effects.attempts(INST, ['e1'])).toEqual([1]);
    } finally {
      await store.deleteAllOwnKeys();
      redis.disconnect();
    }
  });
});
