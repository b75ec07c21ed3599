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

  timerEvents(installationId: string): string {
    return `${this.#tag(installationId)}:timer-events`;
  }

  outbox(installationId: string): string {
    return `${this.#tag(installationId)}:outbox`;
  }

  outboxData(installationId: string): string {
    return `${this.#tag(installationId)}:outbox-data`;
  }

  /** Lexicographically ordered zset of actor ids, e.g. `connection:status:degraded`. */
  index(installationId: string, name: string): string {
    return `${this.#tag(installationId)}:idx:${name}`;
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
