/**
 * A lighter path through Express for the two heartbeat routes, which carry nearly all the
 * traffic. Every request otherwise walks the app's whole middleware stack through the router
 * (one layer per `app.use`, each matched against the path): in the benchmark profile of the
 * single-heartbeat endpoint the router's own frames were about 6 % of the CPU.
 *
 * The lane is one Express middleware, mounted first. For `POST /v1/connections/:id/heartbeats`
 * and `POST /v1/heartbeats`, written exactly so (lowercase, no trailing slash, a decodable id), it
 * runs the very same middleware functions in the same order (request log, CORS, authentication,
 * body guards and parser, module middleware) and then the route's handler, without the router in
 * between. Anything else, including other spellings of these paths that Express would also route
 * (`/V1/Heartbeats/`), goes on to the ordinary stack, where the same handlers are mounted: so the
 * answer to any request is the one the ordinary stack gives. An error goes to the app's error
 * handler, as from a route.
 *
 * @example
 * app.use(heartbeatLane(middleware, { single: singleHeartbeat, batch: batchHeartbeats }));
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

const SINGLE = /^\/v1\/connections\/([^/]+)\/heartbeats$/;
const BATCH = '/v1/heartbeats';

/** Runs `handlers` in order as Express would, each calling `next` to go on; errors go to `done`. */
export function compose(handlers: readonly RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, done: NextFunction) => {
    let i = 0;
    const next = (error?: unknown): void => {
      if (error !== undefined && error !== null && error !== 'route' && error !== 'router') {
        done(error);
        return;
      }
      const handler = handlers[i++];
      if (!handler) {
        done();
        return;
      }
      try {
        const result: unknown = handler(req, res, next);
        // Express 5 passes a rejected promise of a handler to the error handler; so does this.
        if (result instanceof Promise) result.catch(next);
      } catch (thrown) {
        next(thrown ?? new Error('handler threw a nullish value'));
      }
    };
    next();
  };
}

export interface HeartbeatHandlers {
  /** `POST /v1/connections/:connectionId/heartbeats`; reads `req.params.connectionId`. */
  single: RequestHandler;
  /** `POST /v1/heartbeats`. */
  batch: RequestHandler;
}

/**
 * The lane: `middleware` (what every request passes before a route) then the heartbeat handler,
 * for the canonical heartbeat paths only.
 */
export function heartbeatLane(
  middleware: readonly RequestHandler[],
  handlers: HeartbeatHandlers,
): RequestHandler {
  const single = compose([...middleware, handlers.single]);
  const batch = compose([...middleware, handlers.batch]);
  return (req, res, next) => {
    if (req.method !== 'POST') return next();
    const path = req.path;
    if (path === BATCH) return batch(req, res, next);
    const match = SINGLE.exec(path);
    if (!match) return next();
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(match[1]!);
    } catch {
      return next(); // the router answers an undecodable parameter itself
    }
    req.params = { connectionId };
    return single(req, res, next);
  };
}
