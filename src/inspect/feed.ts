/**
 * What one inspector socket is sent: the actor it follows (`@xstate.actor`, then its recent
 * history), and a live `@xstate.event`/`@xstate.snapshot` pair for every persisted transition,
 * from every process, read from the transitions pub/sub channel. One Redis subscription per
 * process serves every socket.
 */
import type { WebSocket } from 'ws';
import type { Principal } from '../connections/connections.ts';
import { canAccess } from '../connections/connections.ts';
import type { Engine } from '../engine/engine.ts';
import { EVENT_LOG_SIZE } from '../engine/types.ts';
import type { PersistedState } from '../engine/step.ts';
import type { ModuleContext } from '../module-context.ts';
import { type RedisClient, subscriberFor } from '../store/client.ts';
import type { ActorRef } from '../store/redis-store.ts';
import { parseLiveMessage } from '../http/live-events.ts';
import { transitionChannel } from './actors.ts';
import {
  type EventFrame,
  type InspectionFrame,
  actorFrame,
  eventFrame,
  snapshotFrame,
} from './frames.ts';
import type { TransitionMessage } from './actors.ts';

type Read = Awaited<ReturnType<Engine['read']>>;
type LoggedEvent = EventFrame['event'] & { at?: unknown; _state?: unknown; _v?: unknown };

const sessionOf = (ref: ActorRef) => `${ref.kind}:${ref.id}`;

/**
 * One open inspector socket. Its work (the history, then each transition) runs in order on one
 * chain, so frames leave in the order the transitions were published.
 */
