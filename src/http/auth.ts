/**
 * Who is calling: the bearer token of every /v1 request, compared by SHA-256 digest with the
 * configured tokens, and the principal (installations, name) it grants, kept in `res.locals`.
 */
import { createHash } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { TokenGrant } from '../config.ts';
import type { Principal } from '../connections/connections.ts';
import { UnauthorizedError, invalidFields } from '../errors.ts';
import { bearerToken, isStreamRoute } from './request-guards.ts';

/** The authenticated caller of a /v1 route. */
export const principalOf = (res: Response): Principal => res.locals.principal as Principal;

/** Tokens are compared by SHA-256 digest so the raw values are not kept in the lookup path. */
function tokenTable(tokens: Map<string, TokenGrant>): Map<string, TokenGrant> {
  const table = new Map<string, TokenGrant>();
  for (const [token, grant] of tokens) table.set(digest(token), grant);
  return table;
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export function authenticate(tokens: Map<string, TokenGrant>): RequestHandler {
  const table = tokenTable(tokens);
  return (req, res, next) => {
    const header = req.headers.authorization;
    // Browsers' EventSource cannot send headers: the declared streams also take ?access_token=.
    // A HEAD is answered by the GET route (Express routes it there), so it authenticates as the
    // GET does: refusing its query token answered 401 where the GET it mirrors answered 200.
    const queryToken = header ? undefined : req.query.access_token;
    const readsStream = req.method === 'GET' || req.method === 'HEAD';
    const onStream = readsStream && isStreamRoute(`${req.baseUrl}${req.path}`);
    const streamToken = onStream && typeof queryToken === 'string' ? queryToken : null;
    const token = bearerToken(header) ?? streamToken;
    if (!token && onStream && Array.isArray(queryToken)) {
      // Not missing: sent twice. Named like any other repeated query parameter (RFC 6750: 400).
      throw invalidFields('query', [
        { field: 'access_token', message: 'is given more than once: send it once' },
      ]);
    }
    if (!token) {
      throw new UnauthorizedError(
        queryToken === undefined
          ? 'missing bearer token: send Authorization: Bearer <token>'
          : 'missing bearer token: send Authorization: Bearer <token> (?access_token= is accepted only by the live streams)',
      );
    }
    const grant = table.get(digest(token));
    if (!grant) throw new UnauthorizedError('the bearer token is not valid', {}, true);
    res.locals.principal = {
      installations: grant.installations,
      name: grant.name,
    } satisfies Principal;
    next();
  };
}
