/**
 * What every request passes before a route sees it: a body the API can read (uncompressed UTF-8
 * JSON, declared as such), no prototype keys anywhere in that body, and the rule for which
 * routes take `?access_token=`. Each refusal is thrown before any route runs, so it writes
 * nothing.
 */
import type { RequestHandler } from 'express';
import { redactSecrets } from '../automation/secrets.ts';
import {
  type FieldIssue,
  MAX_REPORTED_KEYS,
  UnsupportedMediaTypeError,
  invalidFields,
} from '../errors.ts';

/**
 * The routes a browser's EventSource follows. EventSource cannot send headers, so these, and
 * only these, accept the bearer token as `?access_token=`. Matched segment by segment against
 * the request path: same case, no trailing slash, `:param` for exactly one non-empty segment.
 * test/hostile/guards.test.ts fails when a GET route ending in `/stream` is missing here.
 */
export const STREAM_ROUTES = [
  '/v1/installations/:installationId/toasts/stream',
  '/v1/sessions/:sessionId/toasts/stream',
  '/v1/installations/:installationId/transitions/stream',
  '/v1/actors/:actorId/transitions/stream',
] as const;

/**
 * The WebSocket routes (`/v1/inspect`, the Stately inspector feed). A browser's WebSocket and
 * the `@statelyai/inspect` receiver cannot send headers either: these also take `?access_token=`.
 */
export const SOCKET_ROUTES = ['/v1/inspect'] as const;

const STREAM_SEGMENTS = [...STREAM_ROUTES, ...SOCKET_ROUTES].map((route) => route.split('/'));

/**
 * Whether `path` (the request path, without the query) is one of STREAM_ROUTES or
 * SOCKET_ROUTES: the routes that take `?access_token=`.
 *
 * @example
 * isStreamRoute('/v1/installations/inst-a/toasts/stream'); // true
 * isStreamRoute('/v1/connections/stream'); // false
 */
export function isStreamRoute(path: string): boolean {
  const segments = path.split('/');
  return STREAM_SEGMENTS.some(
    (route) =>
      route.length === segments.length &&
      route.every((part, i) => (part.startsWith(':') ? segments[i] !== '' : part === segments[i])),
  );
}

/**
 * The token of an `Authorization: Bearer <token>` header, or null. Anchored, and the space run
 * and the token match disjoint characters, so a 16 KB header costs one pass.
 *
 * @example
 * bearerToken('Bearer abc'); // 'abc'
 */
export function bearerToken(header: string | undefined): string | null {
  return header ? (/^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? null) : null;
}

/**
 * Whether `path` is the batch heartbeat route (which gets the larger body limit). Routing
 * ignores case and trailing slashes, so this does too. Anchored: the unanchored `/\/+$/` it
 * replaces took 0.5 s on a path of 16,000 slashes followed by one letter.
 */
export const isBatchPath = (path: string): boolean => /^\/v1\/heartbeats\/*$/i.test(path);

/**
 * Refuses a path that is not valid percent-encoding (`/v1/sessions/%/automation`,
 * `%ZZ`, a lone half of a UTF-8 sequence) with a 400, before routing tries to decode its
 * parameters and fails in a way that reads as an internal error.
 */
export const refuseMalformedPaths: RequestHandler = (req, _res, next) => {
  try {
    decodeURIComponent(req.path);
  } catch {
    throw invalidFields('path', [
      { field: '(path)', message: 'is not valid percent-encoding (use %XX for each UTF-8 byte)' },
    ]);
  }
  next();
};

/** Methods that run commands; they must not run on a body the API did not read. */
const COMMAND_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Bytes follow the headers: a chunked body, or a Content-Length above zero. */
function carriesBody(headers: { 'transfer-encoding'?: string; 'content-length'?: string }) {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && Number(length) > 0;
}

/**
 * `application/json`, with no charset or `utf-8` (any case, quoted or not). Only `utf-8` itself:
 * the JSON parser refuses every other label (`utf8` included), and a body it refused after this
 * guard let it through was answered 400 instead of 415. An empty charset is not UTF-8 either.
 */
function isJsonType(header: string): boolean {
  const [media = '', ...params] = header.split(';');
  if (media.trim().toLowerCase() !== 'application/json') return false;
  return params.every((param) => {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') return true;
    const value = param.slice(eq + 1).trim();
    // A quoted value is taken as written between the quotes, as the parser reads it.
    const charset = /^"[^"]*"$/.test(value) ? value.slice(1, -1) : value;
    return charset.toLowerCase() === 'utf-8';
  });
}

/** Every listed coding is `identity` (the body as sent). */
function isIdentity(header: string): boolean {
  return header.split(',').every((coding) => coding.trim().toLowerCase() === 'identity');
}

