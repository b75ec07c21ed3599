import type { Logger } from '../logger.ts';
import type { ActorRef } from '../store/store.ts';
import type { ChartRegistry } from './charts.ts';
import type { EffectSink } from './effect-runner.ts';
import type { SnapshotCache } from './snapshot-cache.ts';
import type { CommitListener, EngineStats } from './types.ts';
import type { Applied } from './work.ts';

/**
 * What follows a successful commit, in this order: the snapshot is cached at its new version,
 * its effects are started, and the commit listeners are told (a failing listener is logged and
 * does not stop the others).
 *
 * @example
 * afterCommit.onCommit(({ ref, after }) => metrics.observe(ref, after));
 */
export class AfterCommit {
  readonly #listeners: CommitListener[] = [];

  constructor(
    readonly charts: ChartRegistry,
    readonly cache: SnapshotCache,
    readonly effects: EffectSink,
    readonly stats: EngineStats,
    readonly logger: Logger,
  ) {}

  /** Registers a listener called after each commit of this process. */
  onCommit(listener: CommitListener): void {
    this.#listeners.push(listener);
  }

  /** Records that `applied` was committed at `version` for the actor cached under `key`. */
  committed(key: string, ref: ActorRef, applied: Applied, version: number): void {
    this.stats.commits++;
    const stored = applied.commit ? { kind: ref.kind, text: applied.commit.snapshot } : undefined;
    this.cache.remember(key, { version, snapshot: applied.final! }, stored);
    for (const effect of applied.effects) this.effects.start(effect);
    if (this.#listeners.length === 0) return;
    const after = this.charts.get(ref.kind).stepper.persist(applied.final!);
    for (const listener of this.#listeners) {
      try {
        listener({ ref, before: applied.before, after, events: applied.events });
      } catch (error) {
        this.logger.error('commit listener failed', { error: String(error) });
      }
    }
  }
}
