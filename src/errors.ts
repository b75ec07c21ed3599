/**
 * One error class per kind, each with an HTTP status and a stable `code`; the HTTP error
 * middleware renders them all as `{ error: { code, message, details } }`.
 */
export class AppError extends Error {
  readonly status: number = 500;
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
  override readonly status = 400;
  override readonly code = 'validation-failed';
}

export class UnauthorizedError extends AppError {
  override readonly status = 401;
  override readonly code = 'unauthorized';
}

export class ForbiddenError extends AppError {
  override readonly status = 403;
  override readonly code = 'forbidden';
}

export class NotFoundError extends AppError {
  override readonly status = 404;
  override readonly code = 'not-found';
}

export class AlreadyExistsError extends AppError {
  override readonly status = 409;
  override readonly code = 'already-exists';
}

/** The event is not accepted in the actor's current state; nothing was written. */
export class InvalidTransitionError extends AppError {
  override readonly status = 409;
  override readonly code = 'invalid-transition';
}

export class PayloadTooLargeError extends AppError {
  override readonly status = 413;
  override readonly code = 'payload-too-large';
}

/** Compare-and-set kept losing to other writers; the caller may retry. */
export class ContentionError extends AppError {
  override readonly status = 503;
  override readonly code = 'contention';
}

export class UnavailableError extends AppError {
  override readonly status = 503;
  override readonly code = 'unavailable';
}

/**
 * Redis did not answer (down, frozen past the command timeout, failing over, loading). The
 * request may or may not have been applied: retry it with the same request id.
 */
export class StoreUnavailableError extends AppError {
  override readonly status = 503;
  override readonly code = 'store-unavailable';
}

/**
 * REDIS_WAIT_REPLICAS replicas did not confirm a commit in time. The master has it; a failover
 * now could lose it. Retrying with the same request id is safe.
 */
export class ReplicationTimeoutError extends AppError {
  override readonly status = 503;
  override readonly code = 'replication-timeout';
}

/** The request body's Content-Type or Content-Encoding is not one the API reads; nothing ran. */
export class UnsupportedMediaTypeError extends AppError {
  override readonly status = 415;
  override readonly code = 'unsupported-media-type';
}

/** The caller already holds as many open live streams as this process allows; nothing opened. */
export class TooManyStreamsError extends AppError {
  override readonly status = 429;
  override readonly code = 'too-many-streams';
}

/**
 * A client error the HTTP layer (Express, body parsing) reported with a 4xx status that no class
 * above names; it keeps that status.
 */
export class RequestRefusedError extends AppError {
  override readonly code = 'request-refused';
  constructor(
    override readonly status: number,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, details);
  }
}
