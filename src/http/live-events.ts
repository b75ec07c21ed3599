/**
 * Live events that a client can resume (toasts, transitions), on top of the one SSE
 * implementation (./sse.ts).
 *
 * Every event is appended to a bounded Redis Stream per installation and kind (the last
 * `STREAM_REPLAY_EVENTS` entries, under the installation's hash tag), and published with its
 * stream id in the same Lua step (`appendLiveEvent`). The stream id is the event's SSE `id:`. A
 * client that sends `Last-Event-ID` (or `?lastEventId=`) to any process gets the events after
 * that id read from Redis, then the live ones, without repeats or gaps:
 *
 * 1. the process's pub/sub subscription is live before anything is read, so every event not in
 *    the read arrives live;
 * 2. live events are held while the stream replays, then only those with a larger id are sent;
 * 3. the stream joins the shared group (one encoding and one write per batch for all viewers)
 *    once a live event newer than everything it was sent has arrived: pub/sub delivers one
 *    installation's events in id order, so nothing older can arrive after that.
 *
 * Each entry records the id of the entry before it, so an id whose successors were trimmed, and an
 * id that was never an entry of the stream, are detected exactly: the client gets `event: reset`
 * (`too-old`, `unknown-id`) and then every retained event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type RedisClient, subscriberFor } from '../store/client.ts';
import { commands } from '../store/scripts.ts';
import {
  type EventStream,
  type EventStreamOptions,
  type StreamLimits,
  StreamGroup,
  answerHead,
  openEventStream,
} from './sse.ts';
import { parse } from './validate.ts';

/** A stream entry id as Redis prints it: `<ms>-<seq>`, both unsigned 64-bit. */
const STREAM_ID = /^(\d{1,20})-(\d{1,20})$/;
const U64_MAX = 2n ** 64n - 1n;

function parts(id: string): [bigint, bigint] | null {
  const m = STREAM_ID.exec(id);
  if (!m) return null;
  const ms = BigInt(m[1]!);
  const seq = BigInt(m[2]!);
  return ms <= U64_MAX && seq <= U64_MAX ? [ms, seq] : null;
}

/** Whether `s` is a Redis stream id (`1764072000000-0`). */
export function isStreamId(s: string): boolean {
  return parts(s) !== null;
}

/** Orders two stream ids: negative when `a` is older than `b`. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = parts(a) ?? [0n, 0n];
  const [bm, bs] = parts(b) ?? [0n, 0n];
  return am === bm ? Number(as - bs) || 0 : am < bm ? -1 : 1;
}

/**
 * The smallest stream id strictly after `id`, so XRANGE can start after a cursor on any Redis
 * version (the `(` exclusive form needs 6.2). Returns null after the largest possible id.
 */
export function nextStreamId(id: string): string | null {
  const p = parts(id);
  if (!p) throw new Error(`not a stream id: ${id}`);
  const [ms, seq] = p;
  if (seq < U64_MAX) return `${ms}-${seq + 1n}`;
  if (ms < U64_MAX) return `${ms + 1n}-0`;
  return null;
}

/**
 * The query parameters a live stream takes: the token (`access_token`, for EventSource, which
 * cannot send headers) and `lastEventId`. Their values are checked where they are read
 * (authentication, lastEventIdOf); any other parameter is refused, 400 naming each, as
 * `GET /v1/inspect` refuses one.
 */
export const streamQuery = z.strictObject({
  access_token: z.unknown().optional(),
  lastEventId: z.unknown().optional(),
});

/**
 * Refuses (400 naming each) a query parameter no live stream takes. Stream routes call it before
 * they look anything up, as every route parses its query first; LiveEventHub.attach calls it
 * again, so no stream opens with one whichever route attaches it.
 */
export function checkStreamQuery(req: Request): void {
  parse(streamQuery, req.query, 'query');
}

/**
 * The id a client resumes after: the `Last-Event-ID` header (what EventSource sends when it
 * reconnects), else `?lastEventId=` (for clients that cannot set headers), else null. Throws a
 * 400 naming the field when it is not a stream id.
 */
export function lastEventIdOf(req: Request): string | null {
  const header = req.headers['last-event-id'];
  if (typeof header === 'string' && header !== '') return checkedId(header, 'Last-Event-ID');
  const query: unknown = req.query.lastEventId;
  if (query === undefined) return null;
  return checkedId(typeof query === 'string' ? query : '', 'lastEventId');
}

