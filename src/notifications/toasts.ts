import type { Request, Response } from 'express';
import { type RedisClient as Redis, subscriberFor } from '../store/client.ts';
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

interface Client {
  filter: ToastFilter;
  res: Response;
  heartbeat: NodeJS.Timeout;
}

/** A slow reader holding more than this many buffered bytes is disconnected. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

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
  readonly #clients = new Map<string, Set<Client>>();
  #sub: Redis | null = null;

  constructor(
    readonly redis: Redis,
    readonly channel: string,
    readonly logger: Logger,
    readonly heartbeatMs = 15_000,
  ) {}

  async start(): Promise<void> {
    const sub = subscriberFor(this.redis, this.logger);
    sub.on('message', (_channel: string, message: string) => this.#dispatch(message));
    this.#sub = sub;
    await sub.subscribe(this.channel);
  }

  /** Open SSE clients in this process. */
  clientCount(): number {
    let n = 0;
    for (const set of this.#clients.values()) n += set.size;
    return n;
  }

  /** Turns the response into an SSE stream of the toasts matching `filter`. */
  attach(req: Request, res: Response, filter: ToastFilter): void {
    res.status(200);
    res.set({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);
    const client: Client = {
      filter,
      res,
      heartbeat: setInterval(() => this.#write(client, ': heartbeat\n\n'), this.heartbeatMs),
    };
    client.heartbeat.unref();
    let set = this.#clients.get(filter.installationId);
    if (!set) this.#clients.set(filter.installationId, (set = new Set()));
    set.add(client);
    res.on('close', () => this.#detach(client));
    // Tells the client the subscription is live: every toast published from now on reaches it.
    this.#write(client, 'retry: 5000\n: connected\n\n');
  }

  /** Ends every stream and closes the subscriber connection. */
  stop(): void {
    for (const set of [...this.#clients.values()]) {
      for (const client of [...set]) {
        this.#detach(client);
        client.res.end();
      }
    }
    const sub = this.#sub;
    this.#sub = null;
    sub?.disconnect();
  }

  #detach(client: Client): void {
    clearInterval(client.heartbeat);
    const set = this.#clients.get(client.filter.installationId);
    if (!set) return;
    set.delete(client);
    if (set.size === 0) this.#clients.delete(client.filter.installationId);
  }

  #dispatch(message: string): void {
    let toast: Toast;
    try {
      toast = JSON.parse(message) as Toast;
    } catch {
      this.logger.warn('ignored a malformed toast message');
      return;
    }
    const set = this.#clients.get(toast.installationId);
    if (!set) return;
    const frame = `id: ${toast.id}\nevent: toast\ndata: ${JSON.stringify(toast)}\n\n`;
    for (const client of [...set]) {
      const { sessionId } = client.filter;
      if (sessionId === null || sessionId === toast.sessionId) this.#write(client, frame);
    }
  }

  #write(client: Client, chunk: string): void {
    const { res } = client;
    if (res.writableEnded || res.destroyed) return this.#detach(client);
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      this.logger.warn('disconnected a toast stream client that does not read');
      this.#detach(client);
      res.destroy();
      return;
    }
    res.write(chunk);
  }
}
