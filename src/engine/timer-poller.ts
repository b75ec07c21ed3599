import { storeUnavailable } from '../store/errors.ts';
import type { EventObject } from 'xstate';
import { ContentionError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import type { Mailbox } from './mailbox.ts';
import { TimerGone } from './work.ts';

/**
 * Fires durable timers (XState `after`, persisted as rows in the store) through the actors'
 * mailboxes, so a timer event is batched and compare-and-set like any command. The commit
 * consumes the timer atomically, so each fires once however many processes poll.
 *
 * @example
 * const poller = new TimerPoller(store, mailbox, logger);
 * setInterval(() => void poller.fireDue(clock.now(), 500), 1000);
 */
export class TimerPoller {
  constructor(
    readonly store: Store,
    readonly mailbox: Pick<Mailbox, 'enqueue'>,
    readonly logger: Logger,
  ) {}

  /** Fires every timer due at `now`, across all installations; returns how many it fired. */
  async fireDue(now: number, limitPerInstallation: number): Promise<number> {
    let fired = 0;
    for (const installationId of await this.store.installations()) {
      const due = await this.store.dueTimers(installationId, now, limitPerInstallation);
      const outcomes = await Promise.allSettled(
        due.map(async (t) => {
          const event = (t.event ? JSON.parse(t.event) : { type: t.sendId }) as EventObject & {
            at?: number;
          };
          event.at ??= t.due;
          return this.mailbox.enqueue(
            { kind: t.kind, installationId, id: t.actorId },
            { kind: 'timer', event, member: t.member, due: t.due },
          );
        }),
      );
      for (const [i, o] of outcomes.entries()) {
        if (o.status === 'fulfilled') fired++;
        else if (!(o.reason instanceof TimerGone)) {
          const t = due[i]!;
          if (isTransient(o.reason)) {
            this.logger.warn('timer not fired yet; retrying on the next poll', {
              member: t.member,
              error: String(o.reason),
            });
            continue;
          }
          // A timer that cannot be applied (unknown actor, corrupt event, failing action) would
          // come back on every poll and starve the others: it is moved aside, with the reason.
          this.logger.error('timer failed; moved to the dead timers', {
            member: t.member,
            error: String(o.reason),
          });
          await this.store.deadLetterTimer(installationId, t.member, t.due, String(o.reason));
        }
      }
    }
    return fired;
  }
}

/** Failures worth retrying (contention, Redis unavailable), as opposed to a broken timer. */
function isTransient(error: unknown): boolean {
  return error instanceof ContentionError || storeUnavailable(error) !== null;
}
