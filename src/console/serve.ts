/**
 * Serves the operator console (the static bundle Vite writes to `dist/console/`) at `/`.
 * The page talks to the public /v1 API only; serving it needs no token, the data does.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { NotFoundError } from '../errors.ts';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Where the bundle is: `dist/console/` next to the sources (`src/console/` under tsx) or next
 * to the compiled code (`dist/src/console/` after `npm run build`).
 */
export const CONSOLE_DIRS = [resolve(here, '../../dist/console'), resolve(here, '../../console')];

/** The first directory holding a built console, or null. */
export function findConsoleDir(candidates: readonly string[] = CONSOLE_DIRS): string | null {
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? null;
}

/**
 * The page runs only its own bundle and talks only to this service; no referrer leaves it
 * (stream URLs carry `access_token`), and no other site may frame it.
 */
export const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
} as const;

export const NOT_BUILT_MESSAGE =
  'the operator console is not built: run `npm run build:console` (or `npm start`, which builds it first, or `npm run build` for dist/), then reload';

/**
 * Mounts the console. The directory is looked up per request until found, so a console built
 * while the service runs is served without a restart; without one, `GET /` answers 404 with
 * how to build it (never a crash).
 *
 * @example
 * serveConsole(app); // GET / -> dist/console/index.html
 */
export function serveConsole(app: express.Express, dir?: string): void {
  let statics: { dir: string; handler: express.RequestHandler } | null = null;
  app.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (req.path.startsWith('/v1/')) return next();
    const found = dir ? findConsoleDir([dir]) : findConsoleDir();
    if (!found) {
      if (req.path === '/' || req.path === '/index.html')
        throw new NotFoundError(NOT_BUILT_MESSAGE);
      return next();
    }
    if (statics?.dir !== found) {
      statics = {
        dir: found,
        // Hashed asset names: cache them; index.html is revalidated so a rebuild shows at once.
        handler: express.static(found, {
          index: 'index.html',
          fallthrough: true,
          setHeaders: (r, path) => {
            r.setHeader(
              'cache-control',
              path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable',
            );
            for (const [name, value] of Object.entries(SECURITY_HEADERS)) r.setHeader(name, value);
          },
        }),
      };
    }
    statics.handler(req, res, next);
  });
}
