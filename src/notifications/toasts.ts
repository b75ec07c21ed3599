import type { Request, Response } from 'express';
import type { RedisClient as Redis } from '../store/client.ts';
import { DEFAULT_STREAM_LIMITS } from '../config.ts';
import { LiveEventHub, type LiveEventKind } from '../http/live-events.ts';
import type { EventStreamOptions, StreamLimits } from '../http/sse.ts';
import type { Logger } from '../logger.ts';
import type { NotifyKeys } from './keys.ts';
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

const groupKey = (installationId: string, sessionId: string | null) =>
  sessionId === null ? installationId : `${installationId} ${sessionId}`;

/** Toasts as live events: kept per installation for resume, sent to the installation and session. */
export function toastEvents(keys: Pick<NotifyKeys, 'toastChannel' | 'toastStream'>) {
  return {
    event: 'toast',
    name: 'toasts',
    channel: keys.toastChannel(),
    streamKey: (installationId) => keys.toastStream(installationId),
    groupsOf: (t) =>
      t.sessionId === null
        ? [groupKey(t.installationId, null)]
        : [groupKey(t.installationId, null), groupKey(t.installationId, t.sessionId)],
  } satisfies LiveEventKind<Toast>;
}

/**
 * Fans toasts out to Server-Sent Events clients. The notify script appends each toast to the
 * installation's replay stream and publishes it with its id through Redis pub/sub, so a client
 * connected to any engine process receives every toast of its installation, and may resume with
 * Last-Event-ID on any process. One subscriber connection per process.
 *
 * @example
 * const hub = new ToastHub(redis, keys, logger);
 * await hub.start();
 * await hub.attach(req, res, { installationId: 'inst-a', sessionId: null });
 */
export class ToastHub {
  readonly #hub: LiveEventHub<Toast>;

  constructor(
    redis: Redis,
    keys: Pick<NotifyKeys, 'toastChannel' | 'toastStream'>,
    logger: Logger,
    limits: StreamLimits = DEFAULT_STREAM_LIMITS,
  ) {
    this.#hub = new LiveEventHub(redis, logger, toastEvents(keys), limits);
  }

  async start(): Promise<void> {
    await this.#hub.start();
  }

  /** Open SSE clients in this process. */
  clientCount(): number {
    return this.#hub.clientCount();
  }

  /**
   * Turns the response into an SSE stream of the toasts matching `filter`, after the toasts that
   * follow the request's Last-Event-ID. With `options.owner` and `options.streams`, throws
   * TooManyStreamsError (429) beyond the open-stream limits.
   */
  attach(
    req: Request,
    res: Response,
    filter: ToastFilter,
    options: Pick<EventStreamOptions, 'streams' | 'owner'> = {},
  ): Promise<void> {
    return this.#hub.attach(
      req,
      res,
      {
        installationId: filter.installationId,
        group: groupKey(filter.installationId, filter.sessionId),
      },
      options,
    );
  }

  /** Ends every stream and closes the subscriber connection. */
  stop(): void {
    this.#hub.stop();
  }
}
