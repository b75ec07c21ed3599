/**
 * The documentation of every HTTP route, registered next to nothing else: `documentRoute({...})`
 * once per route, at import time. `/openapi.json` is built from this registry on first request,
 * and `test/openapi/document.test.ts` fails naming any route of the running app that has no
 * entry here (and any entry without a route).
 *
 * Request schemas are the zod schemas the route itself parses with, so the document cannot
 * drift from validation; response schemas live in src/http/openapi/schemas/.
 *
 * @example
 * documentRoute({
 *   method: 'get',
 *   path: '/v1/widgets/:widgetId',
 *   tag: 'Widgets',
 *   summary: 'One widget',
 *   params: widgetParams,
 *   responses: { 200: { description: 'the widget', schema: widgetSchema } },
 *   errors: ['not-found'],
 * });
 */
import type { z } from 'zod';
import type { RouteError } from './errors.ts';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** How a route authenticates (see the README's "Auth and tenancy" and "Bad input"). */
export type Auth = 'none' | 'bearer' | 'stream';

export interface ResponseDoc {
  description: string;
  /** The JSON body (absent: documented by `contentType` and `description` alone). */
  schema?: z.ZodType;
  /** Default `application/json`. */
  contentType?: string;
  example?: unknown;
  /** An answer without a body (e.g. 101 Switching Protocols): no content is documented. */
  noContent?: true;
  /** Headers of the answer beyond X-Request-Id: name -> what it holds. */
  headers?: Record<string, string>;
}

export interface RouteDoc {
  method: Method;
  /** The Express path, e.g. `/v1/connections/:connectionId`. */
  path: string;
  /** Groups routes on the docs page. */
  tag: string;
  summary: string;
  description?: string;
  /** Default: `bearer` for /v1 routes, `none` otherwise. */
  auth?: Auth;
  /** The same zod schemas the route parses `req.params` / `req.query` / `req.body` with. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** A bodiless command: the body may be left out (and is then read as `{}`). */
  bodyOptional?: boolean;
  bodyExample?: unknown;
  /** Successful answers by status. */
  responses: Partial<Record<number, ResponseDoc>>;
  /**
   * The error codes this route answers beyond the ones added by src/http/openapi/errors.ts:
   * 400 validation-failed and 500 internal everywhere; 401 unauthorized and 503
   * store-unavailable on /v1; 503 contention and replication-timeout on /v1 commands; 413 and
   * 415 with a body. A status in `responses` is not overwritten by an error response. A code
   * whose status varies (`request-refused`) is given as `{ code, status, meaning }`; any code
   * may be given a meaning of its own for this route that way.
   */
  errors?: RouteError[];
}

const routes = new Map<string, RouteDoc>();

const keyOf = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

/** Registers (or replaces) the documentation of one route. */
export function documentRoute(doc: RouteDoc): void {
  routes.set(keyOf(doc.method, doc.path), doc);
}

/** Every documented route, in registration order. */
export function documentedRoutes(): RouteDoc[] {
  return [...routes.values()];
}

/** `GET /v1/x/:id` style key of a route. */
export function routeKey(method: string, path: string): string {
  return keyOf(method, path);
}