export class Viewer {
  /** The version of the last snapshot sent, per actor: an older or equal one is not sent again. */
  readonly #sent = new Map<string, number>();
  /**
   * The version of the last transition whose events were sent (or that the history covered),
   * per actor: each published transition's events are sent once, even when its snapshot is not.
   */
  readonly #told = new Map<string, number>();
  /**
   * The `createdAt` of the last frame sent, per actor. A logged event's time is not always later
   * than the one before it (a heartbeat carries the client's `timestamp`), and processes' clocks
   * differ: an actor's frames never go back in time, as the package's own (`Date.now()`) do not.
   */
  readonly #lastAt = new Map<string, number>();
  #chain: Promise<void> = Promise.resolve();

  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
    /** The one actor followed (`?actor=`), or null for every actor the token may see. */
    readonly watch: ActorRef | null,
    readonly ctx: ModuleContext,
  ) {}

  /** Whether this viewer is shown a transition of `m`'s actor. */
  follows(m: TransitionMessage): boolean {
    return this.watch
      ? sessionOf(this.watch) === m.actorId && this.watch.installationId === m.installationId
      : canAccess(this.principal, m.installationId);
  }

  /** Runs `task` after the viewer's earlier work; a failure closes the socket (1011). */
  enqueue(task: () => Promise<void>): void {
    this.#chain = this.#chain.then(task).catch((error: unknown) => {
      this.ctx.logger.warn('an inspector socket failed', { error: String(error) });
      this.ws.close(1011, 'inspection failed; reconnect');
    });
  }

  /** `at`, or the actor's last frame time when that is later. */
  #at(sessionId: string, at: number): number {
    const t = Math.max(at, this.#lastAt.get(sessionId) ?? at);
    this.#lastAt.set(sessionId, t);
    return t;
  }

  /**
   * Sends one frame as one JSON text frame (the receivers parse every text frame). A client
   * that leaves more than `streams.bufferBytes` unsent is disconnected, as SSE clients are.
   */
  send(frame: InspectionFrame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const limit = this.ctx.config.streams.bufferBytes;
    if (this.ws.bufferedAmount > limit) {
      this.ctx.logger.warn('disconnected an inspector client that does not read', {
        bufferedBytes: this.ws.bufferedAmount,
        limitBytes: limit,
      });
      this.ws.terminate();
      return;
    }
    this.ws.send(JSON.stringify(frame));
  }

  /**
   * The followed actor as it is persisted now, and its recent history, oldest first: each logged
   * event as an `@xstate.event` followed by the `@xstate.snapshot` it led to (its state value;
   * the context only for the last, which is the persisted snapshot).
   */
  async history(ref: ActorRef): Promise<void> {
    const { ctx } = this;
    const [found, log] = await Promise.all([
      ctx.engine.read(ref),
      ctx.store.eventLog(ref, EVENT_LOG_SIZE),
    ]);
    if (!found) {
      this.ws.close(1008, 'actor not found');
      return;
    }
    const sessionId = sessionOf(ref);
    const events = log.map((e) => JSON.parse(e) as LoggedEvent).reverse();
    const timeOf = (e: LoggedEvent | undefined) =>
      typeof e?.at === 'number' ? e.at : ctx.clock.now();
    const machine = ctx.engine.chart(ref.kind).binding.machine;
    // The actor is announced before its history: at its oldest logged event's time.
    const first = events.length === 0 ? ctx.clock.now() : Math.min(...events.map(timeOf));
    this.send(actorFrame(sessionId, machine, found.state, this.#at(sessionId, first)));
    // Each logged event with the state it led to: an event/snapshot pair per step. The log keeps
    // the state value after each event, not the context, so earlier snapshots carry the value
    // only; the last one is the persisted snapshot, context included.
    events.forEach((e, i) => {
      const { _state, _v, ...event } = e;
      const at = this.#at(sessionId, timeOf(e));
      this.send(eventFrame(sessionId, event, at));
      const state =
        i === events.length - 1 || _state === undefined
          ? found.state
          : { value: _state as PersistedState['value'], context: {} };
      this.send(snapshotFrame(sessionId, event, state, at));
    });
    this.#sent.set(sessionId, found.version);
    this.#told.set(sessionId, found.version);
  }

  /**
   * One persisted transition: its events and the actor's persisted snapshot (read once per
   * transition for every viewer: `read`). An actor seen for the first time is announced first.
   * When transitions come faster than they are read, a snapshot may already show a later one;
   * a snapshot not newer than the last one sent is not sent again, but the transition's events
   * are, unless the history already showed them.
   */
  transition(m: TransitionMessage, ref: ActorRef, found: NonNullable<Read>): void {
    const at = this.#at(m.actorId, Date.parse(m.at));
    const last = this.#sent.get(m.actorId);
    if (last === undefined) {
      const machine = this.ctx.engine.chart(ref.kind).binding.machine;
      this.send(actorFrame(m.actorId, machine, found.state, at));
    }
    const events = m.events.map((type) => ({ type }));
    if (m.version > (this.#told.get(m.actorId) ?? 0)) {
      this.#told.set(m.actorId, m.version);
      for (const e of events) this.send(eventFrame(m.actorId, e, at));
    }
    if (last !== undefined && found.version <= last) return;
    this.#sent.set(m.actorId, found.version);
    // A creation has no event of its own: its snapshot names XState's initial event, as an
    // actor started in XState does.
    this.send(snapshotFrame(m.actorId, events.at(-1) ?? { type: 'xstate.init' }, found.state, at));
  }
}

/** The transitions channel, fanned out to this process's viewers. */
export class TransitionFeed {
  readonly #viewers = new Set<Viewer>();
  #sub: RedisClient | null = null;
  #subscribed: Promise<unknown> | null = null;

  constructor(readonly ctx: ModuleContext) {}

  /** Adds a viewer; resolves once it receives every transition published from then on. */
  async add(viewer: Viewer): Promise<void> {
    this.#viewers.add(viewer);
    viewer.ws.once('close', () => this.#viewers.delete(viewer));
    if (!this.#subscribed) {
      const sub = (this.#sub = subscriberFor(this.ctx.redis, this.ctx.logger));
      sub.on('message', (_channel: string, raw: string) => this.#dispatch(raw));
      this.#subscribed = sub.subscribe(transitionChannel(this.ctx)).catch((error: unknown) => {
        // The next socket tries again.
        this.close();
        throw error;
      });
    }
    await this.#subscribed;
  }

  #dispatch(raw: string): void {
    let m: TransitionMessage;
    try {
      // `<stream id> <event JSON>` (src/http/live-events.ts), shared with the SSE streams.
      m = JSON.parse(parseLiveMessage(raw)?.payload ?? raw) as TransitionMessage;
    } catch {
      this.ctx.logger.warn('ignored a malformed transition message');
      return;
    }
    const viewers = [...this.#viewers].filter((v) => v.follows(m));
    if (viewers.length === 0) return;
    const ref: ActorRef = {
      kind: m.kind,
      installationId: m.installationId,
      id: m.actorId.slice(m.kind.length + 1),
    };
    const read = this.ctx.engine.read(ref);
    // Handled by each viewer's chain; this keeps an early failure from being unhandled.
    read.catch(() => undefined);
    for (const viewer of viewers) {
      viewer.enqueue(async () => {
        const found = await read;
        if (found) viewer.transition(m, ref, found);
      });
    }
  }

  close(): void {
    this.#viewers.clear();
    this.#sub?.disconnect();
    this.#sub = null;
    this.#subscribed = null;
  }
}
