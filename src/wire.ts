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

/**
 * Identifiers used in keys and paths: no spaces, braces or separators. A length refusal ends the
 * checks, so an empty or overlong id is named once, for its length.
 */
export const identifier = z
  .string()
  .min(1, { abort: true })
  .max(128, { abort: true })
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

/**
 * Characters refused in text a client writes that is stored (records, audit entries), logged
 * and shown (the console, toasts, transcripts): the C0 controls but tab (NUL, ESC of terminal
 * escape sequences, CR and LF that forge a log line), DEL and the C1 controls (`\p{Cc}`), the Unicode line and
 * paragraph separators, and the bidirectional embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069) that make a text read otherwise than it is stored. Tab is
 * whitespace that moves nothing: it is kept. One character class, so one linear pass.
 */
const ONE_LINE_REFUSED = /[^\P{Cc}\t]|[\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
/** As ONE_LINE_REFUSED, but line feeds are text (a commit message): LF, and CR only before LF. */
const MULTI_LINE_REFUSED = /[^\P{Cc}\t\n\r]|\r(?!\n)|[\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
/**
 * As ONE_LINE_REFUSED, and no whitespace at all (tab and space included): a URL holds none, and
 * URL() would drop a tab or encode a space without a word while the stored text kept it.
 */
const URL_REFUSED = /[\p{Cc}\s\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

type TextKind = 'one' | 'many' | 'url';

const REFUSED: Record<TextKind, RegExp> = {
  one: ONE_LINE_REFUSED,
  many: MULTI_LINE_REFUSED,
  url: URL_REFUSED,
};

const RULE: Record<TextKind, string> = {
  one: 'must be one line without control characters (newlines, escape sequences, NUL) or bidirectional overrides; tab is accepted',
  many: 'must not contain control characters (escape sequences, NUL, a CR not followed by LF) or bidirectional overrides; tab and line breaks are accepted',
  url: 'must not contain whitespace (percent-encode a space as %20), control characters or bidirectional overrides',
};

/**
 * What is wrong with `text` as free text of that kind (see plainText), or null: the rule and the
 * first refused character with where it is, never the text.
 *
 * @example
 * plainTextIssue('ok\u001b[2K', 'many'); // "must not contain control characters … (U+001B at character 3)"
 */
export function plainTextIssue(text: string, lines: TextKind): string | null {
  const found = REFUSED[lines].exec(text);
  if (!found) return null;
  const code = found[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `${RULE[lines]} (U+${code} at character ${found.index + 1})`;
}

/**
 * The one check of free text for control and bidirectional-override characters (see
 * ONE_LINE_REFUSED): `'one'` for a line (a reason, a title), `'many'` for text with line
 * breaks (a commit message, a note), `'url'` for a URL (no whitespace either). The issue names
 * the character and where it is, without echoing the text.
 *
 * @example
 * z.string().max(500).superRefine(plainText('one'));
 * // "stop\r\nINFO forged" → "must be one line without control characters … (U+000D at character 5)"
 */
export function plainText(lines: TextKind) {
  return (text: string, ctx: z.core.$RefinementCtx<string>): void => {
    const message = plainTextIssue(text, lines);
    if (message !== null) ctx.addIssue({ code: 'custom', message });
  };
}
