/**
 * `GET /v1/inspect`: a read-only WebSocket speaking the `@statelyai/inspect` event stream (one
 * JSON text frame per event; see feed.ts and frames.ts), for `createWebSocketReceiver` and the
 * bridge page at `/inspect`.
 *
 * The upgrade is an HTTP GET first, and takes the path every request takes: the server's
 * `upgrade` event hands it, with a response on its socket, to the same request handler, so the
 * request id, access log, authentication (`?access_token=`, a declared stream route), tenancy
 * (404) and error answers are the API's own. Only when the route accepts it is the socket
 * handed to `ws`. Keepalive uses WebSocket ping frames: a text frame that is not JSON would
 * crash the receivers.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Request, Response } from 'express';
import { type WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import type { Principal } from '../connections/connections.ts';
import {
  NotFoundError,
  RequestRefusedError,
  TooManyStreamsError,
  UnavailableError,
} from '../errors.ts';
import { principalOf } from '../http/app.ts';
import type { SOCKET_ROUTES } from '../http/request-guards.ts';
import { requestIdOf } from '../http/request-log.ts';
import { parse } from '../http/validate.ts';
import type { ModuleContext } from '../module-context.ts';
import type { ActorRef } from '../store/redis-store.ts';
import { actorId, resolveActor } from './actors.ts';
import { TransitionFeed, Viewer } from './feed.ts';

export const INSPECT_PATH: (typeof SOCKET_ROUTES)[number] = '/v1/inspect';

export const inspectQuery = z.strictObject({
  /** The token, for clients that cannot send headers (browsers' WebSocket, the receiver). */
  access_token: z.string().optional(),
  actor: actorId.optional(),
});

/** Clients send nothing; a larger message than this closes the socket (1009). */
const MAX_CLIENT_MESSAGE_BYTES = 1024;
/** On shutdown, how long a client may take to answer the close frame before it is cut. */
const CLOSE_WAIT_MS = 1000;

/** An upgrade request waiting for its route: its socket and the bytes read past its headers. */
interface PendingUpgrade {
  socket: Duplex;
  head: Buffer;
}

/**
 * The inspector sockets of this process: the route that upgrades, the per-token limit, the
 * keepalive pings and the shutdown.
 *
 * @example
 * const sockets = new InspectorSockets(ctx);
 * app.get(INSPECT_PATH, (req, res) => sockets.accept(req, res));
 * sockets.attach(server); // after listen
 * sockets.close(); // on shutdown: 1001 to every client
 */
