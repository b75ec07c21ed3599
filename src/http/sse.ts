/**
 * The one Server-Sent Events implementation behind every live stream (toasts, transitions): the
 * headers, a `retry:` hint, `: heartbeat` comments, a bounded send buffer per client and the
 * per-process limits on open streams per token and per installation. Event ids and resuming
 * from `Last-Event-ID` are ./live-events.ts, built on this.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Response } from 'express';
import type { Config } from '../config.ts';
import { TooManyStreamsError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { LiveStreams, StreamOwner } from './live-streams.ts';

export type StreamLimits = Config['streams'];

/** How long an EventSource waits before it reconnects after the stream ends. */
const RETRY_MS = 5000;

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/**
 * An open stream. Frames are written as given: `id: 1-0\nevent: x\ndata: {...}\n\n` or
 * `: comment\n\n`.
 */
export interface EventStream {
  /** Queues one frame for this stream alone (within FLUSH_MS); false when it is closed. */
  send(frame: string | Buffer): boolean;
  readonly closed: boolean;
  /** Runs `fn` once when the stream ends, whoever ends it. */
  onClose(fn: () => void): void;
  /** Ends the stream (the client may reconnect after `retry`). */
  end(): void;
}

export interface EventStreamOptions {
  limits: StreamLimits;
  logger: Logger;
  /** Names the stream in logs, e.g. `toasts`. */
  name: string;
  /** Registers the stream for the shutdown event and counts it against `owner`. */
  streams?: LiveStreams;
  /** Whom the stream counts against; without it, the open-stream limits are not applied. */
  owner?: StreamOwner;
}

/**
 * Frames are written in batches, at most this long after they were sent. With many clients on
 * one installation, one write per client per batch (of frames encoded and joined once for all
 * of them, see StreamGroup) instead of one write per client per frame is what keeps live
 * viewers from slowing the writes they watch.
 */
export const FLUSH_MS = 250;

/** Streams and groups holding frames not yet written; one timer flushes them all. */
const unflushed = new Set<{ flush(): void }>();
let flushTimer: NodeJS.Timeout | null = null;

function schedule(item: { flush(): void }): void {
  unflushed.add(item);
  flushTimer ??= setTimeout(flushAll, FLUSH_MS);
}

function flushAll(): void {
  flushTimer = null;
  const due = [...unflushed];
  unflushed.clear();
  for (const item of due) item.flush();
}

/** Joins queued frames into one Buffer, encoding each string once. */
class FrameQueue {
  #frames: (string | Buffer)[] = [];

  get empty(): boolean {
    return this.#frames.length === 0;
  }

  push(frame: string | Buffer): void {
    this.#frames.push(frame);
  }

  take(): Buffer | null {
    const frames = this.#frames;
    if (frames.length === 0) return null;
    this.#frames = [];
    return Buffer.concat(frames.map((f) => (typeof f === 'string' ? Buffer.from(f) : f)));
  }

  clear(): void {
    this.#frames = [];
  }
}

class BufferedStream implements EventStream {
  readonly #own = new FrameQueue();
  #closed = false;
  readonly #closers: (() => void)[] = [];
  readonly #heartbeat: NodeJS.Timeout;

