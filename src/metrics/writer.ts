/**
 * Writes MetricsEnvelopes to the capped stream of each installation: buffered per tick (XADD
 * MAXLEN ~, joined to the tick's other commands by the auto-pipelining client, or one pipeline per
 * installation), and trimmed by age (XTRIM MINID ~) at most once per `trimEveryMs` per
 * installation by the flush that writes to it. Never throws to its callers: a failed write is
 * logged and counted.
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { RedisClient as Redis } from '../store/client.ts';
import type { Keys } from '../store/keys.ts';
import { ENVELOPE_FIELD, type StoredEnvelope, metricsStreamKey } from './envelopes.ts';

export interface EnvelopeWriterDeps {
  redis: Redis;
  keys: Keys;
  clock: Clock;
  logger: Logger;
  streamMaxLen: number;
  /** Envelopes older than this, by stream entry id, are trimmed. */
  retentionMs: number;
  /** Envelopes buffered or being written before new ones are dropped (and counted). */
  maxBacklog: number;
  /** Installations whose last trim time is remembered. */
  maxTracked: number;
  /** Counts envelopes by result (`written`, `failed`, `dropped`). */
  counter: { inc(labels: { result: string }, value?: number): void };
}

interface Batch {
  items: StoredEnvelope[];
  done: Promise<void>;
  resolve(): void;
}

export class EnvelopeWriter {
  readonly #deps: EnvelopeWriterDeps;
  /** How often each installation's stream is trimmed by age (per process). */
  readonly #trimEveryMs: number;
  /** Installation id -> clock time of its stream's last trim by age (insertion order = recency). */
  readonly #trimmedAt = new Map<string, number>();
  readonly #inFlight = new Set<Promise<void>>();
  #inFlightItems = 0;
  #batch: Batch | null = null;
  readonly #autoPipelined: boolean;

  constructor(deps: EnvelopeWriterDeps) {
    this.#deps = deps;
    this.#trimEveryMs = Math.min(60_000, Math.max(1000, Math.floor(deps.retentionMs / 10)));
    this.#autoPipelined = deps.redis.options?.enableAutoPipelining === true;
  }

  /** Queues an envelope; resolves once its batch was written or failed, never rejects. */
  enqueue(envelope: StoredEnvelope): Promise<void> {
    if (this.#inFlightItems + (this.#batch?.items.length ?? 0) >= this.#deps.maxBacklog) {
      this.#deps.counter.inc({ result: 'dropped' });
      return Promise.resolve();
    }
    if (!this.#batch) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      this.#batch = { items: [], done, resolve };
      setImmediate(() => this.#flush());
    }
    this.#batch.items.push(envelope);
    return this.#batch.done;
  }

  /**
   * Writes the buffered envelopes of this tick. With an auto-pipelining client (as
   * connectRedis makes) the XADDs join the tick's one write; otherwise one explicit pipeline
   * per installation (each stays within one Cluster slot).
   */
  #flush(): void {
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = null;
    const { redis, keys, streamMaxLen, logger } = this.#deps;
    const groups = new Map<string, StoredEnvelope[]>();
    for (const e of batch.items) {
      const group = groups.get(e.installationId);
      if (group) group.push(e);
      else groups.set(e.installationId, [e]);
    }
    const size = batch.items.length;
    this.#inFlightItems += size;
    const writes = [...groups].map(async ([installationId, items]) => {
      const key = metricsStreamKey(keys, installationId);
      const args = (e: StoredEnvelope) =>
        ['MAXLEN', '~', streamMaxLen, '*', ENVELOPE_FIELD, JSON.stringify(e)] as const;
      let written = 0;
      let firstError: unknown = null;
      /** The newest entry id written: the trim's "now", in the stream's own (Redis) time. */
      let newest: unknown = null;
      if (this.#autoPipelined) {
        // The client already sends every command of this tick in one write, together with the
        // engine's own commands: no extra round trip or syscall for the envelopes.
        for (const r of await Promise.allSettled(items.map((e) => redis.xadd(key, ...args(e))))) {
          if (r.status === 'fulfilled') {
            written++;
            newest = r.value;
          } else firstError ??= r.reason;
        }
      } else {
        const pipeline = redis.pipeline();
        for (const e of items) pipeline.xadd(key, ...args(e));
        try {
          for (const [error, id] of (await pipeline.exec()) ?? []) {
            if (error) firstError ??= error;
            else {
              written++;
              newest = id;
            }
          }
        } catch (error) {
          firstError = error;
        }
      }
      if (written > 0) this.#deps.counter.inc({ result: 'written' }, written);
      if (written < items.length) {
        this.#deps.counter.inc({ result: 'failed' }, items.length - written);
        logger.error('metrics envelopes not written', {
          installationId,
          failed: items.length - written,
          error: firstError instanceof Error ? firstError.message : 'no reply',
        });
      }
      await this.#trimByAge(installationId, key, newest);
    });
    const run = Promise.all(writes)
      .then(() => undefined)
      .catch((error: unknown) => logger.error('metrics flush failed', { error: String(error) }))
      .finally(() => {
        this.#inFlightItems -= size;
        this.#inFlight.delete(run);
        batch.resolve();
      });
    this.#inFlight.add(run);
  }

  /**
   * Trims an installation's stream to the envelopes of the last `retentionMs` before `newestId`
   * (whole stream nodes only: `MINID ~`), at most once per `trimEveryMs` per installation. The
   * bound is taken from the entry id, so it is in the stream's own time whatever the clock. A
   * failure is logged: the length cap (MAXLEN ~) still holds.
   */
  async #trimByAge(installationId: string, key: string, newestId: unknown): Promise<void> {
    if (typeof newestId !== 'string') return;
    const now = this.#deps.clock.now();
    const last = this.#trimmedAt.get(installationId);
    if (last !== undefined && now - last < this.#trimEveryMs) return;
    this.#trimmedAt.delete(installationId);
    this.#trimmedAt.set(installationId, now);
    if (this.#trimmedAt.size > this.#deps.maxTracked) {
      const oldest = this.#trimmedAt.keys().next().value;
      if (oldest !== undefined) this.#trimmedAt.delete(oldest);
    }
    const minId = Number.parseInt(newestId, 10) - this.#deps.retentionMs;
    if (!(minId > 0)) return;
    try {
      await this.#deps.redis.xtrim(key, 'MINID', '~', minId);
    } catch (error) {
      this.#deps.logger.warn('metrics stream not trimmed by age', {
        installationId,
        error: String(error),
      });
    }
  }

  /** Writes what is buffered now and waits for every write in flight. */
  async idle(): Promise<void> {
    this.#flush();
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }
}
