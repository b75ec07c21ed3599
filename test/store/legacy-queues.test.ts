/**
 * Upgrading from the two retry mechanisms (the outbox keys and the notification due/dead keys)
 * to the one retry queue: every pending job and dead letter is moved, on real Redis (single
 * node, or the cluster in project `cluster`), under a prefix of its own.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RedisClient } from '../../src/store/client.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { EFFECT_QUEUE, NOTIFY_QUEUE, auditMember } from '../../src/store/keys.ts';
import { migrateLegacyQueues } from '../../src/store/legacy-queues.ts';
import { deletePrefix, realRedis, testPrefix } from '../helpers.ts';

const INST = 'inst-m';
const POLICY = { maxAttempts: 5, baseDelayMs: 1000, leaseMs: 1000 };

describe('migrateLegacyQueues', () => {
  let redis: RedisClient;
  let prefix: string;
  beforeEach(() => {
    redis = realRedis();
    prefix = testPrefix('legacy');
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  it('moves pending and dead outbox entries into the effects queue, attempts counted', async () => {
    const old = `${prefix}:{${INST}}:outbox`;
    await redis.sadd(`${prefix}:installations`, INST);
    await redis.zadd(old, 5000, 'e-pending', 7000, 'e-claimed');
    await redis.zadd(`${old}-dead`, 3000, 'e-dead');
    await redis.hset(`${old}-data`, {
      'e-pending': '{"n":1}',
      'e-claimed': '{"n":2}',
      'e-dead': '{"n":3}',
    });
    await redis.hset(`${old}-attempts`, { 'e-claimed': '2', 'e-dead': '11' });

    expect(await migrateLegacyQueues(redis, prefix)).toBe(3);
    expect(await redis.exists(old, `${old}-data`, `${old}-attempts`, `${old}-dead`)).toBe(0);
    const effects = new JobQueue(redis, prefix, EFFECT_QUEUE, POLICY);
    expect(await effects.dueAt(INST, 'e-pending')).toBe(5000);
    const claimed = await effects.claim(INST, 7000, 10);
    expect(claimed.map((j) => [j.id, j.attempt, j.data])).toEqual([
      ['e-pending', 2, '{"n":1}'],
      ['e-claimed', 4, '{"n":2}'],
    ]);
    const { items } = await effects.dead(INST, { limit: 10 });
    expect(items).toEqual([
      expect.objectContaining({ id: 'e-dead', deadAt: 3000, attempts: 11, data: '{"n":3}' }),
    ]);
    expect(await effects.retryDead(INST, 'e-dead', 8000)).toBe(true);
    // Once done, a second run finds nothing.
    expect(await migrateLegacyQueues(redis, prefix)).toBe(0);
  });

  it('moves due and dead deliveries into the notify queue, with what each attempt sends', async () => {
    const base = `${prefix}:{${INST}}:notify`;
    await redis.sadd(`${prefix}:notify:installations`, INST);
    const record = (id: string, extra: Record<string, string>) =>
      redis.hset(`${base}:delivery:${id}`, {
        id,
        channel: 'webhook',
        address: `https://hooks.example/${id}`,
        payload: `{"deliveryId":"${id}"}`,
        status: 'failed',
        ...extra,
      });
    await record('d-due', { attempts: '2', lastError: 'HTTP 500' });
    await record('d-dead', { attempts: '5', lastError: 'HTTP 503', status: 'dead-lettered' });
    await redis.zadd(`${base}:due`, 4000, 'd-due');
    const member = auditMember(2000, 'd-dead');
    await redis.zadd(`${base}:dead`, 0, member);

    expect(await migrateLegacyQueues(redis, prefix)).toBe(2);
    expect(await redis.exists(`${base}:due`, `${base}:dead`)).toBe(0);
    const queue = new JobQueue(redis, prefix, NOTIFY_QUEUE, POLICY);
    const [job] = await queue.claim(INST, 4000, 10);
    expect(job).toMatchObject({ id: 'd-due', attempt: 3 });
    expect(JSON.parse(job!.data)).toEqual({
      channel: 'webhook',
      address: 'https://hooks.example/d-due',
      payload: '{"deliveryId":"d-due"}',
    });
    expect(await redis.hget(`${base}:delivery:d-due`, 'payload')).toBeNull();
    const { items } = await queue.dead(INST, { limit: 10 });
    expect(items).toEqual([
      expect.objectContaining({ id: 'd-dead', member, attempts: 5, lastError: 'HTTP 503' }),
    ]);
    expect(await migrateLegacyQueues(redis, prefix)).toBe(0);
  });
});