  constructor(
    readonly res: Response | ServerResponse,
    readonly options: EventStreamOptions,
  ) {
    this.#heartbeat = setInterval(() => this.send(': heartbeat\n\n'), options.limits.heartbeatMs);
    this.#heartbeat.unref();
    res.on('close', () => {
      this.#closed = true;
      this.#own.clear();
      unflushed.delete(this);
      clearInterval(this.#heartbeat);
      for (const fn of this.#closers.splice(0)) fn();
    });
  }

  get closed(): boolean {
    return this.#closed || this.res.writableEnded || this.res.destroyed;
  }

  send(frame: string | Buffer): boolean {
    if (this.#closed) return false;
    if (this.#own.empty) schedule(this);
    this.#own.push(frame);
    return true;
  }

  flush(): void {
    const chunk = this.#own.take();
    if (chunk) this.write(chunk);
  }

  /** Writes now (after this stream's own queued frames), unless the client fell too far behind. */
  write(chunk: Buffer): void {
    this.flush();
    if (this.closed || this.#overflowing()) return;
    this.res.write(chunk);
  }

  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#closers.push(fn);
  }

  end(): void {
    this.flush();
    if (!this.res.writableEnded && !this.res.destroyed) this.res.end();
  }

  /** Disconnects a client that left more than `bufferBytes` of earlier writes unsent. */
  #overflowing(): boolean {
    const { res, options } = this;
    const buffered = res.writableLength;
    if (buffered <= options.limits.bufferBytes) return false;
    options.logger.warn('disconnected a stream client that does not read', {
      stream: options.name,
      bufferedBytes: buffered,
      limitBytes: options.limits.bufferBytes,
      ...(options.owner ? { installationId: options.owner.installationId } : {}),
    });
    res.destroy();
    return true;
  }
}

/**
 * Streams that receive the same frames, e.g. every viewer of one installation's transitions. A
 * frame is queued once for the group; at the flush the group's frames are encoded and joined
 * once, and that one Buffer is written to each member: the cost of a frame does not grow with
 * the number of members, and each member costs one write per flush.
 *
 * @example
 * const viewers = new StreamGroup();
 * viewers.add(openEventStream(req, res, options));
 * viewers.send(`event: transition\ndata: ${json}\n\n`);
 */
export class StreamGroup {
  readonly #members = new Set<BufferedStream>();
  readonly #queue = new FrameQueue();

  get size(): number {
    return this.#members.size;
  }

  /** Adds a stream from openEventStream; it leaves the group when it closes. */
  add(stream: EventStream): void {
    if (!(stream instanceof BufferedStream)) throw new TypeError('not a stream of openEventStream');
    this.#members.add(stream);
    stream.onClose(() => this.#members.delete(stream));
  }

  /** Queues a frame for every member (a group without members drops it). */
  send(frame: string | Buffer): void {
    if (this.#members.size === 0) return;
    if (this.#queue.empty) schedule(this);
    this.#queue.push(frame);
  }

  flush(): void {
    const chunk = this.#queue.take();
    if (chunk) for (const member of [...this.#members]) member.write(chunk);
  }
}

/**
 * Turns a response into an SSE stream. Refuses with TooManyStreamsError (429), before anything
 * is written, when the owner's token or installation already holds its limit of open streams in
 * this process. Frames are written within FLUSH_MS, batched. A client whose unsent bytes exceed
 * `limits.bufferBytes` is disconnected (and logged) at its next write or heartbeat.
 *
 * @example
 * const stream = openEventStream(req, res, { limits: config.streams, logger, name: 'toasts',
 *   streams: ctx.streams, owner: { token: principal.name, installationId } });
 * stream.send(': connected\n\n');
 */
export function openEventStream(
  req: IncomingMessage,
  res: Response | ServerResponse,
  options: EventStreamOptions,
): EventStream {
  const { limits, streams, owner } = options;
  if (streams && owner) refuseBeyondLimits(streams, owner, limits);
  res.writeHead(200, HEADERS);
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true);
  res.flushHeaders();
  streams?.track(res as Response, owner);
  const stream = new BufferedStream(res, options);
  // First on the stream, and in one write with what the caller sends at once (`: connected`).
  stream.send(`retry: ${RETRY_MS}\n\n`);
  return stream;
}

/**
 * The answer to a HEAD of a stream route: the status and headers a GET gets (200,
 * `text/event-stream`), then the end, at once. Nothing is subscribed, tracked or counted against
 * the limits, so HEAD requests cannot use up a token's streams; beyond the limits it is refused
 * (429) as the GET would be.
 *
 * @example
 * if (req.method === 'HEAD') return answerHead(res, { limits, streams, owner });
 */
export function answerHead(
  res: Response | ServerResponse,
  options: Pick<EventStreamOptions, 'limits' | 'streams' | 'owner'>,
): void {
  const { limits, streams, owner } = options;
  if (streams && owner) refuseBeyondLimits(streams, owner, limits);
  // The connection closes after the headers: a client that waits for a body after a HEAD (as
  // `curl -X HEAD` does) is not left waiting for the keep-alive timeout.
  res.writeHead(200, { ...HEADERS, connection: 'close' });
  res.end();
}

function refuseBeyondLimits(streams: LiveStreams, owner: StreamOwner, limits: StreamLimits) {
  const open = streams.openBy(owner);
  if (open.token >= limits.perToken) {
    throw new TooManyStreamsError(
      `this token already holds ${limits.perToken} open live streams on this server; close one before opening another`,
      { scope: 'token', limit: limits.perToken },
    );
  }
  if (open.installation >= limits.perInstallation) {
    throw new TooManyStreamsError(
      `installation ${owner.installationId} already has ${limits.perInstallation} open live streams on this server; close one before opening another`,
      {
        scope: 'installation',
        installationId: owner.installationId,
        limit: limits.perInstallation,
      },
    );
  }
}
