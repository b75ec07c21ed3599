/**
 * One error class per meaning (not found, conflict, invalid transition, store unavailable…),
 * each with a stable `code`. They know nothing of HTTP: the HTTP edge maps codes to statuses
 * (src/http/error-status.ts) and renders them as `{ error: { code, message, details } }`.
 */
export class AppError extends Error {
  readonly code: string = 'internal';
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = this.constructor.name;
  }
}

export class ValidationError extends AppError {
  override readonly code = 'validation-failed';
}

/** One entry per offending field, with a dotted path such as `logs.3.message`. */
export interface FieldIssue {
  field: string;
  message: string;
}

/**
 * How many keys one 400 names when the client's own keys are the problem (unknown fields,
 * prototype keys): the first ones, in document order. A body can hold thousands.
 */
export const MAX_REPORTED_KEYS = 10;

/**
 * The one shape of a 400 that names fields, for zod's issues and for checks that are not
 * schemas alike: `invalid <where>: <field>: <message>; ...`, details `{ in, fields }`.
 *
 * @example
 * invalidFields('body', [{ field: 'logs.0.data.__proto__', message: 'key not allowed' }]);
 */
export function invalidFields(where: string, fields: FieldIssue[]): ValidationError {
  // A key with an empty name (`{"": 1}`, `?=1`) is named so, not as an empty string: the
  // message would otherwise read `invalid body: : unknown field`.
  const named = fields.map((f) => (f.field === '' ? { ...f, field: EMPTY_NAME } : f));
  const summary = named.map((f) => `${f.field}: ${f.message}`).join('; ');
  return new ValidationError(`invalid ${where}: ${summary}`, { in: where, fields: named });
}

/** How an error names a key whose name is the empty string. */
export const EMPTY_NAME = '(empty name)';

/**
 * No usable token. `tokenRejected`: a token was sent where tokens are read and matches none (the
 * edge then says `error="invalid_token"`); false when none was sent, or not where it is read.
 */
export class UnauthorizedError extends AppError {
  override readonly code = 'unauthorized';
  constructor(
    message: string,
    details: Record<string, unknown> = {},
    readonly tokenRejected = false,
  ) {
    super(message, details);
  }
}

export class ForbiddenError extends AppError {
  override readonly code = 'forbidden';
}

export class NotFoundError extends AppError {
  override readonly code = 'not-found';
}

export class AlreadyExistsError extends AppError {
  override readonly code = 'already-exists';
}

/**
 * A request id the actor remembers for a request with another body (see `requestKey`): the id
 * was already used for a different request, which is neither applied again nor answered as a
 * repeat; nothing was written.
 */
export class RequestIdReusedError extends AppError {
  override readonly code = 'request-id-reused';
  constructor(requestKey: string) {
    // `<COMMAND>:<client id>#<digest>`: the client's id only.
    const id = requestKey.slice(requestKey.indexOf(':') + 1).split('#')[0] ?? '';
    super(
      `requestId ${id} was already used for a different request (another body); send a new requestId for a new request`,
      { field: 'requestId' },
    );
  }
}

/** The event is not accepted in the actor's current state; nothing was written. */
export class InvalidTransitionError extends AppError {
  override readonly code = 'invalid-transition';
}

/**
 * Another actor's chart refused this actor's creation in the commit that would have created it
 * (see VETO in src/engine/types.ts); nothing of it was written. `details`: `vetoedBy` (the
 * refusing chart's kind), `reason`, and the chart's own details.
 */
export class VetoedError extends AppError {
  override readonly code = 'vetoed';
}

export class PayloadTooLargeError extends AppError {
  override readonly code = 'payload-too-large';
}

/** Compare-and-set kept losing to other writers; the caller may retry. */
export class ContentionError extends AppError {
  override readonly code = 'contention';
}

export class UnavailableError extends AppError {
  override readonly code = 'unavailable';
}

/**
 * Redis did not answer (down, frozen past the command timeout, failing over, loading). The
 * request may or may not have been applied: retry it with the same request id.
 */
export class StoreUnavailableError extends AppError {
  override readonly code = 'store-unavailable';
}

/**
 * REDIS_WAIT_REPLICAS replicas did not confirm a commit in time. The master has it; a failover
 * now could lose it. Retrying with the same request id is safe.
 */
export class ReplicationTimeoutError extends AppError {
  override readonly code = 'replication-timeout';
}

/** The request body's Content-Type or Content-Encoding is not one the API reads; nothing ran. */
export class UnsupportedMediaTypeError extends AppError {
  override readonly code = 'unsupported-media-type';
}

/** The caller already holds as many open live streams as this process allows; nothing opened. */
export class TooManyStreamsError extends AppError {
  override readonly code = 'too-many-streams';
}

/**
 * A client error of the HTTP layer itself (Express, body parsing, a WebSocket upgrade) that no
 * class above names: it exists only at the edge, and keeps the HTTP status it was refused with.
 */
export class RequestRefusedError extends AppError {
  override readonly code = 'request-refused';
  constructor(
    readonly httpStatus: number,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, details);
  }
}