export class InspectorSockets {
  readonly #wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: MAX_CLIENT_MESSAGE_BYTES,
  });
  readonly #feed: TransitionFeed;
  readonly #pending = new WeakMap<IncomingMessage, PendingUpgrade>();
  readonly #open = new Set<WebSocket>();
  readonly #perToken = new Map<string, number>();
  #closing = false;

  constructor(readonly ctx: ModuleContext) {
    this.#feed = new TransitionFeed(ctx);
    // The handshake answer carries the request id of the access log line, as every answer does.
    this.#wss.on('headers', (headers, req) => {
      const id = requestIdOf(req);
      if (id !== undefined) headers.push(`X-Request-Id: ${id}`);
    });
  }

  get size(): number {
    return this.#open.size;
  }

  /** Takes the server's upgrade requests (call once, after listen). */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket as Socket);
      // Answered in HTTP instead of upgraded (refused, or not the inspector): the socket is done.
      res.once('finish', () => socket.end());
      if (req.method !== 'GET' || carriesBody(req)) {
        // A body would never be read here (the HTTP parser has let go of the socket).
        const requestId = randomUUID();
        res.statusCode = 405;
        res.setHeader('content-type', 'application/json; charset=utf-8');
        res.setHeader('x-request-id', requestId);
        res.end(
          JSON.stringify({
            error: {
              code: 'request-refused',
              message: 'a WebSocket upgrade is a GET without a body',
              details: { in: 'request' },
              requestId,
            },
          }),
        );
        return;
      }
      this.#pending.set(req, { socket, head });
      server.emit('request', req, res);
    });
  }

  /**
   * The route: validates, authenticates (done before it), resolves the actor, applies the
   * per-token limit, then upgrades. Every refusal is an HTTP answer in the API's error shape.
   */
  async accept(req: Request, res: Response): Promise<void> {
    const { actor } = parse(inspectQuery, req.query, 'query');
    const principal = principalOf(res);
    const pending = this.#pending.get(req);
    if (!pending || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      res.setHeader('upgrade', 'websocket');
      throw new RequestRefusedError(
        426,
        `${INSPECT_PATH} is a WebSocket: connect with ws:// (Upgrade: websocket)`,
        { header: 'upgrade' },
      );
    }
    let watch: ActorRef | null = null;
    if (actor !== undefined) {
      watch = await resolveActor(this.ctx, principal, actor, 'actor');
      if (!(await this.ctx.engine.read(watch))) {
        throw new NotFoundError(`actor ${actor} not found`, { field: 'actor' });
      }
    }
    if (this.#closing) {
      throw new UnavailableError('the server is shutting down: connect again', {});
    }
    const owner = ownerOf(principal);
    const limit = this.ctx.config.streams.perToken;
    if ((this.#perToken.get(owner) ?? 0) >= limit) {
      throw new TooManyStreamsError(
        `this token already holds ${limit} open inspector sockets on this server; close one before opening another`,
        { scope: 'token', limit },
      );
    }
    this.#pending.delete(req);
    res.detachSocket(pending.socket as Socket);
    res.removeAllListeners('finish');
    const requestId = requestIdOf(req);
    this.#wss.handleUpgrade(req, pending.socket, pending.head, (ws) => {
      // The access log has no line for an upgraded request (it never finishes): these stand in.
      this.ctx.logger.info('inspector socket opened', { requestId, actor: actor ?? null });
      ws.once('close', (code) =>
        this.ctx.logger.info('inspector socket closed', { requestId, code }),
      );
      this.#opened(ws, principal, watch, owner);
    });
  }

  #opened(ws: WebSocket, principal: Principal, watch: ActorRef | null, owner: string): void {
    if (this.#closing) {
      ws.close(1001, 'server shutting down; reconnect');
      return;
    }
    this.#open.add(ws);
    bump(this.#perToken, owner, 1);
    const alive = keepAlive(ws, this.ctx.config.streams.heartbeatMs);
    ws.once('close', () => {
      clearInterval(alive);
      this.#open.delete(ws);
      bump(this.#perToken, owner, -1);
    });
    // Read-only: anything a client sends is ignored (and bounded by maxPayload).
    ws.on('error', (error) => {
      this.ctx.logger.warn('an inspector socket failed', { error: String(error) });
    });
    const viewer = new Viewer(ws, principal, watch, this.ctx);
    const joined = this.#feed.add(viewer);
    viewer.enqueue(async () => {
      await joined;
      if (watch) await viewer.history(watch);
    });
  }

  /** Closes every socket (1001, the client reconnects elsewhere). Returns how many were open. */
  close(): number {
    this.#closing = true;
    const n = this.#open.size;
    for (const ws of this.#open) {
      ws.close(1001, 'server shutting down; reconnect');
      setTimeout(() => ws.terminate(), CLOSE_WAIT_MS).unref();
    }
    this.#feed.close();
    return n;
  }
}

/** Pings every `ms`; a client that did not answer the previous ping is cut. */
function keepAlive(ws: WebSocket, ms: number): NodeJS.Timeout {
  let answered = true;
  ws.on('pong', () => {
    answered = true;
  });
  const timer = setInterval(() => {
    if (!answered) {
      ws.terminate();
      return;
    }
    answered = false;
    ws.ping();
  }, ms);
  timer.unref();
  return timer;
}

const ownerOf = (principal: Principal) => principal.name ?? 'anonymous';

function carriesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (
    req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > 0)
  );
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
