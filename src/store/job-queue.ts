import { randomUUID } from 'node:crypto';
import type { RedisClient } from './client.ts';
import { type JobQueueKeys, Keys, auditMember } from './keys.ts';
import { commands } from './scripts.ts';
import type { ClaimedJob, FailOutcome, RetryPolicy, RetryQueue } from './store.ts';

/** The longest delay between two attempts when the policy names none: one hour. */
export const DEFAULT_MAX_DELAY_MS = 3_600_000;

/** The error recorded for a job whose last allowed attempt never reported its outcome. */
export const INTERRUPTED =
  'the last attempt was interrupted before its outcome was recorded (the engine stopped); it may have been received';

/** The delay before attempt `attempt + 1` after attempt `attempt` failed: exponential backoff. */
export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  const delay = policy.baseDelayMs * 2 ** Math.max(0, attempt - 1);
  return Math.min(delay, policy.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
}

/**
 * A record hash a job mirrors its outcome into (a notification delivery), written in the same
 * script as the queue's own change. Each hook returns the field/value pairs to write.
 */
export interface JobRecord {
  key(installationId: string, id: string): string;
  completed(attempt: number, now: number): Record<string, string>;
  retrying(attempt: number, error: string, now: number): Record<string, string>;
  deadLettered(attempt: number, error: string, now: number): Record<string, string>;
  /** An operator put the dead job back: it is due now with its attempts reset. */
  revived(now: number): Record<string, string>;
  /**
   * How long the record is kept once its job is done (completed, or discarded from the dead
   * letters), in ms; 0 or absent: for ever. A record is never expired while its job waits or is
   * dead-lettered.
   */
  retentionMs?: number;
}

/** A dead-lettered job, for operators. */
export interface DeadJob {
  id: string;
  /** When it was dead-lettered (ms). */
  deadAt: number;
  attempts: number;
  lastError: string | null;
  /** The job's payload; null when it vanished. */
  data: string | null;
  /** Pass back as `cursor` for the next (older) page. */
  member: string;
}

const DEFAULT_POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1000, leaseMs: 60_000 };

const flat = (fields: Record<string, string>): string[] => Object.entries(fields).flat();

/**
 * The one durable retry mechanism: schedule a job, claim it with a lease (at-least-once: a
 * claimer that stops is replaced when the lease expires), count its attempts, retry it with
 * exponential backoff, dead-letter it after `maxAttempts`, and let operators list, retry or
 * discard its dead letters. Used by the engine's outbox (queue `effects`, written by commits)
 * and by webhook/email deliveries (queue `notify`). Every key of a queue carries the
 * installation's hash tag: each script touches one slot (Redis Cluster).
 *
 * @example
 * const queue = new JobQueue(redis, 'lumi', 'notify', { maxAttempts: 5, baseDelayMs: 1000, leaseMs: 60_000 });
 * for (const job of await queue.claim('inst-a', now, 10)) {
 *   try { await send(job.data); await queue.complete('inst-a', job, clock.now()); }
 *   catch (e) { await queue.fail('inst-a', job, String(e), clock.now()); }
 * }
 */
export class JobQueue implements RetryQueue {
  readonly #keys: Keys;
  readonly policy: RetryPolicy;

  constructor(
    readonly redis: RedisClient,
    prefix: string,
    readonly name: string,
    policy: Partial<RetryPolicy> = {},
    readonly record: JobRecord | null = null,
  ) {
    this.#keys = new Keys(prefix);
    this.policy = { ...DEFAULT_POLICY, ...policy };
  }

  keys(installationId: string): JobQueueKeys {
    return this.#keys.jobQueue(installationId, this.name);
  }

  /** Adds jobs (or moves them), each due at its time. */
  async schedule(
    installationId: string,
    jobs: readonly { id: string; due: number; data: string }[],
  ): Promise<number> {
    if (jobs.length === 0) return 0;
    const { due, data } = this.keys(installationId);
    const args = jobs.flatMap((j) => [j.id, j.due, j.data]);
    return commands.scheduleJobs(this.redis, [due, data], args);
  }

  /**
   * Leases up to `limit` jobs due at `now` to the caller until `now + leaseMs`, each as a new
   * attempt. A job whose last allowed attempt was interrupted is dead-lettered instead (and does
   * not count toward `limit`), and reported to `interrupted` once it is.
   */
  async claim(
    installationId: string,
    now: number,
    limit: number,
    interrupted?: (job: ClaimedJob) => void,
  ): Promise<ClaimedJob[]> {
    const { due, data, state } = this.keys(installationId);
    const token = randomUUID();
    const out: ClaimedJob[] = [];
    let exhausted = true;
    // Each round that meets an exhausted job dead-letters it: the loop ends.
    while (exhausted && out.length < limit) {
      const replies = await commands.claimJobs(
        this.redis,
        [due, data, state],
        [now, now + this.policy.leaseMs, limit - out.length, this.policy.maxAttempts, token],
      );
      exhausted = false;
      for (const r of replies) {
        const job = { id: r.id, attempt: r.attempt, data: r.data, token };
        if (r.runnable) out.push(job);
        else {
          exhausted = true;
          if ((await this.fail(installationId, job, INTERRUPTED, now)) === 'dead-lettered')
            interrupted?.(job);
        }
      }
    }
    return out;
  }

