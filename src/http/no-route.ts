/**
 * The answer to a request no route took: 405 with `Allow` when the path is a route's under
 * another method (`DELETE /v1/connections/c1`), else 404. Route paths are public (the OpenAPI
 * document lists them), so naming the methods a path takes tells a client nothing it may not
 * know.
 */
import type { RequestHandler, Router } from 'express';
import { NotFoundError, RequestRefusedError } from '../errors.ts';

/** The parts of the router's layers read here (express types them loosely). */
interface RouteLayer {
  route?: { methods: Record<string, boolean | undefined> };
  match(path: string): unknown;
}

/** The methods routes of `router` take at `path`, upper case, HEAD with GET; empty for none. */
export function allowedMethods(router: Router, path: string): string[] {
  const allowed = new Set<string>();
  for (const layer of router.stack as unknown as RouteLayer[]) {
    if (!layer.route || !layer.match(path)) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (on && method !== '_all') allowed.add(method.toUpperCase());
    }
  }
  if (allowed.has('GET')) allowed.add('HEAD');
  return [...allowed].sort();
}

/** The last middleware: 405 (with `Allow`) or 404. */
export function noRoute(router: Router): RequestHandler {
  return (req, res) => {
    const allowed = allowedMethods(router, req.path);
    // A route of this method passed the request on (a file that is not there): not found.
    if (allowed.length === 0 || allowed.includes(req.method)) {
      throw new NotFoundError(`no route for ${req.method} ${req.path}`);
    }
    res.setHeader('Allow', allowed.join(', '));
    throw new RequestRefusedError(
      405,
      `${req.method} is not allowed on ${req.path}: it takes ${allowed.join(', ')}`,
      { in: 'request', method: req.method, allow: allowed },
    );
  };
}
