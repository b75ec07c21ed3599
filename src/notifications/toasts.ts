import type { Request, Response } from 'express';
import { type RedisClient as Redis, subscriberFor } from '../store/client.ts';
import { DEFAULT_STREAM_LIMITS } from '../config.ts';
import {
  type EventStream,
  type EventStreamOptions,
  StreamGroup,
  openEventStream,
} from '../http/sse.ts';
import type { Logger } from '../logger.ts';
import type { NotificationKind } from './types.ts';

/** The toast as streamed to clients (SSE `event: toast`, `data: <this JSON>`). */
export interface Toast {
  /** The notification request id: stable, so a client may drop a duplicate. */
  id: string;
  kind: NotificationKind;
  title: string;
  body: string;
  severity: 'info' | 'warning' | 'error';
  installationId: string;
  workspaceId: string | null;
  sessionId: string | null;
  sourceId: string;
  /** ISO 8601 UTC. */
  createdAt: string;
}

export interface ToastFilter {
  installationId: string;
  /** Only toasts of this session (null: every toast of the installation). */
  sessionId: string | null;
}

/**
 * Fans toasts out to Server-Sent Events clients. Toasts travel through Redis pub/sub (published
 * by the notify script), so a client connected to any engine process receives every toast of
 * its installation. One subscriber connection per process, duplicated from the shared client.
 *
 * @example
 * const hub = new ToastHub(redis, keys.toastChannel(), logger);
 * await hub.start();
 * hub.attach(req, res, { installationId: 'inst-a', sessionId: null });
 */
export class ToastHub {
  /** Clients by filter (installation, or installation and session): a toast is queued once per group. */
  readonly #groups = new Map<string, StreamGroup>();
  readonly #streams = new Set<EventStream>();
  #sub: Redis | null = null;

  constructor(
    readonly redis: Redis,
    readonly channel: string,
    readonly logger: Logger,
    /** Used when `attach` is given no limits. */
    readonly heartbeatMs = DEFAULT_STREAM_LIMITS.heartbeatMs,
  ) {}

  async start(): Promise<void> {
    const sub = subscriberFor(this.redis, this.logger);
    sub.on('message', (_channel: string, message: string) => this.#dispatch(message));
    this.#sub = sub;
    await sub.subscribe(this.channel);
  }

  /** Open SSE clients in this process. */
  clientCount(): number {
    return this.#streams.size;
  }

  /**
   * Turns the response into an SSE stream of the toasts matching `filter`. With `options.owner`
   * and `options.streams`, throws TooManyStreamsError (429) beyond the open-stream limits.
   */
  attach(
    req: Request,
    res: Response,
    filter: ToastFilter,
    options: Partial<Omit<EventStreamOptions, 'name' | 'logger'>> = {},
  ): void {
    const stream = openEventStream(req, res, {
      limits: { ...DEFAULT_STREAM_LIMITS, heartbeatMs: this.heartbeatMs },
      ...options,
      logger: this.logger,
      name: 'toasts',
    });
    const key = groupKey(filter.installationId, filter.sessionId);
    let group = this.#groups.get(key);
    if (!group) this.#groups.set(key, (group = new StreamGroup()));
    group.add(stream);
    this.#streams.add(stream);
    const joined = group;
    stream.onClose(() => {
      this.#streams.delete(stream);
      if (joined.size === 0 && this.#groups.get(key) === joined) this.#groups.delete(key);
    });
    // Tells the client the subscription is live: every toast published from now on reaches it.
    stream.send(': connected\n\n');
  }

  /** Ends every stream and closes the subscriber connection. */
  stop(): void {
    for (const stream of [...this.#streams]) stream.end();
    this.#streams.clear();
    this.#groups.clear();
    const sub = this.#sub;
    this.#sub = null;
    sub?.disconnect();
  }

  #dispatch(message: string): void {
    let toast: Toast;
    try {
      toast = JSON.parse(message) as Toast;
    } catch {
      this.logger.warn('ignored a malformed toast message');
      return;
    }
    const frame = Buffer.from(`id: ${toast.id}\nevent: toast\ndata: ${JSON.stringify(toast)}\n\n`);
    this.#groups.get(groupKey(toast.installationId, null))?.send(frame);
    if (toast.sessionId !== null) {
      this.#groups.get(groupKey(toast.installationId, toast.sessionId))?.send(frame);
    }
  }
}

const groupKey = (installationId: string, sessionId: string | null) =>
  sessionId === null ? installationId : `${installationId} ${sessionId}`;
