import { type RedisClient as Redis, dataNodes } from './client.ts';
import { ReplicationTimeoutError } from '../errors.ts';
import { commitArgs } from './commit-args.ts';
import { JobQueue } from './job-queue.ts';
import { EFFECT_QUEUE, Keys, auditBound, parseTimerMember, requestIdMember } from './keys.ts';
import { adaptEmbeddedStore } from './embedded.ts';
import { commands, defineCommands } from './scripts.ts';
import type {
  ActorCommit,
  ActorRef,
  CommitResult,
  DueTimer,
  RequestSeen,
  RetryPolicy,
  Store,
  StoredActor,
} from './store.ts';

/** The data types of the store, defined once with its interface. */
export type {
  ActorRef,
  StoredActor,
  TimerOp,
  OutboxEntry,
  IndexOp,
  CounterOp,
  IndexGuard,
  AuditAppend,
  ActorCommit,
  CommitResult,
  DueTimer,
  ClaimedJob,
  RequestSeen,
  RetryPolicy,
  RetryQueue,
} from './store.ts';

/**
 * The engine's persistence: snapshots with compare-and-set, durable timers, an outbox (the
 * `effects` retry queue, see JobQueue) and indexes, all in Redis. The same code runs against a real server and the embedded ioredis-mock
 * (which executes the same Lua).
 *
 * @example
 * const store = new RedisStore(new Redis(url), 'lumi');
 * const [result] = await store.commit('inst-1', [{ ref, expectedVersion: 0, snapshot, timers: [], outbox: [], indexes: [] }]);
 */
export class RedisStore implements Store {
  readonly keys: Keys;

  constructor(
    readonly redis: Redis,
    prefix: string,
    /**
     * Replicas every commit waits for (Redis WAIT) before it counts as done, and how long. With
     * 0 (the default) a commit is done once the master has it: a failover may lose it.
     */
    readonly durability: { replicas: number; timeoutMs: number } = { replicas: 0, timeoutMs: 0 },
  ) {
    this.keys = new Keys(prefix);
    // The embedded store (ioredis-mock) gets Redis stream semantics before any script is defined.
    adaptEmbeddedStore(redis);
    defineCommands(redis);
  }

  actorKey(ref: ActorRef): string {
    return this.keys.actor(ref.installationId, ref.kind, ref.id);
  }

  async load(ref: ActorRef): Promise<StoredActor | null> {
    const [v, s] = await this.redis.hmget(this.actorKey(ref), 'v', 's');
    return v && s ? { version: Number(v), snapshot: s } : null;
  }

