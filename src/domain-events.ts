/**
 * In-process domain events for feature modules. Emitted from effect handlers, which run from
 * the outbox at least once: every subscriber must be idempotent (each payload has a stable id).
 * `emit` awaits all subscribers, so a failing one makes the effect retry.
 */
export interface DomainEventMap {
  /** A workspace rolled back to HTTP (from the workspace chart's notifyUsers effect). */
  rollback: {
    /** The RollbackEvent's eventId: stable across retries. */
    eventId: string;
    /** The outbox effect id: stable across retries. */
    effectId: string;
    installationId: string;
    workspaceId: string;
    kind: 'rollback' | 'recovery';
    toast: { severity: 'error' | 'warning' | 'info'; title: string; body: string };
    transcriptNote: string;
    at: number;
  };
}

type Handler<T> = (payload: T) => Promise<void> | void;

export class DomainEvents {
  readonly #handlers = new Map<keyof DomainEventMap, Handler<never>[]>();

  on<K extends keyof DomainEventMap>(type: K, handler: Handler<DomainEventMap[K]>): void {
    this.#handlers.set(type, [...(this.#handlers.get(type) ?? []), handler]);
  }

  async emit<K extends keyof DomainEventMap>(type: K, payload: DomainEventMap[K]): Promise<void> {
    const handlers = (this.#handlers.get(type) ?? []) as Handler<DomainEventMap[K]>[];
    await Promise.all(handlers.map(async (h) => h(payload)));
  }
}
