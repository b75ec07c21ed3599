import type { Logger } from '../logger.ts';
import type { ClaimedJob, RetryPolicy, RetryQueue, Store } from '../store/store.ts';
import { INTERRUPTED } from '../store/job-queue.ts';
import type { Effect, EffectHandler, EngineStats } from './types.ts';

/** Starts the effects a commit wrote to the outbox. */
export interface EffectSink {
  start(effect: Effect): void;
}

/** Options of the {@link EffectRunner}. */
export interface EffectRunnerOptions {
  store: Store;
  logger: Logger;
  stats: EngineStats;
  /** Named chart actions, by name. Actions without a handler are logged. */
  handlers?: Record<string, EffectHandler>;
  /** The injected clock's now. */
  now: () => number;
  /**
   * How effects are retried: `leaseMs` is how long an unacknowledged outbox entry is left to
   * its writer (or claimer) before a reaper reruns it; a failing effect is retried after
   * `baseDelayMs * 2^(attempt-1)` and dead-lettered after `maxAttempts` attempts in all.
   */
  retry: RetryPolicy;
}

/** Stored errors are cut to this length. */
const MAX_ERROR = 500;

/**
 * Runs committed effects at least once through the store's effect queue (the outbox, a
 * JobQueue): the first attempt right after the commit in the committing process (the commit
 * claimed it for its writer), further ones from {@link EffectRunner.reap}: after a failure with
 * exponential backoff, and after a crash once the lease expired.
 *
 * @example
 * const runner = new EffectRunner({ store, logger, stats, now: () => clock.now(), retry: { leaseMs: 30_000, maxAttempts: 10, baseDelayMs: 5000 } });
 * runner.register('notifyUsers', async (effect) => send(effect.params));
 */
export class EffectRunner implements EffectSink {
  readonly #options: EffectRunnerOptions;
  readonly #handlers: Record<string, EffectHandler>;
  readonly #running = new Set<Promise<unknown>>();
  readonly #queue: RetryQueue;

  constructor(options: EffectRunnerOptions) {
    this.#options = options;
    this.#handlers = { ...(options.handlers ?? {}) };
    this.#queue = options.store.effectQueue(options.retry);
  }

  /** Adds (or replaces) the handler of a named chart action. */
  register(type: string, handler: EffectHandler): void {
    this.#handlers[type] = handler;
  }

  /** Runs an effect in the background; {@link idle} waits for it. */
  start(effect: Effect): void {
    const run = this.run(effect).finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  /** Resolves when every effect started by this runner has finished. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /**
   * Runs one attempt of an effect and records its outcome: done, or retried later (or
   * dead-lettered). Without `claim` this is the writer's first attempt, claimed by its commit.
   */
  async run(effect: Effect, claim?: ClaimedJob): Promise<boolean> {
    const { logger, stats, now } = this.#options;
    const job = claim ?? { id: effect.id, attempt: 1, data: '', token: effect.id };
    const handler = this.#handlers[effect.type];
    try {
      if (handler) await handler(effect);
      else
        logger.info('effect has no handler; recorded only', {
          type: effect.type,
          actorId: effect.actorId,
        });
    } catch (error) {
      stats.effectsFailed++;
      const message = (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR);
      const outcome = await this.#queue
        .fail(effect.installationId, job, message, now())
        .catch(() => null);
      logger.warn(
        outcome === 'dead-lettered'
          ? 'effect failed; it is dead-lettered'
          : 'effect failed; it will be retried',
        { type: effect.type, id: effect.id, attempt: job.attempt, error: message },
      );
      return false;
    }
    // A lost claim (a reaper took the effect over after the lease) or a store error leaves the
    // effect to the queue: it may run again (at least once).
    await this.#queue.complete(effect.installationId, job, now()).catch((error: unknown) => {
      logger.warn('effect ran but could not be acknowledged; it may run again', {
        type: effect.type,
        id: effect.id,
        error: error instanceof Error ? error.message : String(error),
      });
    });
    stats.effectsRun++;
    return true;
  }

  /**
   * Runs the effects whose time has come again: retries after their backoff, and entries whose
   * writer or claimer did not report before the lease expired (e.g. it crashed between commit
   * and effect). Returns how many effects ran successfully.
   */
  async reap(now: number, limitPerInstallation: number): Promise<number> {
    let ran = 0;
    for (const installationId of await this.#options.store.installations()) {
      const claimed = await this.#queue.claim(installationId, now, limitPerInstallation, (job) =>
        this.#options.logger.warn('effect interrupted on its last attempt', {
          installationId,
          type: (JSON.parse(job.data) as Effect).type,
          id: job.id,
          attempt: job.attempt,
          error: INTERRUPTED,
        }),
      );
      const results = await Promise.all(
        claimed.map((job) => this.run(JSON.parse(job.data) as Effect, job)),
      );
      ran += results.filter(Boolean).length;
    }
    return ran;
  }
}
