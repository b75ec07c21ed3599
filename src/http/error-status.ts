/**
 * Where errors meet HTTP: the status of each error code (the table the OpenAPI document
 * publishes, src/http/openapi/errors.ts), applied only here, at the edge.
 */
import { type AppError, RequestRefusedError } from '../errors.ts';
import { ERRORS } from './openapi/errors.ts';

/** The HTTP status an error is answered with. */
export function httpStatusOf(e: AppError): number {
  if (e instanceof RequestRefusedError) return e.httpStatus;
  const known = (ERRORS as Record<string, { status: number | null } | undefined>)[e.code];
  return known?.status ?? 500;
}
