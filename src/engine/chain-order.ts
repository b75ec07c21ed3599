/**
 * In what order a chain takes its work (src/engine/chain.ts): how many waiting sources one chain
 * takes, and in which order a receiver takes the events routed to it across rounds.
 */

/**
 * Commands of its sources one chain takes at most (at least one source); the rest wait for the
 * next. Each source's commands cause about as many routed events (a heartbeat's report to its
 * workspace), and every one is an argument or more of the chain's one script call: bursts of
 * tens of thousands of heartbeats of one installation must not make one call of them.
 */
export const MAX_CHAIN_COMMANDS = 1000;

/** How many of `waiting`, from the first, fit in `budget` commands (at least one). */
export function sourcesWithin(
  waiting: readonly { work: readonly unknown[] }[],
  budget: number,
): number {
  let commands = waiting[0]?.work.length ?? 0;
  let n = 1;
  while (n < waiting.length && commands + waiting[n]!.work.length <= budget) {
    commands += waiting[n]!.work.length;
    n++;
  }
  return n;
}

/**
 * The order in which a receiver takes its routed events: those it was given in earlier rounds
 * keep their places, and the ones emitted since come after them (by actor, then emission). A
 * round's new events were caused by what earlier rounds delivered (a connection's `rolledBack`
 * report answers the workspace's ROLLBACK), so they must not be slotted in before it by actor
 * order: the workspace would see a connection leave before the decision that sent it away.
 *
 * @example
 * causalOrder(['c1#0', 'c2#0'], ['c1#0', 'c1#1', 'c2#0', 'c2#1']); // ['c1#0', 'c2#0', 'c1#1', 'c2#1']
 */
export function causalOrder(delivered: readonly string[], current: readonly string[]): string[] {
  const now = new Set(current);
  const kept = delivered.filter((tag) => now.has(tag));
  const seen = new Set(kept);
  return [...kept, ...current.filter((tag) => !seen.has(tag))];
}

export function sameTags(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