  async complete(installationId: string, job: ClaimedJob, now: number): Promise<boolean> {
    const { due, data, state } = this.keys(installationId);
    const record = this.record;
    const keys = record ? [record.key(installationId, job.id)] : [];
    const fields = record ? flat(record.completed(job.attempt, now)) : [];
    return commands.completeJob(
      this.redis,
      [due, data, state, ...keys],
      [job.id, job.token, record?.retentionMs ?? 0, ...fields],
    );
  }

  /** Schedules the next attempt after {@link retryDelayMs}, or dead-letters the job. */
  async fail(
    installationId: string,
    job: ClaimedJob,
    error: string,
    now: number,
  ): Promise<FailOutcome | null> {
    const { due, data, state, dead } = this.keys(installationId);
    const record = this.record;
    const keys = record ? [record.key(installationId, job.id)] : [];
    const retry = record ? flat(record.retrying(job.attempt, error, now)) : [];
    const died = record ? flat(record.deadLettered(job.attempt, error, now)) : [];
    return commands.failJob(
      this.redis,
      [due, data, state, dead, ...keys],
      [
        job.id,
        job.token,
        now + retryDelayMs(this.policy, job.attempt),
        this.policy.maxAttempts,
        error,
        auditMember(now, job.id),
        retry.length / 2,
        ...retry,
        ...died,
      ],
    );
  }

  /** Dead letters, newest first; `cursor` is the `member` of the previous page's last item. */
  async dead(
    installationId: string,
    q: { cursor?: string; limit: number },
  ): Promise<{ items: DeadJob[]; nextCursor: string | null }> {
    const { data, state, dead } = this.keys(installationId);
    const members = await this.redis.zrevrangebylex(
      dead,
      q.cursor === undefined ? '+' : `(${q.cursor}`,
      '-',
      'LIMIT',
      0,
      q.limit,
    );
    if (members.length === 0) return { items: [], nextCursor: null };
    const ids = members.map((m) => m.slice(m.indexOf(':') + 1));
    const [payloads, states] = await Promise.all([
      this.redis.hmget(data, ...ids),
      this.redis.hmget(state, ...ids.flatMap((id) => [`a:${id}`, `e:${id}`])),
    ]);
    const items = ids.map((id, i) => ({
      id,
      deadAt: Number(members[i]!.slice(0, members[i]!.indexOf(':'))),
      attempts: Number(states[i * 2] ?? 0),
      lastError: states[i * 2 + 1] || null,
      data: payloads[i] ?? null,
      member: members[i]!,
    }));
    return { items, nextCursor: members.length === q.limit ? members[members.length - 1]! : null };
  }

  /** Puts a dead job back, due now with its attempts reset; false when it is not dead. */
  retryDead(installationId: string, id: string, now: number): Promise<boolean> {
    return this.#settle(installationId, id, 'retry', now);
  }

  /**
   * Deletes a dead job with its data (its record stays, for the record's retention); false when
   * it is not dead.
   */
  discardDead(installationId: string, id: string, now: number): Promise<boolean> {
    return this.#settle(installationId, id, 'discard', now);
  }

  async #settle(
    installationId: string,
    id: string,
    action: 'retry' | 'discard',
    now: number,
  ): Promise<boolean> {
    const { due, data, state, dead } = this.keys(installationId);
    const record = this.record;
    const keys = record ? [record.key(installationId, id)] : [];
    const fields = record && action === 'retry' ? flat(record.revived(now)) : [];
    return commands.settleDeadJob(
      this.redis,
      [due, data, state, dead, ...keys],
      [id, action, now, record?.retentionMs ?? 0, ...fields],
    );
  }

  /** Attempts started of each job (0 for a job unknown or never attempted). */
  async attempts(installationId: string, ids: readonly string[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(
      this.keys(installationId).state,
      ...ids.map((id) => `a:${id}`),
    );
    return values.map((v) => Number(v ?? 0));
  }

  /** Jobs waiting or running (not dead). */
  async size(installationId: string): Promise<number> {
    return this.redis.zcard(this.keys(installationId).due);
  }

  /** The due (or lease expiry) time of the job, or null when it is not waiting or running. */
  async dueAt(installationId: string, id: string): Promise<number | null> {
    const score = await this.redis.zscore(this.keys(installationId).due, id);
    return score === null ? null : Number(score);
  }
}
