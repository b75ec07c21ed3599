import type { RedisClient } from './client.ts';
import { EFFECT_QUEUE, Keys, NOTIFY_QUEUE, auditMember } from './keys.ts';

/**
 * Moves the jobs of the two retry mechanisms this service had before JobQueue into their retry
 * queues, so an upgrade loses no pending effect or delivery and no dead letter:
 *
 * - the outbox: `{inst}:outbox` (id -> lease expiry), `:outbox-data`, `:outbox-attempts`
 *   (claims by reapers), `:outbox-dead` (id -> when) -> queue `effects`;
 * - the deliveries: `{inst}:notify:due` (id -> due or lease expiry) and `:notify:dead`
 *   (`<ms>:<id>`), with what to send in each delivery hash -> queue `notify`.
 *
 * Run at every start (it finds nothing once done), so jobs an older process still wrote are
 * moved at the next start. Per installation and queue, one MULTI (one slot) writes the new keys
 * and deletes the old ones. Returns how many jobs were moved.
 */
export async function migrateLegacyQueues(redis: RedisClient, prefix: string): Promise<number> {
  const keys = new Keys(prefix);
  const each = async (
    installations: string[],
    migrate: (redis: RedisClient, keys: Keys, inst: string) => Promise<number>,
  ): Promise<number> => {
    let moved = 0;
    // A start walks every installation: CHUNK of them at a time (each finds nothing once done).
    for (let i = 0; i < installations.length; i += CHUNK) {
      const chunk = installations.slice(i, i + CHUNK);
      const counts = await Promise.all(chunk.map((inst) => migrate(redis, keys, inst)));
      moved += counts.reduce((x, y) => x + y, 0);
    }
    return moved;
  };
  return (
    (await each(await redis.smembers(keys.installations()), migrateOutbox)) +
    (await each(await redis.smembers(`${prefix}:notify:installations`), migrateDeliveries))
  );
}

const CHUNK = 100;

const pairs = (flat: string[]): [string, number][] => {
  const out: [string, number][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, Number(flat[i + 1])]);
  return out;
};

async function migrateOutbox(redis: RedisClient, keys: Keys, inst: string): Promise<number> {
  const old = `${keys.prefix}:{${inst}}:outbox`;
  const [due, dead] = await Promise.all([
    redis.zrange(old, 0, -1, 'WITHSCORES').then(pairs),
    redis.zrange(`${old}-dead`, 0, -1, 'WITHSCORES').then(pairs),
  ]);
  if (due.length === 0 && dead.length === 0) return 0;
  const [data, claims] = await Promise.all([
    redis.hgetall(`${old}-data`),
    redis.hgetall(`${old}-attempts`),
  ]);
  const q = keys.jobQueue(inst, EFFECT_QUEUE);
  const m = redis.multi();
  for (const [id, score] of due) {
    if (data[id] === undefined) continue;
    // The writer's run was attempt 1; each reaper claim one more.
    m.zadd(q.due, score, id).hset(q.data, id, data[id]);
    m.hset(q.state, `a:${id}`, String(Number(claims[id] ?? 0) + 1));
  }
  for (const [id, at] of dead) {
    if (data[id] === undefined) continue;
    const member = auditMember(at, id);
    m.zadd(q.dead, 0, member).hset(q.data, id, data[id]);
    m.hset(q.state, `a:${id}`, claims[id] ?? '0', `d:${id}`, member);
  }
  m.del(old, `${old}-data`, `${old}-attempts`, `${old}-dead`);
  await m.exec();
  return due.length + dead.length;
}

async function migrateDeliveries(redis: RedisClient, keys: Keys, inst: string): Promise<number> {
  const base = `${keys.prefix}:{${inst}}:notify`;
  const [due, deadMembers] = await Promise.all([
    redis.zrange(`${base}:due`, 0, -1, 'WITHSCORES').then(pairs),
    redis.zrange(`${base}:dead`, 0, -1),
  ]);
  if (due.length === 0 && deadMembers.length === 0) return 0;
  const dead = deadMembers.map((member) => ({
    member,
    id: member.slice(member.indexOf(':') + 1),
  }));
  const ids = [...due.map(([id]) => id), ...dead.map((d) => d.id)];
  const pipeline = redis.pipeline();
  const fields = ['channel', 'address', 'payload', 'attempts', 'lastError'] as const;
  for (const id of ids) pipeline.hmget(`${base}:delivery:${id}`, ...fields);
  const records = ((await pipeline.exec()) ?? []).map(([error, v]) => {
    if (error) throw error;
    return v as (string | null)[];
  });
  const q = keys.jobQueue(inst, NOTIFY_QUEUE);
  const m = redis.multi();
  const write = (id: string, r: (string | null)[]): boolean => {
    const [channel, address, payload, attempts, lastError] = r;
    if (!channel) return false;
    m.hset(q.data, id, JSON.stringify({ channel, address: address ?? '', payload: payload ?? '' }));
    m.hset(q.state, `a:${id}`, attempts ?? '0');
    if (lastError) m.hset(q.state, `e:${id}`, lastError);
    // The old claim token lives in the record: an attempt running now is retried after its
    // lease (the job's score), as before.
    m.hdel(`${base}:delivery:${id}`, 'claim', 'address', 'payload');
    return true;
  };
  due.forEach(([id, score], i) => {
    if (write(id, records[i]!)) m.zadd(q.due, score, id);
  });
  dead.forEach(({ id, member }, i) => {
    if (write(id, records[due.length + i]!)) {
      m.zadd(q.dead, 0, member);
      m.hset(q.state, `d:${id}`, member);
    }
  });
  m.del(`${base}:due`, `${base}:dead`);
  await m.exec();
  return due.length + dead.length;
}
