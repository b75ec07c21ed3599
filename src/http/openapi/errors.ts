/**
 * Every error code the API answers (src/errors.ts and the typed errors of the services), its
 * HTTP status and what it means; the document gives each route one response per status, whose
 * schema names exactly the codes that route may answer with that status.
 */
import { z } from 'zod';

export const ERRORS = {
  'validation-failed': {
    status: 400,
    meaning:
      'a path, query or body field is invalid (each named in details.fields[].field and in the message; details.in says where); nothing was written',
  },
  unauthorized: {
    status: 401,
    meaning:
      'missing or unknown bearer token (WWW-Authenticate: Bearer realm="lumilink", with error="invalid_token" for an unknown one)',
  },
  forbidden: {
    status: 403,
    meaning:
      'the token may not do this (an installation token naming another installation, or a command that needs an operator token)',
  },
  'not-found': {
    status: 404,
    meaning:
      'no such resource, or one of another tenant (never confirmed): details.field names the id',
  },
  'already-exists': {
    status: 409,
    meaning:
      'the id is taken: connection, workspace and session ids are global, and the answer is the same whichever installation holds the id (never which one)',
  },
  'invalid-transition': {
    status: 409,
    meaning:
      "the actor's chart does not accept this command in its current state; nothing was written",
  },
  vetoed: {
    status: 409,
    meaning:
      "another actor's chart refused this actor's creation in the same commit; nothing was written",
  },
  'migration-refused': {
    status: 409,
    meaning:
      'the workspace cannot take this migration, rollback or re-enable now (details say why)',
  },
  'request-id-reused': {
    status: 409,
    meaning:
      'the requestId was already used for a different request to this connection or workspace (another body; details.field: requestId); nothing was written: send a new requestId',
  },
  'payload-too-large': { status: 413, meaning: 'the body is larger than the route allows' },
  'unsupported-media-type': {
    status: 415,
    meaning:
      'Content-Type is not application/json with no charset or charset=utf-8, or Content-Encoding is not identity (details.header names which); nothing ran',
  },
  'request-refused': {
    status: null,
    meaning:
      'a client error of the HTTP layer that no other code names; it keeps its status (each route documents the statuses it answers with this code)',
  },
  'too-many-streams': {
    status: 429,
    meaning:
      'the token (STREAMS_PER_TOKEN) or installation (STREAMS_PER_INSTALLATION) already holds as many open live streams as this process allows; nothing opened (Retry-After: 5)',
  },
  internal: { status: 500, meaning: 'a bug: logged with its stack and the request id' },
  'capacity-shed': {
    status: 503,
    meaning:
      'the installation is at or beyond its critical capacity: use the HTTP transport (details.useTransport); ask for ACP again no sooner than Retry-After (60 s)',
  },
  'store-unavailable': {
    status: 503,
    meaning:
      'Redis did not answer in time; the request may or may not have been applied: retry with the same request id (Retry-After: 1)',
  },
  contention: {
    status: 503,
    meaning: 'concurrent writers kept winning the compare-and-set; retry (Retry-After: 1)',
  },
  'replication-timeout': {
    status: 503,
    meaning:
      'REDIS_WAIT_REPLICAS replicas did not confirm the commit in time; the master has it: retry with the same request id',
  },
  unavailable: { status: 503, meaning: 'a dependency did not answer (metrics scrape)' },
} as const satisfies Record<string, { status: number | null; meaning: string }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * A code a route answers with its own meaning, or with the status it answers a code that has
 * no fixed status (`request-refused`).
 *
 * @example
 * const refusal: RouteError = { code: 'request-refused', status: 426, meaning: 'not an upgrade' };
 */
export interface SpecificError {
  code: ErrorCode;
  /** Required when the catalogue gives the code no status. */
  status?: number;
  meaning?: string;
}

/** An entry of a route's `errors`: a code of the catalogue, as it is or made specific. */
export type RouteError = ErrorCode | SpecificError;

/** What every route may answer (400: a path that is not valid percent-encoding). */
export const ALWAYS: ErrorCode[] = ['validation-failed', 'internal'];
/** What every /v1 route may answer in addition: it needs a token and reads Redis. */
export const AUTHENTICATED: ErrorCode[] = ['unauthorized', 'store-unavailable'];
/** What every /v1 command (not GET) may answer in addition: it commits. */
export const COMMITS: ErrorCode[] = ['contention', 'replication-timeout'];
/** What every route with a request body may answer in addition. */
export const WITH_BODY: ErrorCode[] = ['payload-too-large', 'unsupported-media-type'];

/**
 * The one error shape, restricted to `codes`.
 *
 * @example
 * errorBody(['not-found']).parse({ error: { code: 'not-found', message: 'm', details: {}, requestId: 'r' } });
 */
export function errorBody(codes: readonly ErrorCode[]) {
  return z.strictObject({
    error: z.strictObject({
      code: z.enum(codes as [ErrorCode, ...ErrorCode[]]),
      message: z.string().meta({ description: 'what went wrong and how to fix it' }),
      details: z.record(z.string(), z.unknown()).meta({
        description:
          'machine-readable particulars: `in` (path, query, body, header), `field` or `fields[]` ({ field, message }), limits',
      }),
      requestId: z
        .string()
        .meta({ description: 'the X-Request-Id of the request (also in the access log)' }),
    }),
  });
}

/** Examples of each code, shown on the docs page. */
export const ERROR_EXAMPLES: Partial<Record<ErrorCode, unknown>> = {
  'validation-failed': {
    error: {
      code: 'validation-failed',
      message: 'invalid path: connectionId: may contain only letters, digits and . _ ~ -',
      details: {
        in: 'path',
        fields: [
          { field: 'connectionId', message: 'may contain only letters, digits and . _ ~ -' },
        ],
      },
      requestId: '9b1c2f0e-6f7e-4c43-9a51-0d2b1f0c1a77',
    },
  },
  unauthorized: {
    error: {
      code: 'unauthorized',
      message: 'missing bearer token: send Authorization: Bearer <token>',
      details: {},
      requestId: '9b1c2f0e-6f7e-4c43-9a51-0d2b1f0c1a77',
    },
  },
  'not-found': {
    error: {
      code: 'not-found',
      message: 'connection c9 not found',
      details: { field: 'connectionId' },
      requestId: '9b1c2f0e-6f7e-4c43-9a51-0d2b1f0c1a77',
    },
  },
  'too-many-streams': {
    error: {
      code: 'too-many-streams',
      message:
        'this token already holds 20 open live streams on this server; close one before opening another',
      details: { scope: 'token', limit: 20 },
      requestId: '9b1c2f0e-6f7e-4c43-9a51-0d2b1f0c1a77',
    },
  },
  'store-unavailable': {
    error: {
      code: 'store-unavailable',
      message: 'the store (Redis) did not answer; retry with the same request id',
      details: {},
      requestId: '9b1c2f0e-6f7e-4c43-9a51-0d2b1f0c1a77',
    },
  },
};