function checkedId(value: string, field: string): string {
  if (isStreamId(value.trim())) return value.trim();
  const message = 'must be the id of an event of this stream, such as 1764072000000-0';
  throw new ValidationError(`${field} ${message}`, {
    in: field === 'lastEventId' ? 'query' : 'header',
    fields: [{ field, message }],
  });
}

/**
 * A message of a live-event channel (`<prefix>:transitions`, `<prefix>:notify:toasts`) is
 * `<stream id> <event JSON>`; null when it is not. For other subscribers of those channels.
 *
 * @example
 * parseLiveMessage('1764072000000-0 {"actorId":"connection:c1"}');
 * // { id: '1764072000000-0', payload: '{"actorId":"connection:c1"}' }
 */
export function parseLiveMessage(raw: string): { id: string; payload: string } | null {
  const space = raw.indexOf(' ');
  const id = raw.slice(0, space);
  return space > 0 && isStreamId(id) ? { id, payload: raw.slice(space + 1) } : null;
}

/** One kind of live event: its SSE name, where it is kept, and which viewers receive it. */
export interface LiveEventKind<T> {
  /** The SSE `event:` name, e.g. `toast`. */
  event: string;
  /** Names the stream in logs, e.g. `toasts`. */
  name: string;
  /** Pub/sub channel shared by every process. */
  channel: string;
  /** The installation's replay stream (under its hash tag, like every per-installation key). */
  streamKey(installationId: string): string;
  /** The viewer groups an event goes to, e.g. its installation and installation + session. */
  groupsOf(event: T): string[];
}

/** What a viewer watches: a group of groupsOf in one installation. */
export interface LiveWatch {
  installationId: string;
  group: string;
}

/** A stream that is replaying or has not yet seen a live event newer than what it was sent. */
interface CatchUp {
  stream: EventStream;
  /** The newest id sent (or resumed after); older live events were sent already. */
  lastId: string;
  /** Live events held while the replay runs; null once it is done. */
  held: { id: string; frame: Buffer }[] | null;
}

/** Entries read per XRANGE while replaying. */
const REPLAY_PAGE = 200;

type Entry = { id: string; prev: string; payload: string };

/**
 * @example
 * const hub = new LiveEventHub(redis, logger, toastEvents(keys), config.streams);
 * await hub.start();
 * await hub.attach(req, res, { installationId: 'inst-a', group: 'inst-a' }, { streams, owner });
 * await hub.append('inst-a', toast); // what the notify script does for toasts
 */
export class LiveEventHub<T> {
  readonly #groups = new Map<string, StreamGroup>();
  readonly #catchingUp = new Map<string, Set<CatchUp>>();
  readonly #streams = new Set<EventStream>();
  #sub: RedisClient | null = null;
  #ready: Promise<unknown> | null = null;
  readonly #appending = new Set<Promise<unknown>>();

  constructor(
    readonly redis: RedisClient,
    readonly logger: Logger,
    readonly kind: LiveEventKind<T>,
    readonly limits: StreamLimits,
  ) {}

  /** Subscribes to the channel (once); resolves when every event published from now arrives. */
  start(): Promise<unknown> {
    if (this.#ready) return this.#ready;
    const sub = subscriberFor(this.redis, this.logger);
    sub.on('message', (_channel: string, raw: string) => this.#dispatch(raw));
    this.#sub = sub;
    this.#ready = sub.subscribe(this.kind.channel).catch((error: unknown) => {
      // The next stream tries again.
      this.#ready = null;
      this.#sub = null;
      sub.disconnect();
      throw error;
    });
    return this.#ready;
  }

