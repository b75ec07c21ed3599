import { createHash } from 'node:crypto';
/**
 * Every Redis key the engine uses, built in one place.
 *
 * Keys that one commit touches share the installation's hash tag `{<installationId>}`, so each
 * Lua script addresses a single slot and the layout works unchanged on Redis Cluster. The few
 * global keys (the installation registry, the connection owner index) are only ever touched by
 * single-key commands.
 */
export class Keys {
  constructor(readonly prefix: string) {}

  #tag(installationId: string): string {
    return `${this.prefix}:{${installationId}}`;
  }

  /** Hash `v` (version) + `s` (snapshot JSON) of one actor. */
  actor(installationId: string, kind: string, actorId: string): string {
    return `${this.#tag(installationId)}:actor:${kind}:${actorId}`;
  }

  timers(installationId: string): string {
    return `${this.#tag(installationId)}:timers`;
  }

  /** Timers that failed to apply: member -> { due, reason }. */
  deadTimers(installationId: string): string {
    return `${this.#tag(installationId)}:timers-dead`;
  }

  timerEvents(installationId: string): string {
    return `${this.#tag(installationId)}:timer-events`;
  }

  /**
   * The four keys of one durable retry queue of an installation (see JobQueue and
   * commands/includes/jobQueue.lua): `effects` is the engine's outbox, `notify` holds the
   * webhook/email deliveries.
   */
  jobQueue(installationId: string, queue: string): JobQueueKeys {
    const base = `${this.#tag(installationId)}:jobs:${queue}`;
    return {
      due: `${base}:due`,
      data: `${base}:data`,
      state: `${base}:state`,
      dead: `${base}:dead`,
    };
  }

  /** Lexicographically ordered zset of actor ids, e.g. `connection:status:degraded`. */
  index(installationId: string, name: string): string {
    return `${this.#tag(installationId)}:idx:${name}`;
  }

  /** Counter hash, e.g. per-minute operation counts of a workspace. */
  counter(installationId: string, name: string): string {
    return `${this.#tag(installationId)}:count:${name}`;
  }

  /** Lex-ordered zset of an append-only audit stream (members from auditMember). */
  audit(installationId: string, stream: string): string {
    return `${this.#tag(installationId)}:audit:${stream}`;
  }

  /** member -> record JSON for an audit stream. */
  auditData(installationId: string, stream: string): string {
    return `${this.#tag(installationId)}:audit-data:${stream}`;
  }

  /**
   * The what-if journal of an actor whose binding asks for one: a capped list, oldest first, of
   * its applied events (`{"v":version,"event":...}`, with `"t":planning time` when a step that
   * started timers was planned later than its event's time, or `[version,...]` for an event
   * encoded as a JSON array) and checkpoints (`{"v":version,"checkpoint":snapshot}`, the state
   * before the next event), written by the commit script.
   */
  journal(installationId: string, kind: string, actorId: string): string {
    return `${this.#tag(installationId)}:journal:${kind}:${actorId}`;
  }

  /** Zset of the request ids an actor applied last (score = its version then), for retries. */
  requestIds(installationId: string, kind: string, actorId: string): string {
    return `${this.#tag(installationId)}:rids:${kind}:${actorId}`;
  }

  /** Installation settings (JSON). */
  settings(installationId: string): string {
    return `${this.#tag(installationId)}:settings`;
  }

  /** Global set of installations that have actors: what timer and outbox pollers walk. */
  installations(): string {
    return `${this.prefix}:installations`;
  }

  /** Global hash `<kind>:<actorId>` -> installationId, for routes addressed by actor id alone. */
  owners(): string {
    return `${this.prefix}:owners`;
  }
}

/** The keys of one retry queue of one installation (all in the installation's slot). */
export interface JobQueueKeys {
  /** Zset: job id -> when it is due (ms); while an attempt runs, when its lease expires. */
  due: string;
  /** Hash: job id -> payload. */
  data: string;
  /** Hash: `a:<id>` attempts, `c:<id>` claim token, `e:<id>` last error, `d:<id>` dead member. */
  state: string;
  /** Lex zset of dead letters, `auditMember(deadAt, id)`: newest-first pages. */
  dead: string;
}

/** The retry queue of chart effects (the outbox written by commits). */
export const EFFECT_QUEUE = 'effects';

/** The retry queue of webhook and email deliveries. */
export const NOTIFY_QUEUE = 'notify';

/** The member naming one durable timer in an installation's timer zset. */
export function timerMember(kind: string, actorId: string, sendId: string): string {
  return `${kind}:${actorId}|${sendId}`;
}

export function parseTimerMember(member: string): {
  kind: string;
  actorId: string;
  sendId: string;
} {
  const bar = member.indexOf('|');
  const head = member.slice(0, bar);
  const colon = head.indexOf(':');
  return {
    kind: head.slice(0, colon),
    actorId: head.slice(colon + 1),
    sendId: member.slice(bar + 1),
  };
}

/** Width of the zero-padded millisecond timestamp that orders audit members. */
const TS_WIDTH = 15;

/**
 * Audit members sort by time, then id: `<zero-padded ms>:<id>`. Lexicographic order equals
 * chronological order, so time ranges and cursors are plain ZRANGEBYLEX bounds.
 */
export function auditMember(at: number, id: string): string {
  return `${String(at).padStart(TS_WIDTH, '0')}:${id}`;
}

/** The lex bound just before every member at or after `at`. */
export function auditBound(at: number): string {
  return String(Math.max(0, at)).padStart(TS_WIDTH, '0');
}

/**
 * How a request id is remembered in an actor's request-id zset: a 56-bit hash of it, as a
 * decimal integer, which a listpack zset stores in at most 9 bytes (a UUID as is takes 37 and
 * more). 32 remembered UUIDs take 552 B instead of 1,640 B (MEMORY USAGE, Redis 7.0). Two ids of
 * one actor's last 32 colliding is a 1-in-10^14 event; its only effect would be one retry
 * answered as a duplicate. A key with a body's digest (`<command>:<id>#<digest>`, see
 * requestKey) is remembered as `<hash of command:id>:<digest>`.
 */
export function requestIdMember(requestId: string): string {
  const cut = requestId.indexOf('#');
  const id = cut < 0 ? requestId : requestId.slice(0, cut);
  const hashed = String(createHash('sha1').update(id).digest().readBigUInt64BE(0) >> 8n);
  // A request remembered with its body's digest (requestKey): `<hash>:<digest>`, found by its
  // `<hash>:` prefix when the body differs (commit-5.lua's D op, RedisStore.seenRequestIds).
  return cut < 0 ? hashed : `${hashed}:${requestId.slice(cut + 1)}`;
}
