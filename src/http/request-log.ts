/**
 * Access logs and request ids (pino-http). Every request gets an id: the caller's
 * `X-Request-Id` when it is a plain token (1-128 of `A-Z a-z 0-9 . _ : -`), otherwise a new
 * UUID; it is echoed in `X-Request-Id` and in every error answer. One log line per request:
 * method, path (never the query string, which may carry `access_token`), status, duration in
 * ms, the installation when the request names one, and the request id.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../logger.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id pino-http gave this request (also in the X-Request-Id answer header). */
export const requestIdOf = (req: IncomingMessage): string | undefined =>
  (req as { id?: unknown }).id === undefined ? undefined : String((req as { id?: unknown }).id);

const pathOnly = (url: string | undefined): string => (url ?? '').split('?', 1)[0] ?? '';

/** The installation a request names (body or path), for the access log only. */
function installationOf(req: IncomingMessage): string | null {
  const body = (req as { body?: unknown }).body;
  if (
    body &&
    typeof body === 'object' &&
    typeof (body as { installationId?: unknown }).installationId === 'string'
  ) {
    return (body as { installationId: string }).installationId;
  }
  const match = /^\/v1\/installations\/([^/]+)/.exec(pathOnly(req.url));
  // As sent (still percent-encoded): a log line must never throw on a malformed escape.
  return match ? match[1]! : null;
}

/** The request id: the caller's X-Request-Id when it is a plain token, else a new UUID. */
function genReqId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('x-request-id', id);
  return id;
}

const accessProps = (req: IncomingMessage) => ({
  requestId: requestIdOf(req),
  installation: installationOf(req),
});

/**
 * @example
 * app.use(requestLog(logger));
 */
export function requestLog(logger: Logger): RequestHandler {
  // At LOG_LEVEL=silent no access line can ever be written: give every request its id and
  // header, and skip pino-http's per-request child logger and finish listener (about 5 % of
  // the CPU of a single-heartbeat request in the benchmark profile).
  if (logger.pino.level === 'silent') {
    return (req, res, next) => {
      (req as { id?: string }).id = genReqId(req, res);
      next();
    };
  }
  return pinoHttp({
    logger: logger.pino,
    genReqId,
    customAttributeKeys: { responseTime: 'durationMs' },
    customLogLevel: (_req, res, error) =>
      error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    customSuccessMessage: () => 'request',
    customErrorMessage: () => 'request failed',
    // Added to the access line only, once it is written (customProps would also bind them to
    // the request's child logger at its start, before the body names the installation, and the
    // line would carry both keys twice).
    customSuccessObject: (req, _res, line: object) => ({ ...line, ...accessProps(req) }),
    // For a 5xx answered without `res.err` (all of ours: the error middleware answers, and a
    // 500's cause has its own 'unhandled error' line), pino-http makes up an Error "failed with
    // status code 503" whose stack is its own: it says nothing and reads like a crash. Dropped.
    customErrorObject: (req, res, _error, line: object) => {
      const { err, ...rest } = line as { err?: unknown };
      const real = (res as { err?: unknown }).err !== undefined;
      return { ...(real ? { ...rest, err } : rest), ...accessProps(req) };
    },
    serializers: {
      req: (req: { method?: string; url?: string }) => ({
        method: req.method,
        path: pathOnly(req.url),
      }),
      res: (res: { statusCode?: number }) => ({ status: res.statusCode }),
    },
  });
}
