import {
  AlreadyExistsError,
  InvalidTransitionError,
  NotFoundError,
  RequestIdReusedError,
} from '../errors.ts';
import type { ActorRef, Store } from '../store/store.ts';
import type { Chart } from './types.ts';
import type { Applied, Command } from './work.ts';

/** A decision not to write (as opposed to a failure): it must rest on the current version. */
export function isRefusal(error: unknown): boolean {
  return (
    error instanceof InvalidTransitionError ||
    error instanceof NotFoundError ||
    error instanceof AlreadyExistsError
  );
}

/**
 * A refused command whose request id the actor remembers is a retry of one that was applied
 * (the state has moved on since): its result becomes a duplicate answered from `applied.final`,
 * not a refusal; remembered with another body, a RequestIdReusedError.
 *
 * @example
 * await markRetriedRefusals(store, charts.get(ref.kind), ref, batch, applied);
 */
export async function markRetriedRefusals(
  store: Pick<Store, 'seenRequestIds'>,
  chart: Chart,
  ref: ActorRef,
  work: readonly Command[],
  applied: Applied,
): Promise<void> {
  const candidates = work
    .map((p, i) => ({ p, r: applied.results[i]! }))
    .filter(({ p, r }) => p.requestId !== undefined && !r.ok && isRefusal(r.error));
  if (candidates.length === 0) return;
  const seen = await store.seenRequestIds(
    ref,
    candidates.map(({ p }) => p.requestId!),
  );
  const state = applied.final ? chart.stepper.persist(applied.final) : null;
  candidates.forEach(({ p, r }, i) => {
    if (r.ok) return;
    // The id was applied with another body: that is the answer, whatever this state refuses.
    if (seen[i] === 'reused') r.error = new RequestIdReusedError(p.requestId!);
    else if (seen[i] === 'repeat' && state) r.duplicateOf = state;
  });
}
