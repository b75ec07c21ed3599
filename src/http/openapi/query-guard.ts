/**
 * Query parameters on a `/v1` route that takes none are refused, as unknown body fields are. A route
 * that takes a query parses it with its strict zod schema (`parse(schema, req.query, 'query')`),
 * which refuses unknown parameters itself; every other route would ignore them, so that
 * `GET /v1/installations/inst-a/capacity/alerts?limit=1` answered every alert as if `limit`
 * applied. Which routes take a query is what the route registry documents (`query`, the schema
 * the route parses with); live streams check theirs themselves (`access_token`, `lastEventId`).
 * Routes outside `/v1` (probes, `/metrics`, the docs) are left alone: a prober or scraper that
 * adds a parameter of its own is not refused.
 *
 * Mounted as module middleware (src/http/openapi/module.ts), so it runs after the body guards,
 * heartbeat lane included, and src/http/app.ts does not import the documentation.
 */
import type { RequestHandler } from 'express';
import { MAX_REPORTED_KEYS, invalidFields } from '../../errors.ts';
import { type RouteDoc, documentedRoutes } from './registry.ts';
import './routes/index.ts';

interface Matcher {
  method: string;
  path: RegExp;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A documented path as Express matches it: case-insensitive, an optional trailing slash, each
 * `:param` one segment.
 */
const matcherOf = (route: RouteDoc): Matcher => ({
  method: route.method.toUpperCase(),
  path: new RegExp(
    `^${route.path
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : escape(part)))
      .join('/')}/?$`,
    'i',
  ),
});

/**
 * @example
 * app.use(refuseQueryWhereNoneIsTaken()); // GET /v1/workspaces/ws-1?x=1 -> 400 naming x
 */
export function refuseQueryWhereNoneIsTaken(): RequestHandler {
  let takesNone: Matcher[] | undefined;
  return (req, _res, next) => {
    // Nearly every request has no query string: nothing to look up.
    if (!req.url.includes('?')) return next();
    const keys = Object.keys(req.query);
    if (keys.length === 0) return next();
    takesNone ??= documentedRoutes()
      .filter((r) => r.path.startsWith('/v1/') && r.query === undefined && r.auth !== 'stream')
      .map(matcherOf);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const path = req.path;
    if (!takesNone.some((m) => m.method === method && m.path.test(path))) return next();
    throw invalidFields(
      'query',
      keys.slice(0, MAX_REPORTED_KEYS).map((field) => ({
        field,
        message: 'unknown field: this route takes no query parameters',
      })),
    );
  };
}
