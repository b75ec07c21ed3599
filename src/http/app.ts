import express, {
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import type { Config } from '../config.ts';
import { type ConnectionService, canAccess, isOperator } from '../connections/connections.ts';
import {
  AppError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  RequestRefusedError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.ts';
import type { Logger } from '../logger.ts';
import { storeUnavailable } from '../store/errors.ts';
import { authenticate, principalOf } from './auth.ts';
import { cors } from './cors.ts';
import { keepRawBody, refuseDuplicateKeys } from './duplicate-keys.ts';
import { heartbeatLane } from './heartbeat-lane.ts';
import { httpStatusOf } from './error-status.ts';
import { noRoute } from './no-route.ts';
import { requestIdOf, requestLog } from './request-log.ts';
import type { RedisStore } from '../store/redis-store.ts';
import { type SettingsService, settingsBody, toWire } from '../workspaces/settings.ts';
import type { WorkspaceService } from '../workspaces/workspaces.ts';
import { whatIf, whatIfBody } from '../workspaces/what-if-service.ts';
import {
  auditQuery,
  installationIdParams,
  migrationBody,
  workspaceIdParams,
  workspaceRollbackBody,
  batchBody,
  batchItem,
  connectionIdParams,
  droppedBody,
  handshakeBody,
  heartbeatBody,
  listConnectionsQuery,
  commandBody,
  registerConnectionBody,
  rollbackBody,
} from './schemas.ts';
import {
  contentEncodingRefused,
  contentTypeRefused,
  isBatchPath,
  refuseMalformedPaths,
  refusePrototypeKeys,
  refuseUnreadableBodies,
} from './request-guards.ts';
import { INPUT, parse, validationError } from './validate.ts';

export interface AppDeps {
  config: Pick<
    Config,
    'tokens' | 'bodyLimitBytes' | 'batchBodyLimitBytes' | 'batchMaxItems' | 'corsOrigins'
  >;
  connections: ConnectionService;
  workspaces: WorkspaceService;
  settings: SettingsService;
  /** Middleware of feature modules, run before every route (and in the heartbeat lane). */
  extraMiddleware?: RequestHandler[];
  /** Routes of feature modules (src/modules.ts), mounted after the built-in ones. */
  extraRoutes?: (app: express.Express) => void;
  store: RedisStore;
  logger: Logger;
}

export { principalOf } from './auth.ts';

/**
 * Builds the HTTP API. Routes parse with zod, call one service function and respond; every
 * error goes through one middleware that renders `{ error: { code, message, details } }`.
 *
 * @example
 * const app = createApp({ config, connections, store, logger });
 * app.listen(3000);
 */
export function createApp(deps: AppDeps): express.Express {
  const { connections, config } = deps;
  const app = express();
  app.disable('x-powered-by');
  // API answers are not cached by clients; hashing every heartbeat answer for an ETag is waste.
  app.set('etag', false);
  app.set('query parser', 'simple');
  // What every request passes before a route, in this order. The same functions serve the
  // ordinary stack below and the heartbeat lane (src/http/heartbeat-lane.ts).
  // inflate: false: a compressed body is never decoded (refuseUnreadableBodies answers 415).
  // verify keeps the raw bytes for refuseDuplicateKeys, which JSON.parse cannot do.
  const json = { strict: true, inflate: false, verify: keepRawBody };
  const small = express.json({ ...json, limit: config.bodyLimitBytes });
  const large = express.json({ ...json, limit: config.batchBodyLimitBytes });
  const stack = {
    // First: every request, refused ones included, gets a request id and an access log line.
    log: requestLog(deps.logger),
    // Before authentication: a browser's preflight carries no token.
    cors: cors(config.corsOrigins),
    // Authenticate before parsing: an anonymous caller must not make the server read a body.
    authenticate: authenticate(config.tokens),
    body: ((req, res, next) =>
      (isBatchPath(req.path) ? large : small)(req, res, next)) as RequestHandler,
  };
  const extra = deps.extraMiddleware ?? [];

  const singleHeartbeat: RequestHandler = async (req, res) => {
    const { connectionId } = parse(connectionIdParams, req.params, 'path');
    const body = parse(heartbeatBody, req.body, 'body');
    res.json(await connections.heartbeat(principalOf(res), connectionId, body));
  };
  // Built once: constructing the zod schema per request showed in the batch profile.
  const batchEnvelope = batchBody(config.batchMaxItems);
  const batchHeartbeats: RequestHandler = async (req, res) => {
    const { items } = parse(batchEnvelope, req.body, 'body');
    const principal = principalOf(res);
    /** The items refused because Redis could not be used (503). */
    const unavailable: AppError[] = [];
    const results = await Promise.all(
      items.map(async (raw) => {
        const connectionId =
          typeof (raw as { connectionId?: unknown })?.connectionId === 'string'
            ? (raw as { connectionId: string }).connectionId
            : null;
        try {
          const parsed = batchItem.safeParse(raw, INPUT);
          // Named within the item, as the single route and the time window name them: the
          // answer's position in `results` says which item it is.
          if (!parsed.success) throw validationError(parsed.error, 'body');
          const { connectionId: id, ...hb } = parsed.data;
          return {
            connectionId,
            ok: true,
            status: 200,
            result: await connections.heartbeat(principal, id, hb),
          };
        } catch (error) {
          const e = toAppError(error, deps.logger, req);
          const status = httpStatusOf(e);
          if (status === 503) unavailable.push(e);
          return { connectionId, ok: false, status, error: renderError(e, req) };
        }
      }),
    );
    const accepted = results.filter((r) => r.ok).length;
    // Nothing applied and Redis could not be used: the whole request is a 503 with Retry-After,
    // as every request during an outage, so a client watching status codes sees it and retries
    // the batch (its heartbeatIds make that safe). A partial batch answers 200, item by item.
    if (accepted === 0 && unavailable[0]) throw unavailable[0];
    res.json({ accepted, rejected: results.length - accepted, results });
  };

  app.use(
    heartbeatLane(
      [
        stack.log,
        stack.cors,
        stack.authenticate,
        refuseMalformedPaths,
        refuseUnreadableBodies,
        stack.body,
        refusePrototypeKeys,
        refuseDuplicateKeys,
        ...extra,
      ],
      { single: singleHeartbeat, batch: batchHeartbeats },
    ),
  );

  app.use(stack.log);
  app.use(stack.cors);
  app.use('/v1', stack.authenticate);
  app.use(refuseMalformedPaths, refuseUnreadableBodies);
  app.use(stack.body);
  app.use(refusePrototypeKeys, refuseDuplicateKeys);
  for (const m of extra) app.use(m);

  // The heartbeat routes first (other spellings of their paths, which the lane leaves here).
  app.post('/v1/connections/:connectionId/heartbeats', singleHeartbeat);
  app.post('/v1/heartbeats', batchHeartbeats);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const ok = await deps.store.ping().catch(() => false);
    // As every 503 of the service: how long to wait before asking again.
    if (!ok) res.setHeader('Retry-After', '1');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'redis-unavailable' });
  });

  app.post('/v1/connections', async (req, res) => {
    const body = parse(registerConnectionBody, req.body, 'body');
    res.status(201).json(await connections.register(principalOf(res), body));
  });

  app.get('/v1/connections', async (req, res) => {
    const query = parse(listConnectionsQuery, req.query, 'query');
    res.json(await connections.list(principalOf(res), query));
  });

  app.get('/v1/connections/:connectionId', async (req, res) => {
    const { connectionId } = parse(connectionIdParams, req.params, 'path');
    res.json(await connections.get(principalOf(res), connectionId));
  });

  app.post('/v1/connections/:connectionId/handshake', async (req, res) => {
    const { connectionId } = parse(connectionIdParams, req.params, 'path');
    const body = parse(handshakeBody, req.body, 'body');
    res.json(
      await connections.command(principalOf(res), connectionId, { type: 'HANDSHAKE', ...body }),
    );
  });

  app.post('/v1/connections/:connectionId/dropped', async (req, res) => {
    const { connectionId } = parse(connectionIdParams, req.params, 'path');
    const { requestId, ...body } = parse(droppedBody, req.body ?? {}, 'body');
    res.json(
      await connections.command(
        principalOf(res),
        connectionId,
        { type: 'DROPPED', ...body },
        requestId,
      ),
    );
  });

  app.post('/v1/connections/:connectionId/recovered', async (req, res) => {
    const { connectionId } = parse(connectionIdParams, req.params, 'path');
    const { requestId } = parse(commandBody, req.body ?? {}, 'body');
    res.json(
      await connections.command(principalOf(res), connectionId, { type: 'RECOVERED' }, requestId),
    );
  });

  app.post('/v1/connections/:connectionId/rollback', async (req, res) => {
    const { connectionId } = parse(connectionIdParams, req.params, 'path');
    const { requestId, ...body } = parse(rollbackBody, req.body, 'body');
    res.json(
      await connections.command(
        principalOf(res),
        connectionId,
        // One connection by hand: its diagnostics say `manual-rollback`, not the workspace's.
        { type: 'ROLLBACK', ...body, manual: true },
        requestId,
      ),
    );
  });

  app.get('/v1/workspaces/:workspaceId', async (req, res) => {
    const { workspaceId } = parse(workspaceIdParams, req.params, 'path');
    res.json(await deps.workspaces.get(principalOf(res), workspaceId));
  });

  app.post('/v1/workspaces/:workspaceId/migrations', async (req, res) => {
    const { workspaceId } = parse(workspaceIdParams, req.params, 'path');
    const body = parse(migrationBody, req.body, 'body');
    res
      .status(201)
      .json(await deps.workspaces.requestMigration(principalOf(res), workspaceId, body));
  });

  app.post('/v1/workspaces/:workspaceId/migrations/cancel', async (req, res) => {
    const { workspaceId } = parse(workspaceIdParams, req.params, 'path');
    const { requestId } = parse(commandBody, req.body ?? {}, 'body');
    res.json(await deps.workspaces.cancelScheduled(principalOf(res), workspaceId, requestId));
  });

  app.post('/v1/workspaces/:workspaceId/rollback', async (req, res) => {
    const { workspaceId } = parse(workspaceIdParams, req.params, 'path');
    const body = parse(workspaceRollbackBody, req.body, 'body');
    res.status(201).json(await deps.workspaces.rollback(principalOf(res), workspaceId, body));
  });

  app.post('/v1/workspaces/:workspaceId/auto-migration/reenable', async (req, res) => {
    const { workspaceId } = parse(workspaceIdParams, req.params, 'path');
    const { requestId } = parse(commandBody, req.body ?? {}, 'body');
    res.json(await deps.workspaces.reenableAutoMigration(principalOf(res), workspaceId, requestId));
  });

  app.post('/v1/workspaces/:workspaceId/what-if', async (req, res) => {
    const { workspaceId } = parse(workspaceIdParams, req.params, 'path');
    const body = parse(whatIfBody, req.body, 'body');
    res.json(await whatIf(deps.workspaces, principalOf(res), workspaceId, body));
  });

  for (const stream of ['migrations', 'rollbacks', 'decisions'] as const) {
    app.get(`/v1/workspaces/:workspaceId/${stream}`, async (req, res) => {
      const { workspaceId } = parse(workspaceIdParams, req.params, 'path');
      const query = parse(auditQuery, req.query, 'query');
      res.json(await deps.workspaces.audit(principalOf(res), workspaceId, stream, query));
    });
  }

  app.get('/v1/installations/:installationId/settings', async (req, res) => {
    const { installationId } = parse(installationIdParams, req.params, 'path');
    if (!canAccess(principalOf(res), installationId)) {
      throw new NotFoundError(`installation ${installationId} not found`, {
        field: 'installationId',
      });
    }
    res.json(toWire(await deps.settings.get(installationId)));
  });

  app.put('/v1/installations/:installationId/settings', async (req, res) => {
    const { installationId } = parse(installationIdParams, req.params, 'path');
    // An installation the token cannot see is not found, as on every installation path, before
    // the token's role is looked at.
    if (!canAccess(principalOf(res), installationId)) {
      throw new NotFoundError(`installation ${installationId} not found`, {
        field: 'installationId',
      });
    }
    if (!isOperator(principalOf(res)))
      throw new ForbiddenError('changing settings needs an operator token');
    const body = parse(settingsBody, req.body, 'body');
    const { policy, change } = await deps.settings.update(
      installationId,
      body,
      principalOf(res).name ?? 'operator',
    );
    await deps.workspaces.refreshPolicy(installationId);
    res.json({ settings: toWire(policy), change });
  });

  app.get('/v1/installations/:installationId/settings/changes', async (req, res) => {
    const { installationId } = parse(installationIdParams, req.params, 'path');
    if (!canAccess(principalOf(res), installationId)) {
      throw new NotFoundError(`installation ${installationId} not found`, {
        field: 'installationId',
      });
    }
    const query = parse(auditQuery, req.query, 'query');
    res.json(await deps.settings.changes(installationId, query));
  });

  deps.extraRoutes?.(app);

  app.use(noRoute(app.router));

  const errorHandler: ErrorRequestHandler = (error, req: Request, res: Response, _next) => {
    const e = toAppError(error, deps.logger, req);
    const status = httpStatusOf(e);
    if (status === 503) {
      const wait = e.code === 'capacity-shed' ? CAPACITY_RETRY_AFTER_SECONDS : RETRY_AFTER_SECONDS;
      res.setHeader('Retry-After', String(wait));
    }
    if (status === 429) res.setHeader('Retry-After', String(STREAM_RETRY_AFTER_SECONDS));
    if (status === 401) res.setHeader('WWW-Authenticate', bearerChallenge(e));
    res.status(status).json({ error: renderError(e, req) });
  };
  app.use(errorHandler);
  return app;
}