/** The 415 for a Content-Encoding the API does not read (also when the parser finds one). */
export const contentEncodingRefused = () =>
  new UnsupportedMediaTypeError(
    'Content-Encoding is not supported: send the body uncompressed (no Content-Encoding, or identity)',
    { in: 'header', header: 'content-encoding' },
  );

/** The 415 for a Content-Type or charset the API does not read (also when the parser finds one). */
export const contentTypeRefused = () =>
  new UnsupportedMediaTypeError(
    'Content-Type must be application/json, with no charset or charset=utf-8, for a request body; send a command without a body with no Content-Type',
    { in: 'header', header: 'content-type' },
  );

/**
 * Refuses, with 415 `unsupported-media-type`, a request whose body the API would not read as
 * sent:
 * - any Content-Encoding but `identity` (the parser does not inflate: a compressed body is
 *   refused, never decoded);
 * - a body without `Content-Type: application/json` (a charset, if given, must be `utf-8`);
 * - a POST, PUT, PATCH or DELETE that declares another Content-Type, even with no body.
 *
 * A command sent with no body and no Content-Type (as `fetch(url, { method: 'POST' })` and
 * `curl -X POST` send it) is accepted: there are no bytes to misread, and the bodiless
 * commands (`/dropped`, `/recovered`, `/migrations/cancel`, `/auto-migration/reenable`) read
 * it as `{}`. A GET may carry a stray Content-Type, but not a non-JSON body.
 */
export const refuseUnreadableBodies: RequestHandler = (req, _res, next) => {
  const encoding = req.headers['content-encoding'];
  // An empty header names no coding: the body parser reads it as identity too.
  if (encoding !== undefined && encoding.trim() !== '' && !isIdentity(encoding)) {
    throw contentEncodingRefused();
  }
  const type = req.headers['content-type'];
  const body = carriesBody(req.headers);
  if (type === undefined ? body : (body || COMMAND_METHODS.has(req.method)) && !isJsonType(type)) {
    throw contentTypeRefused();
  }
  next();
};

/** Keys that reach an object's prototype when code copies or merges a parsed body. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Dotted paths of every `__proto__`, `constructor` or `prototype` key in a parsed JSON value,
 * in document order (at most MAX_REPORTED_KEYS). `JSON.parse` makes `__proto__` an own key,
 * which zod objects and records then drop without a word, so the check reads the parsed body.
 * Iterative: a body nested deeper than the call stack cannot exhaust it.
 *
 * @example
 * prototypeKeyPaths(JSON.parse('{"logs":[{"data":{"__proto__":{"x":1}}}]}'));
 * // ['logs.0.data.__proto__']
 */
export function prototypeKeyPaths(value: unknown): string[] {
  // Nearly every body holds none: look without building a path per key first (a batch of 100
  // heartbeats has over a thousand keys and array positions).
  if (!holdsPrototypeKey(value)) return [];
  const found: string[] = [];
  const stack: { value: unknown; path: string; refused?: true }[] = [{ value, path: '' }];
  while (stack.length > 0 && found.length < MAX_REPORTED_KEYS) {
    const { value: v, path, refused } = stack.pop()!;
    if (refused) found.push(path);
    if (refused || v === null || typeof v !== 'object') continue;
    const keys = Array.isArray(v) ? v.map((_, i) => String(i)) : Object.keys(v);
    // Pushed in reverse so the first key is examined first.
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const child = {
        value: (v as Record<string, unknown>)[key],
        path: path ? `${path}.${key}` : key,
      };
      stack.push(
        !Array.isArray(v) && PROTOTYPE_KEYS.has(key) ? { ...child, refused: true } : child,
      );
    }
  }
  return found;
}

/** Whether a prototype key is anywhere in a parsed JSON value; iterative like the above. */
function holdsPrototypeKey(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const item of v as unknown[]) stack.push(item);
      continue;
    }
    for (const key of Object.keys(v)) {
      if (PROTOTYPE_KEYS.has(key)) return true;
      stack.push((v as Record<string, unknown>)[key]);
    }
  }
  return false;
}

/**
 * Refuses a JSON body holding a prototype key anywhere with a 400 naming each path (as
 * `parse` does for schema errors). Paths are made of the client's own keys: a key that looks
 * like a secret is redacted rather than echoed.
 */
export const refusePrototypeKeys: RequestHandler = (req, _res, next) => {
  const paths = prototypeKeyPaths(req.body);
  if (paths.length > 0) {
    const fields: FieldIssue[] = paths.map((path) => ({
      field: redactSecrets(path),
      message: 'the keys __proto__, constructor and prototype are not accepted',
    }));
    throw invalidFields('body', fields);
  }
  next();
};