  async loadMany(refs: readonly ActorRef[]): Promise<(StoredActor | null)[]> {
    if (refs.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const ref of refs) pipeline.hmget(this.actorKey(ref), 'v', 's');
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([err, value]) => {
      if (err) throw err;
      const [v, s] = value as [string | null, string | null];
      return v && s ? { version: Number(v), snapshot: s } : null;
    });
  }

  /**
   * Commits actors of one installation in one atomic script; one result per commit, in order.
   * With `mode: 'all'` the commits form a transaction: all are written or none.
   */
  async commit(
    installationId: string,
    commits: readonly ActorCommit[],
    mode: 'each' | 'all' = 'each',
  ): Promise<CommitResult[]> {
    const { keys, args } = commitArgs(this.keys, installationId, commits, mode, (ref) =>
      this.actorKey(ref),
    );
    const results = await commands.commit(this.redis, keys, args);
    // The script names a duplicate by its stored member: give the caller its request id back.
    results.forEach((r, i) => {
      if (r.status !== 'duplicate' && r.status !== 'reused') return;
      const id = commits[i]?.requestIds?.ids.find((x) => requestIdMember(x) === r.requestId);
      if (id !== undefined) results[i] = { ...r, requestId: id };
    });
    // Wait for the replicas only when this call wrote something, or found it written before (a
    // retried request): a commit that conflicted wrote nothing, and its caller retries it on the
    // current snapshot; refusing it for the replica would say it is on the master when it is not.
    if (
      this.durability.replicas > 0 &&
      results.some((r) => r.status === 'committed' || r.status === 'duplicate')
    ) {
      await this.#waitForReplicas(keys[0]);
    }
    return results;
  }

  /**
   * Blocks until `durability.replicas` replicas have every write made so far on the connection
   * to the master that holds `slotKey` (the commit just made), or fails with
   * ReplicationTimeoutError. On a cluster the pipeline's key routes the WAIT to that master.
   */
  async #waitForReplicas(slotKey: string): Promise<void> {
    const { replicas, timeoutMs } = this.durability;
    const replies = await this.redis.pipeline().exists(slotKey).wait(replicas, timeoutMs).exec();
    const [error, acked] = replies?.[1] ?? [new Error('no reply to WAIT'), 0];
    if (error) throw error;
    if (Number(acked) < replicas) {
      throw new ReplicationTimeoutError(
        `the commit reached ${String(acked)} of ${replicas} replicas within ${timeoutMs} ms; it is on the master and may be lost in a failover: retry with the same request id`,
        { replicas, acknowledged: Number(acked) },
      );
    }
  }

  /**
   * For each request id, whether the actor remembers having applied it, as commit-5.lua's D op
   * decides: an id with a body's digest is also looked for bare and with another digest.
   */
  async seenRequestIds(ref: ActorRef, ids: readonly string[]): Promise<RequestSeen[]> {
    const key = this.keys.requestIds(ref.installationId, ref.kind, ref.id);
    const members = ids.map(requestIdMember);
    if (!members.some((m) => m.includes(':'))) {
      const scores = await Promise.all(members.map((m) => this.redis.zscore(key, m)));
      return scores.map((s) => (s !== null && s !== undefined ? 'repeat' : false));
    }
    // At most IDEMPOTENCY_KEYS_PER_ACTOR members: read once, compared here.
    const remembered = new Set(await this.redis.zrange(key, 0, -1));
    return members.map((m) => {
      if (remembered.has(m)) return 'repeat';
      const sep = m.indexOf(':');
      if (sep < 0) return false;
      if (remembered.has(m.slice(0, sep))) return 'repeat';
      const prefix = m.slice(0, sep + 1);
      for (const r of remembered) if (r.startsWith(prefix)) return 'reused';
      return false;
    });
  }

  async registerInstallation(installationId: string): Promise<void> {
    await this.redis.sadd(this.keys.installations(), installationId);
  }

  async installations(): Promise<string[]> {
    const all = await this.redis.smembers(this.keys.installations());
    return all.sort();
  }

  /** Claims `actorId` for an installation; returns the owner (which may be another installation). */
  async claimOwner(kind: string, actorId: string, installationId: string): Promise<string> {
    const field = `${kind}:${actorId}`;
    const set = await this.redis.hsetnx(this.keys.owners(), field, installationId);
    if (set === 1) return installationId;
    return (await this.redis.hget(this.keys.owners(), field)) ?? installationId;
  }

  async owner(kind: string, actorId: string): Promise<string | null> {
    return this.redis.hget(this.keys.owners(), `${kind}:${actorId}`);
  }

  async dueTimers(installationId: string, now: number, limit: number): Promise<DueTimer[]> {
    const flat = await this.redis.zrangebyscore(
      this.keys.timers(installationId),
      '-inf',
      now,
      'WITHSCORES',
      'LIMIT',
      0,
      limit,
    );
    if (flat.length === 0) return [];
    const members: string[] = [];
    const dues: number[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      members.push(flat[i]!);
      dues.push(Number(flat[i + 1]));
    }
    const events = await this.redis.hmget(this.keys.timerEvents(installationId), ...members);
    return members.map((member, i) => ({
      member,
      ...parseTimerMember(member),
      due: dues[i]!,
      event: events[i] ?? null,
    }));
  }

  /** Moves a timer that failed to apply out of the due set, keeping it for operators. */
  async deadLetterTimer(
    installationId: string,
    member: string,
    due: number,
    reason: string,
  ): Promise<void> {
    await this.redis
      .multi()
      .zrem(this.keys.timers(installationId), member)
      .hset(
        this.keys.deadTimers(installationId),
        member,
        JSON.stringify({ due, reason: reason.slice(0, 500) }),
      )
      .exec();
  }

  /** Every pending timer of one actor, soonest first (for inspection). */
  async timersOf(ref: ActorRef): Promise<{ sendId: string; due: number }[]> {
    const flat = await this.redis.zrange(this.keys.timers(ref.installationId), 0, -1, 'WITHSCORES');
    const out: { sendId: string; due: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const t = parseTimerMember(flat[i]!);
      if (t.kind === ref.kind && t.actorId === ref.id)
        out.push({ sendId: t.sendId, due: Number(flat[i + 1]) });
    }
    return out.sort((a, b) => a.due - b.due);
  }

  /** The retry queue of the effects commits write (see {@link Store.effectQueue}). */
  effectQueue(policy: RetryPolicy): JobQueue {
    return new JobQueue(this.redis, this.keys.prefix, EFFECT_QUEUE, policy);
  }

  /**
   * One page of an index, ordered by member, strictly after `after`; of several indexes, the
   * page of their union (read atomically: one MULTI, one slot), each member once.
   */
  async indexPage(
    installationId: string,
    index: string | readonly string[],
    after: string | null,
    limit: number,
  ): Promise<string[]> {
    const from = after === null ? '-' : `(${after}`;
    if (typeof index === 'string') {
      return this.redis.zrangebylex(
        this.keys.index(installationId, index),
        from,
        '+',
        'LIMIT',
        0,
        limit,
      );
    }
    const multi = this.redis.multi();
    for (const i of index) {
      multi.zrangebylex(this.keys.index(installationId, i), from, '+', 'LIMIT', 0, limit);
    }
    const members = new Set<string>();
    for (const [error, page] of (await multi.exec()) ?? []) {
      if (error) throw error;
      for (const m of page as string[]) members.add(m);
    }
    // Lex order, as the zsets keep it (score 0 everywhere).
    return [...members].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, limit);
  }

  /**
   * An actor and the sizes of indexes of its installation, read in one MULTI (one slot: the
   * installation's hash tag), so that what one commit script changes in both is seen by both or
   * by neither.
   */
  async loadWithIndexSizes(
    ref: ActorRef,
    indexes: readonly string[],
  ): Promise<{ stored: StoredActor | null; sizes: number[] }> {
    const multi = this.redis.multi();
    multi.hmget(this.actorKey(ref), 'v', 's');
    for (const index of indexes) multi.zcard(this.keys.index(ref.installationId, index));
    const replies = (await multi.exec()) ?? [];
    const values = replies.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
    const [v, s] = (values[0] ?? [null, null]) as [string | null, string | null];
    return {
      stored: v && s ? { version: Number(v), snapshot: s } : null,
      sizes: values.slice(1).map(Number),
    };
  }

  async indexSize(installationId: string, index: string): Promise<number> {
    return this.redis.zcard(this.keys.index(installationId, index));
  }

  /** Every member of an index (for the bounded per-workspace indexes). */
  async indexAll(installationId: string, index: string): Promise<string[]> {
    return this.redis.zrange(this.keys.index(installationId, index), 0, -1);
  }

  async counters(installationId: string, name: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.counter(installationId, name));
  }

  /**
   * One page of an audit stream, newest first, within [from, to] (ms) and strictly older than
   * the `before` cursor (a member from a previous page).
   */
  async auditPage(
    installationId: string,
    stream: string,
    opts: { from?: number; to?: number; before?: string; limit: number },
  ): Promise<{ member: string; json: string }[]> {
    let max = opts.to === undefined ? '+' : `(${auditBound(opts.to + 1)}`;
    if (opts.before !== undefined && (max === '+' || `(${opts.before}` < max))
      max = `(${opts.before}`;
    const min = opts.from === undefined ? '-' : `[${auditBound(opts.from)}`;
    const members = await this.redis.zrevrangebylex(
      this.keys.audit(installationId, stream),
      max,
      min,
      'LIMIT',
      0,
      opts.limit,
    );
    if (members.length === 0) return [];
    const data = await this.redis.hmget(this.keys.auditData(installationId, stream), ...members);
    return members.map((member, i) => ({ member, json: data[i] ?? 'null' }));
  }

  /**
   * Whether `member` is a record of an audit stream. Audit streams are never trimmed, so a cursor
   * a page gave always names one: one that names none was edited or belongs elsewhere.
   */
  async auditHas(installationId: string, stream: string, member: string): Promise<boolean> {
    return (await this.redis.zscore(this.keys.audit(installationId, stream), member)) !== null;
  }

  /**
   * Replaces the settings and audits the change in one step, if they are still `expected` (the
   * text read before, null when there were none); false, writing nothing, if they changed since.
   */
  async saveSettings(
    installationId: string,
    expected: string | null,
    json: string,
    audit: { member: string; json: string },
  ): Promise<boolean> {
    return commands.saveSettings(
      this.redis,
      [
        this.keys.settings(installationId),
        this.keys.audit(installationId, 'settings'),
        this.keys.auditData(installationId, 'settings'),
      ],
      [expected ?? '', json, audit.member, audit.json],
    );
  }

  async loadSettings(installationId: string): Promise<string | null> {
    return this.redis.get(this.keys.settings(installationId));
  }

  /** The last applied events of an actor, newest first. */
  async eventLog(ref: ActorRef, limit: number): Promise<string[]> {
    const log = await this.redis.hget(this.keys.actor(ref.installationId, ref.kind, ref.id), 'e');
    return log ? log.split('\n', limit) : [];
  }

  /**
   * An actor's what-if journal, oldest first: up to `limit` of its newest entries (JSON: events
   * `{ v, event }` or `[v, ...event]` and checkpoints `{ v, checkpoint }`, see Keys.journal).
   */
  async journal(ref: ActorRef, limit: number): Promise<string[]> {
    return this.redis.lrange(
      this.keys.journal(ref.installationId, ref.kind, ref.id),
      -Math.max(1, limit),
      -1,
    );
  }

  /** True when the store answers within `withinMs`; never waits longer than that. */
  async ping(withinMs = 750): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), withinMs);
    });
    const answer = this.redis.ping().then(
      (reply) => reply === 'PONG',
      () => false,
    );
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Deletes every key under this store's prefix (tests only: never touches other prefixes). */
  async deleteAllOwnKeys(): Promise<number> {
    let deleted = 0;
    // On a cluster every master holds some of the keys; keys of different slots cannot share
    // one DEL, so each is deleted on its own (through the client, which routes it).
    for (const node of dataNodes(this.redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(
          cursor,
          'MATCH',
          `${this.keys.prefix}:*`,
          'COUNT',
          500,
        );
        cursor = next;
        const counts = await Promise.all(keys.map((k) => this.redis.del(k)));
        deleted += counts.reduce((a, b) => a + b, 0);
      } while (cursor !== '0');
    }
    return deleted;
  }
}