/** What a 503 tells clients to wait before retrying (with the same request id). */
const RETRY_AFTER_SECONDS = 1;

/**
 * What a `capacity-shed` 503 tells clients to wait before asking for ACP again: the session is
 * to start on HTTP now (details.useTransport), and usage falls only as connections end.
 */
const CAPACITY_RETRY_AFTER_SECONDS = 60;

/**
 * What a 429 (too many open streams) tells clients to wait: a slot frees only when another
 * stream of theirs closes. The `retry:` an EventSource is given (src/http/sse.ts) is as long.
 */
const STREAM_RETRY_AFTER_SECONDS = 5;

/**
 * The `WWW-Authenticate` challenge of every 401 (RFC 6750): `error="invalid_token"` when a token
 * was sent and refused; none when there was none to read.
 */
function bearerChallenge(e: AppError): string {
  const rejected = e instanceof UnauthorizedError && e.tokenRejected;
  return `Bearer realm="${REALM}"${rejected ? ', error="invalid_token"' : ''}`;
}

const REALM = 'lumilink';

/** The one error shape; `requestId` matches the X-Request-Id header and the access log. */
function renderError(e: AppError, req: Request) {
  return { code: e.code, message: e.message, details: e.details, requestId: requestIdOf(req) };
}

/** What a body that is a bare JSON value (null, a string, a number, a boolean) holds, if it is one. */
function bareJsonValue(body: unknown): string | null {
  if (typeof body !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (value === null) return 'null';
  if (typeof value === 'object') return null;
  return `a ${typeof value}`;
}

/** Unexpected errors already logged (see toAppError). */
const loggedErrors = new WeakSet<object>();

/** Maps body-parser and unexpected errors onto the typed error classes. */
function toAppError(error: unknown, logger: Logger, req: Request): AppError {
  if (error instanceof AppError) return error;
  const unavailable = storeUnavailable(error);
  if (unavailable) return unavailable;
  const e = error as { type?: string; status?: number; message?: string };
  if (e?.type === 'entity.parse.failed') {
    // Well-formed JSON that is not an object or array (strict parsing): say what it is instead
    // of calling it malformed.
    const bare = bareJsonValue((error as { body?: unknown }).body);
    if (bare) {
      const message = `must be a JSON object, not ${bare}`;
      return new ValidationError(`invalid body: (root): ${message}`, {
        in: 'body',
        fields: [{ field: '(root)', message }],
      });
    }
    return new ValidationError('malformed JSON in request body', {
      in: 'body',
      fields: [{ field: '(root)', message: 'not valid JSON' }],
    });
  }
  if (e?.type === 'entity.too.large') {
    return new PayloadTooLargeError('request body is too large', { in: 'body' });
  }
  // refuseUnreadableBodies refuses these first; should the parser still find one, the answer is
  // the guard's own 415 naming the header.
  if (e?.type === 'encoding.unsupported') return contentEncodingRefused();
  if (e?.type === 'charset.unsupported') return contentTypeRefused();
  // Other client errors of Express and body-parser (http-errors): the client's fault, not ours.
  const status = Number(e?.status ?? (error as { statusCode?: unknown })?.statusCode);
  if (Number.isInteger(status) && status >= 400 && status < 500) {
    const message =
      typeof e.message === 'string' && e.message
        ? e.message.slice(0, 200)
        : 'the request could not be read';
    if (status === 400) return new ValidationError(message, { in: 'request' });
    if (status === 413) return new PayloadTooLargeError(message, { in: 'body' });
    if (status === 415) return new UnsupportedMediaTypeError(message, { in: 'header' });
    return new RequestRefusedError(status, message);
  }
  // One failure answers every command of a batch it broke (a batch request's items alike): it
  // is logged once, not once per item.
  if (typeof error === 'object' && error !== null) {
    if (loggedErrors.has(error)) return new AppError('internal error');
    loggedErrors.add(error);
  }
  logger.error('unhandled error', {
    err: error instanceof Error ? error : new Error(String(error)),
    method: req.method,
    path: req.path,
    requestId: requestIdOf(req),
  });
  return new AppError('internal error');
}