  /** Records an event for replay and publishes it to every process; resolves to its id. */
  append(installationId: string, event: T): Promise<string> {
    const appended = commands.appendLiveEvent(
      this.redis,
      [this.kind.streamKey(installationId)],
      [this.limits.replayEvents, this.kind.channel, JSON.stringify(event)],
    );
    const settled = appended.catch(() => undefined).finally(() => this.#appending.delete(settled));
    this.#appending.add(settled);
    return appended;
  }

  /** Resolves when every append started so far has finished (before shutdown closes Redis). */
  async idle(): Promise<void> {
    while (this.#appending.size > 0) await Promise.allSettled([...this.#appending]);
  }

  /** Open streams of this hub in this process. */
  clientCount(): number {
    return this.#streams.size;
  }

  /**
   * Turns the response into an SSE stream of the events of `watch.group`: first, when the
   * request names a last event id, the events after it (or `event: reset` and every retained
   * event when some were trimmed or the id is not one of the stream's), then live ones. Throws
   * before writing anything on an unknown query parameter or a bad id (400) or beyond the
   * open-stream limits (429). A HEAD
   * request gets the headers alone and ends (see answerHead): it opens nothing.
   */
  async attach(
    req: Request,
    res: ServerResponse,
    watch: LiveWatch,
    options: Pick<EventStreamOptions, 'streams' | 'owner'> = {},
  ): Promise<void> {
    checkStreamQuery(req);
    const lastEventId = lastEventIdOf(req);
    // HEAD (which Express routes to the GET handlers): the headers only, no subscription.
    if (req.method === 'HEAD') {
      answerHead(res, { ...options, limits: this.limits });
      return;
    }
    const stream = openEventStream(req as IncomingMessage, res, {
      ...options,
      limits: this.limits,
      logger: this.logger,
      name: this.kind.name,
    });
    this.#streams.add(stream);
    stream.onClose(() => this.#streams.delete(stream));
    try {
      await this.start();
      if (lastEventId !== null) await this.#resume(watch, stream, lastEventId);
      else this.#join(watch.group, stream);
    } catch (error) {
      // The headers are sent: end the stream; the client reconnects after `retry`.
      this.logger.warn('a live stream could not start', {
        stream: this.kind.name,
        error: String(error),
      });
      stream.end();
      return;
    }
    // The subscription is live (and any replay sent): every later event reaches the client.
    stream.send(': connected\n\n');
  }

  /** Ends every stream and closes the subscriber connection. */
  stop(): void {
    for (const stream of [...this.#streams]) stream.end();
    this.#streams.clear();
    this.#groups.clear();
    this.#catchingUp.clear();
    this.#sub?.disconnect();
    this.#sub = null;
    this.#ready = null;
  }

  #frame(id: string, payload: string): Buffer {
    return Buffer.from(`id: ${id}\nevent: ${this.kind.event}\ndata: ${payload}\n\n`);
  }

  #join(group: string, stream: EventStream): void {
    let g = this.#groups.get(group);
    if (!g) this.#groups.set(group, (g = new StreamGroup()));
    // Frames queued before this stream joined are not for it.
    g.flush();
    g.add(stream);
    const joined = g;
    stream.onClose(() => {
      if (joined.size === 0 && this.#groups.get(group) === joined) this.#groups.delete(group);
    });
  }

  async #resume(watch: LiveWatch, stream: EventStream, lastEventId: string): Promise<void> {
    const c: CatchUp = { stream, lastId: lastEventId, held: [] };
    let set = this.#catchingUp.get(watch.group);
    if (!set) this.#catchingUp.set(watch.group, (set = new Set()));
    set.add(c);
    const leave = () => {
      const s = this.#catchingUp.get(watch.group);
      s?.delete(c);
      if (s?.size === 0) this.#catchingUp.delete(watch.group);
    };
    stream.onClose(leave);
    await this.#replay(watch, c);
    const held = c.held ?? [];
    c.held = null;
    let newer = false;
    for (const h of held) {
      if (compareStreamIds(h.id, c.lastId) <= 0) continue;
      stream.send(h.frame);
      c.lastId = h.id;
      newer = true;
    }
    if (newer && !stream.closed) {
      leave();
      this.#join(watch.group, stream);
    }
  }

  /**
   * Sends the retained events after `c.lastId` that belong to the watched group, after
   * `event: reset` when the client cannot resume exactly. One read from the asked id (inclusive)
   * decides, through the first entry it returns (each entry's `p` is the entry before it):
   *
   * - it is the asked id, or its `p` is (a trimmed entry, e.g. a reset's id, or `0-0` before the
   *   first entry): the client missed nothing, the events after it follow;
   * - its `p` is newer than the asked id: events after the id were trimmed (`too-old`);
   * - its `p` is older, or nothing is at or after the id (newer than the newest entry): the id
   *   was never an entry of this stream (`unknown-id`; a second read gets every retained event).
   *
   * `0-0` on an empty stream (a reset's id when nothing is retained) resumes quietly.
   */
  async #replay(watch: LiveWatch, c: CatchUp): Promise<void> {
    const key = this.kind.streamKey(watch.installationId);
    const asked = c.lastId;
    let entries = await this.#read(key, asked);
    const first = entries[0];
    const same = (id: string) => compareStreamIds(id, asked) === 0;
    let reason: 'too-old' | 'unknown-id' | null;
    if (!first) reason = same('0-0') ? null : 'unknown-id';
    else if (same(first.id) || same(first.prev)) reason = null;
    else reason = compareStreamIds(first.prev, asked) > 0 ? 'too-old' : 'unknown-id';
    if (reason === 'too-old') {
      // The entry before the first one after `asked` is gone: events were trimmed unseen.
      this.#reset(c, reason, asked, first!.prev);
    } else if (reason === 'unknown-id') {
      // Never an entry of this stream (or the stream was emptied): every retained event follows.
      entries = await this.#read(key, '-');
      this.#reset(c, reason, asked, entries[0]?.prev ?? '0-0');
    }
    while (entries.length > 0 && !c.stream.closed) {
      for (const e of entries) {
        // The asked id itself, when it is retained, was sent before.
        if (compareStreamIds(e.id, c.lastId) <= 0) continue;
        c.lastId = e.id;
        if (this.#belongs(e.payload, watch.group)) c.stream.send(this.#frame(e.id, e.payload));
      }
      if (entries.length < REPLAY_PAGE) return;
      entries = await this.#read(key, nextStreamId(c.lastId));
    }
  }

  /**
   * `event: reset`: the client missed events. Its id is the one just before the first event that
   * follows, so a client that reconnects right after it resumes from there.
   */
  #reset(c: CatchUp, reason: 'too-old' | 'unknown-id', asked: string, resetId: string): void {
    const message =
      reason === 'too-old'
        ? `events after ${asked} are no longer retained; every retained event follows: reload the state you keep`
        : `${asked} is not an event of this stream; every retained event follows: reload the state you keep`;
    const data = JSON.stringify({ reason, lastEventId: asked, message });
    c.stream.send(`id: ${resetId}\nevent: reset\ndata: ${data}\n\n`);
    c.lastId = resetId;
  }

  async #read(key: string, start: string | null): Promise<Entry[]> {
    if (start === null) return [];
    const raw = await this.redis.xrange(key, start, '+', 'COUNT', REPLAY_PAGE);
    return raw.map(([id, fields]) => {
      const field = (name: string) => {
        const i = fields.indexOf(name);
        return i >= 0 && i % 2 === 0 ? (fields[i + 1] ?? '') : '';
      };
      return { id, prev: field('p') || '0-0', payload: field('d') };
    });
  }

  #belongs(payload: string, group: string): boolean {
    try {
      return this.kind.groupsOf(JSON.parse(payload) as T).includes(group);
    } catch {
      this.logger.warn('skipped an unreadable live event', { stream: this.kind.name });
      return false;
    }
  }

  #dispatch(raw: string): void {
    const message = parseLiveMessage(raw);
    let event: T;
    try {
      if (!message) throw new Error('no id');
      event = JSON.parse(message.payload) as T;
    } catch {
      this.logger.warn('ignored a malformed live event message', { stream: this.kind.name });
      return;
    }
    const { id, payload } = message;
    // Encoded once for every viewer.
    const frame = this.#frame(id, payload);
    for (const group of this.kind.groupsOf(event)) {
      this.#groups.get(group)?.send(frame);
      for (const c of [...(this.#catchingUp.get(group) ?? [])]) this.#catchUp(c, group, id, frame);
    }
  }

  #catchUp(c: CatchUp, group: string, id: string, frame: Buffer): void {
    if (c.held) {
      c.held.push({ id, frame });
      return;
    }
    if (compareStreamIds(id, c.lastId) <= 0) return;
    c.stream.send(frame);
    c.lastId = id;
    // Nothing older can arrive after this one: the stream joins the shared group.
    this.#catchingUp.get(group)?.delete(c);
    if (this.#catchingUp.get(group)?.size === 0) this.#catchingUp.delete(group);
    this.#join(group, c.stream);
  }
}
