/**
 * CORS for browser clients on other origins (a console served elsewhere, an EventSource on a
 * partner page), from an allowlist of exact origins (CORS_ORIGINS). Mounted before
 * authentication: a preflight carries no token and is answered here. An origin not on the list
 * gets no CORS header, so the browser keeps its answer from the page.
 */
import type { RequestHandler } from 'express';

const ALLOW_METHODS = 'GET, POST, PUT, DELETE, OPTIONS';
/** What the API reads from a request: the token, JSON bodies, request ids and SSE resume. */
const ALLOW_HEADERS = 'Authorization, Content-Type, X-Request-Id, Last-Event-ID';
/** What a page may read from an answer beyond the CORS-safelisted headers. */
const EXPOSE_HEADERS = 'X-Request-Id, Retry-After, WWW-Authenticate';
/** How long a browser may reuse a preflight answer (seconds). */
const MAX_AGE_SECONDS = 600;

/**
 * @example
 * app.use(cors(['https://console.example.com']));
 */
export function cors(allowed: readonly string[]): RequestHandler {
  const origins = new Set(allowed);
  return (req, res, next) => {
    if (origins.size === 0) return next();
    const origin = req.headers.origin;
    // The answer depends on Origin: caches must not serve one origin's answer to another.
    res.vary('Origin');
    const ok = typeof origin === 'string' && origins.has(origin);
    if (ok) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', EXPOSE_HEADERS);
    }
    const preflight =
      req.method === 'OPTIONS' &&
      typeof origin === 'string' &&
      req.headers['access-control-request-method'] !== undefined;
    if (!preflight) return next();
    if (ok) {
      res.setHeader('Access-Control-Allow-Methods', ALLOW_METHODS);
      res.setHeader('Access-Control-Allow-Headers', ALLOW_HEADERS);
      res.setHeader('Access-Control-Max-Age', String(MAX_AGE_SECONDS));
    }
    res.status(204).end();
  };
}
