import type { ActorRef, Store } from '../store/store.ts';
import type { Outcome } from './types.ts';
import type { Pending, Work } from './work.ts';

/** Applies one batch of an actor's commands and answers each of them. */
export interface BatchProcessor {
  /** Answers every command of `batch`; a rejection rejects the commands not yet answered. */
  process(key: string, ref: ActorRef, batch: Pending[]): Promise<void>;
}

/**
 * Commands of one actor applied in one commit at most; more wait for the next. A commit's
 * script call carries an argument or more per command (journal entries, request ids), and one
 * of tens of thousands of arguments overflows the stack inside ioredis (16 batches of 1,000
 * heartbeats for one connection, sent at once, did).
 */
export const MAX_BATCH = 500;

interface Slot {
  ref: ActorRef;
  queue: Pending[];
  running: boolean;
}

/**
 * One queue per actor in this process: the commands for an actor that arrive while a batch of
 * it is being applied wait, and are applied together as the next batch (at most
 * {@link MAX_BATCH}). So one process never
 * races itself on an actor, and a hot actor costs far fewer commits than it gets commands.
 *
 * @example
 * const mailbox = new Mailbox(store, actorLoop);
 * const outcome = await mailbox.enqueue(ref, { kind: 'event', event });
 */
export class Mailbox {
  readonly #slots = new Map<string, Slot>();

  constructor(
    readonly store: Pick<Store, 'actorKey'>,
    readonly processor: BatchProcessor,
  ) {}

  /** Queues a command for `ref`; resolves with its committed outcome. */
  enqueue(ref: ActorRef, work: Work, requestId?: string): Promise<Outcome> {
    const key = this.store.actorKey(ref);
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = { ref, queue: [], running: false };
      this.#slots.set(key, slot);
    }
    const promise = new Promise<Outcome>((resolve, reject) =>
      slot.queue.push({ work, requestId, resolve, reject }),
    );
    if (!slot.running) {
      slot.running = true;
      void this.#drain(key, slot);
    }
    return promise;
  }

  async #drain(key: string, slot: Slot): Promise<void> {
    try {
      while (slot.queue.length > 0) {
        const batch = slot.queue.splice(0, MAX_BATCH);
        try {
          await this.processor.process(key, slot.ref, batch);
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      slot.running = false;
      this.#slots.delete(key);
    }
  }
}
