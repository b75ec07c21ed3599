import type { z } from 'zod';
import { type FieldIssue, type ValidationError, invalidFields } from '../errors.ts';

export function fieldIssues(error: z.ZodError, prefix?: string): FieldIssue[] {
  return error.issues.map((i) => {
    const path = [prefix, ...i.path.map(String)]
      .filter((p) => p !== undefined && p !== '')
      .join('.');
    if (i.code === 'unrecognized_keys') {
      const keys = i.keys.map((k) => (path ? `${path}.${k}` : k));
      return { field: keys.join(', '), message: `unknown field${keys.length > 1 ? 's' : ''}` };
    }
    return { field: path || '(root)', message: i.message };
  });
}

/** `where` is the part of the request: body, query or path. */
export function validationError(
  error: z.ZodError,
  where: string,
  prefix?: string,
): ValidationError {
  return invalidFields(where, fieldIssues(error, prefix));
}

/**
 * How a request's input is parsed: a field that is missing is reported as `is required`
 * (zod's own message says "Invalid input: expected number, received undefined"). A message a
 * schema sets itself still wins; schemas with one use `unlessMissing` (src/wire.ts) so that a
 * missing value still says `is required`.
 *
 * @example
 * const parsed = batchItem.safeParse(raw, INPUT);
 */
export const INPUT: z.core.ParseContext<z.core.$ZodIssue> = {
  // A missing enum value is an `invalid_value` issue ("Invalid option"), any other an
  // `invalid_type`.
  error: (issue) =>
    (issue.code === 'invalid_type' || issue.code === 'invalid_value') && issue.input === undefined
      ? 'is required'
      : undefined,
};

/**
 * Parses `input` or throws a 400 naming every bad field.
 *
 * @example
 * const body = parse(heartbeatBody, req.body, 'body');
 */
export function parse<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: 'body' | 'query' | 'path',
): z.output<S> {
  const result = schema.safeParse(input, INPUT);
  if (!result.success) throw validationError(result.error, where);
  return result.data;
}
