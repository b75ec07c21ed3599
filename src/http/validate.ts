import type { z } from 'zod';
import {
  type FieldIssue,
  MAX_REPORTED_KEYS,
  type ValidationError,
  invalidFields,
} from '../errors.ts';

/**
 * One entry per bad field, its dotted path in `field`. Each unknown key is an entry of its own
 * (`{ field: 'foo', message: 'unknown field' }`); as for prototype keys, at most
 * MAX_REPORTED_KEYS of them are named in one answer (an object's keys in document order).
 */
export function fieldIssues(error: z.ZodError): FieldIssue[] {
  const fields: FieldIssue[] = [];
  let unknown = 0;
  const pathOf = (i: z.core.$ZodIssue) =>
    i.path
      .map(String)
      .filter((p) => p !== '')
      .join('.');
  // A value of the wrong type is named once, for its type: zod still runs the checks of the
  // schema on it, and a string given for a list (`"emailTo": "ops@example.com"`) was also told
  // `must hold at most 20 addresses`, or `Too big: expected string to have <=3 characters`.
  const mistyped = new Set(error.issues.filter((i) => i.code === 'invalid_type').map(pathOf));
  for (const i of error.issues) {
    const path = pathOf(i);
    if (i.code !== 'invalid_type' && i.code !== 'unrecognized_keys' && mistyped.has(path)) continue;
    if (i.code !== 'unrecognized_keys') {
      fields.push({ field: path || '(root)', message: i.message });
      continue;
    }
    for (const key of i.keys.slice(0, MAX_REPORTED_KEYS - unknown)) {
      fields.push({ field: path ? `${path}.${key}` : key, message: 'unknown field' });
      unknown++;
    }
  }
  return fields;
}

/** `where` is the part of the request: body, query or path. */
export function validationError(error: z.ZodError, where: string): ValidationError {
  return invalidFields(where, fieldIssues(error));
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
  // `?limit=2&limit=3` reaches a schema as an array, whose own message ("expected number,
  // received NaN") hides what happened. No query parameter takes more than one value.
  if (where === 'query' && input !== null && typeof input === 'object') {
    const repeated = Object.entries(input)
      .filter(([, value]) => Array.isArray(value))
      .map(([field]) => ({ field, message: 'is given more than once: send it once' }));
    if (repeated.length > 0) throw invalidFields('query', repeated.slice(0, MAX_REPORTED_KEYS));
  }
  const result = schema.safeParse(input, INPUT);
  if (!result.success) {
    // A command sent without its body (`curl -X POST …/rollback`): `(root): is required` alone
    // would not say what the body needs, so the fields an empty object lacks are named too.
    if (where === 'body' && input === undefined) {
      const empty = schema.safeParse({}, INPUT);
      const fields = empty.success ? [] : fieldIssues(empty.error);
      throw invalidFields(
        'body',
        [{ field: '(root)', message: 'is required: send a JSON object' }, ...fields].slice(
          0,
          MAX_REPORTED_KEYS,
        ),
      );
    }
    throw validationError(result.error, where);
  }
  return result.data;
}
