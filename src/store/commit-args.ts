import { EFFECT_QUEUE, type Keys, requestIdMember } from './keys.ts';
import type { ActorCommit, ActorRef } from './store.ts';

/**
 * The keys and arguments of commit-5.lua for `commits` of one installation: the five fixed keys
 * (timers, timer events, the effect queue's due/data/state), then every other key the ops
 * touch, each once, referenced from the arguments by position. See the script's header.
 */
export function commitArgs(
  keys: Keys,
  installationId: string,
  commits: readonly ActorCommit[],
  mode: 'each' | 'all',
  actorKey: (ref: ActorRef) => string,
): { keys: [string, string, string, string, string, ...string[]]; args: (string | number)[] } {
  const queue = keys.jobQueue(installationId, EFFECT_QUEUE);
  const scriptKeys: [string, string, string, string, string, ...string[]] = [
    keys.timers(installationId),
    keys.timerEvents(installationId),
    queue.due,
    queue.data,
    queue.state,
  ];
  const positions = new Map<string, number>();
  const pos = (key: string): number => {
    let p = positions.get(key);
    if (p === undefined) {
      scriptKeys.push(key);
      p = scriptKeys.length;
      positions.set(key, p);
    }
    return p;
  };
  const args: (string | number)[] = [commits.length, mode];
  for (const c of commits) {
    if (c.ref.installationId !== installationId) {
      throw new Error(`commit for ${c.ref.installationId} batched under ${installationId}`);
    }
    const ops: (string | number)[] = [];
    let opCount = 0;
    for (const t of c.timers) {
      opCount++;
      if (t.op === 'schedule') ops.push('T+', t.member, t.due, t.event);
      else if (t.op === 'cancel') ops.push('T-', t.member);
      else ops.push('TC', t.member, t.due);
    }
    for (const o of c.outbox) {
      opCount++;
      ops.push('O', o.id, o.leaseUntil, o.json);
    }
    for (const i of c.indexes) {
      opCount++;
      ops.push(i.op === 'add' ? 'I+' : 'I-', pos(keys.index(installationId, i.index)), i.member);
    }
    for (const g of c.guards ?? []) {
      opCount++;
      ops.push('IZ', pos(keys.index(installationId, g.index)), g.count);
    }
    for (const k of c.counters ?? []) {
      opCount++;
      ops.push('C', pos(keys.counter(installationId, k.hash)), k.field, k.delta);
    }
    if (c.eventLog && c.eventLog.events.length > 0) {
      for (const e of c.eventLog.events) {
        opCount++;
        ops.push('L', e, c.eventLog.max, c.eventLog.maxBytes);
      }
    }
    if (c.journal && c.journal.events.length > 0) {
      const journal = pos(keys.journal(installationId, c.ref.kind, c.ref.id));
      opCount++;
      ops.push('JK', journal, c.journal.max, c.journal.every, c.journal.initial ?? '');
      for (const e of c.journal.events) {
        opCount++;
        ops.push('J', e.json, e.plannedAt ?? '');
      }
    }
    if (c.requestIds && c.requestIds.ids.length > 0) {
      const set = pos(keys.requestIds(installationId, c.ref.kind, c.ref.id));
      for (const id of c.requestIds.ids) {
        opCount++;
        ops.push('D', set, requestIdMember(id), c.requestIds.max);
      }
    }
    for (const a of c.audit ?? []) {
      opCount++;
      const stream = pos(keys.audit(installationId, a.stream));
      ops.push('A', stream, a.member, pos(keys.auditData(installationId, a.stream)), a.json);
    }
    args.push(pos(actorKey(c.ref)), c.expectedVersion, c.snapshot, opCount, ...ops);
  }
  return { keys: scriptKeys, args };
}
