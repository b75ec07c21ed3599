/**
 * Wire-format conventions from the seed's validation notes: ISO 8601 UTC timestamps, rates as
 * decimals 0.0-1.0, enum values in kebab-case on output (`rolled-back`), and the seed's
 * camelCase spelling (`rolledBack`) accepted on input.
 */
import { z } from 'zod';

export function toKebab(value: string): string {
  return value.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function fromKebab(value: string): string {
  return value.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

/**
 * A zod enum over internal camelCase values that accepts kebab-case or camelCase input and
 * yields the internal value.
 *
 * @example
 * wireEnum(['rolledBack', 'connected']).parse('rolled-back'); // 'rolledBack'
 */
export function wireEnum<const T extends readonly [string, ...string[]]>(values: T) {
  const accepted = new Set<string>(values);
  const isValue = (s: string): s is T[number] => accepted.has(s);
  const spelled = values.map(toKebab).join(', ');
  return z
    .string()
    .transform((s, ctx): T[number] => {
      if (isValue(s)) return s;
      const internal = fromKebab(s);
      if (isValue(internal) && toKebab(internal) === s) return internal;
      ctx.addIssue({ code: 'custom', message: `must be one of: ${spelled}` });
      return z.NEVER;
    })
    .meta({
      // For the OpenAPI document (src/http/openapi/): the spellings this accepts.
      enum: [...new Set([...values.map(toKebab), ...values])],
      description: "kebab-case (the seed's camelCase is accepted too)",
    });
}

/**
 * A schema's own message for a value that is there but wrong. A missing one is left to the
 * request's parse context, which says `is required` (src/http/validate.ts): a message given to a
 * schema is also zod's answer to a missing value, and "must be an ISO 8601 UTC timestamp" would
 * hide that the field was not sent at all.
 *
 * @example
 * z.enum(['a', 'b'], { error: unlessMissing('must be a or b') });
 */
export const unlessMissing =
  (message: string) =>
  (issue: { input?: unknown }): string | undefined =>
    issue.input === undefined ? undefined : message;

/** ISO 8601 UTC timestamp (`Z` suffix), parsed to epoch milliseconds. */
export const utcTimestamp = z.iso
  .datetime({
    error: unlessMissing('must be an ISO 8601 UTC timestamp such as 2026-01-01T00:00:00Z'),
  })
  .transform((s) => Date.parse(s));

/** Identifiers used in keys and paths: no spaces, braces or separators. */
export const identifier = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._~-]+$/, 'may contain only letters, digits and . _ ~ -');

/**
 * A page's `limit` query parameter: a whole number from 1 to `max` in decimal digits, `def`
 * when absent. `z.coerce.number()` alone took `0x10` as 16 and `1e2` as 100, and read an empty
 * `limit=` as 0, refused as `Too small` (a limit nobody sent).
 */
export const pageLimit = (max: number, def: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && !/^\d{1,16}$/.test(v) ? Number.NaN : v),
    z.coerce
      .number({ error: `must be a whole number from 1 to ${max} in decimal digits` })
      .int()
      .min(1)
      .max(max)
      .default(def),
  );
