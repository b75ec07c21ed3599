import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
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
  /** How long an unacknowledged outbox entry is left to its writer before a reaper reruns it. */
  leaseMs: number;
  /** Reruns of a failing effect before it is moved to the dead-letter set. */
  maxAttempts: number;
}

/**
 * Runs committed effects at least once: right after their commit in the committing process,
 * and again from the outbox by {@link EffectRunner.reap} when their writer did not acknowledge
 * them before their lease expired.
 *
 * @example
 * const runner = new EffectRunner({ store, logger, stats, leaseMs: 30_000, maxAttempts: 10 });
 * runner.register('notifyUsers', async (effect) => send(effect.params));
 */
export class EffectRunner implements EffectSink {
  readonly #options: EffectRunnerOptions;
  readonly #handlers: Record<string, EffectHandler>;
  readonly #running = new Set<Promise<unknown>>();

  constructor(options: EffectRunnerOptions) {
    this.#options = options;
    this.#handlers = { ...(options.handlers ?? {}) };
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

  /** Runs one effect and acknowledges it; a failure leaves it for the reaper (at least once). */
  async run(effect: Effect): Promise<boolean> {
    const { store, logger, stats } = this.#options;
    const handler = this.#handlers[effect.type];
    try {
      if (handler) await handler(effect);
      else
        logger.info('effect has no handler; recorded only', {
          type: effect.type,
          actorId: effect.actorId,
        });
      await store.ackOutbox(effect.installationId, [effect.id]);
      stats.effectsRun++;
      return true;
    } catch (error) {
      stats.effectsFailed++;
      logger.warn('effect failed; it will be retried after its lease', {
        type: effect.type,
        id: effect.id,
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    }
  }

  /**
   * Reruns outbox entries whose writer did not acknowledge them before their lease expired
   * (e.g. it crashed between commit and effect). Returns how many effects ran successfully.
   */
  async reap(now: number, limitPerInstallation: number): Promise<number> {
    const { store, leaseMs, maxAttempts } = this.#options;
    let ran = 0;
    for (const installationId of await store.installations()) {
      const claimed = await store.claimOutbox(
        installationId,
        now,
        now + leaseMs,
        limitPerInstallation,
        maxAttempts,
      );
      const results = await Promise.all(claimed.map((c) => this.run(JSON.parse(c.json) as Effect)));
      ran += results.filter(Boolean).length;
    }
    return ran;
  }
}
