import { describe, expect, it } from 'vitest';
import { CapacityShedError } from '../../src/capacity/capacity.ts';
import {
  AlreadyExistsError,
  AppError,
  ContentionError,
  InvalidTransitionError,
  NotFoundError,
  ReplicationTimeoutError,
  RequestRefusedError,
  StoreUnavailableError,
  TooManyStreamsError,
  ValidationError,
} from '../../src/errors.ts';
import { httpStatusOf } from '../../src/http/error-status.ts';
import { ERRORS } from '../../src/http/openapi/errors.ts';
import { MigrationRefusedError } from '../../src/workspaces/workspaces.ts';

describe('errors and HTTP', () => {
  it('errors say what happened, not how HTTP answers it', () => {
    for (const e of [
      new NotFoundError('x'),
      new InvalidTransitionError('x'),
      new StoreUnavailableError('x'),
      new ContentionError('x'),
    ]) {
      expect(e).not.toHaveProperty('status');
      expect(Object.keys(ERRORS)).toContain(e.code);
    }
  });

  it('maps each meaning to its status at the edge, as the OpenAPI document says', () => {
    expect(httpStatusOf(new ValidationError('x'))).toBe(400);
    expect(httpStatusOf(new NotFoundError('x'))).toBe(404);
    expect(httpStatusOf(new AlreadyExistsError('x'))).toBe(409);
    expect(httpStatusOf(new InvalidTransitionError('x'))).toBe(409);
    expect(httpStatusOf(new MigrationRefusedError('x'))).toBe(409);
    expect(httpStatusOf(new TooManyStreamsError('x'))).toBe(429);
    expect(httpStatusOf(new StoreUnavailableError('x'))).toBe(503);
    expect(httpStatusOf(new ReplicationTimeoutError('x'))).toBe(503);
    expect(httpStatusOf(new CapacityShedError('x'))).toBe(503);
    expect(httpStatusOf(new AppError('a bug'))).toBe(500);
  });

  it('keeps the status an HTTP-layer refusal was made with', () => {
    expect(httpStatusOf(new RequestRefusedError(426, 'use ws://'))).toBe(426);
    expect(httpStatusOf(new RequestRefusedError(405, 'not a GET'))).toBe(405);
  });
});
