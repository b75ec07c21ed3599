/**
 * Parsers of the configuration values: whole numbers, delays, rates, URLs, protocol ranges, the
 * email sender, token lists, the API tokens' JSON and the CORS origins. Used by src/config.ts
 * (the only reader of process.env).
 */
import semver from 'semver';
import { z } from 'zod';
import { type ComparatorSets, satisfies } from '../machines/shared/version.ts';
import { emailAddress } from './notifications/settings.ts';

/**
 * The longest delay of a setting a process timer uses (polls, leases, timeouts): Node's timers
 * take at most 2^31 - 1 ms and silently use 1 ms for more. The charts' delays (heartbeat,
 * handshake, reconnect, resolve timeouts) are durable timers in Redis and may be longer.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * A whole number in decimal digits (`1e3`, `0x10`, `5.0` and `-1` are refused). The digits make
 * it whole; a number beyond `max` (at most 2^53 - 1, past which digits are no longer read
 * exactly) is one bad value, named once: `.int()` named it a second time.
 */
export const whole = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number in decimal digits')
    // Over 308 digits Number() gives Infinity, which z.number() calls no number at all.
    .transform((s) => Math.min(Number(s), Number.MAX_VALUE))
    .pipe(z.number().min(min).max(max));
export const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  whole(min, max).default(def);
/** A delay a process timer waits (see MAX_TIMER_MS). */
export const timerMs = (def: number, min: number) => int(def, min, MAX_TIMER_MS);
/** A URL with one of `schemes` (`redis:`…). */
export const urlOf = (...schemes: string[]) =>
  z.string().refine(
    (s) => {
      try {
        return schemes.includes(new URL(s).protocol);
      } catch {
        return false;
      }
    },
    `must be a ${schemes.map((p) => `${p}//`).join(' or ')} URL`,
  );
/**
 * A rate from 0 to 1 in decimal digits (`0.95`, `.5`, `1`). Not coerced by `Number()`, which
 * reads a blank value as 0 (a critical capacity ratio of 0 sheds every registration) and takes
 * `0x1` or `1e-1`.
 */
export const rate = (def: number) =>
  z
    .string()
    .regex(/^(\d+(\.\d*)?|\.\d+)$/, 'must be a decimal from 0 to 1 in decimal digits, e.g. 0.95')
    .transform(Number)
    .pipe(z.number().min(0).max(1))
    .default(def);

/**
 * True when some version satisfies range `r` by the chart's own comparison (machines/shared/
 * version.ts): semver's lowest match, if any, checked against the comparator sets the chart gets.
 */
function satisfiable(r: string): boolean {
  const lowest = semver.minVersion(r);
  return lowest !== null && satisfies(lowest.version, comparatorSets(r));
}

export function comparatorSets(r: string): ComparatorSets {
  return new semver.Range(r).set.map((set) =>
    set.map((c) => ({ operator: c.operator, version: c.semver.version ?? '' })),
  );
}

/**
 * `noreply@example.com` or `LumiLink <noreply@example.com>`: the address by the rule of the
 * notification settings' email recipients, a name without `<`, `>`, `"` or line breaks (no
 * header can be smuggled into the From line).
 */
export function isSender(value: string): boolean {
  const named = /^([^<>"\r\n]*[^<>"\s])\s*<([^<>\s]+)>$/.exec(value);
  return emailAddress.safeParse(named ? named[2] : value).success;
}

/** A semver range some version satisfies (`<0.0.0` or `>=2 <1` would fail every handshake). */
export const protocolRange = z
  .string()
  .refine((r) => semver.validRange(r) !== null, 'must be a semver range such as ^1.0.0')
  .refine(
    (r) => semver.validRange(r) === null || satisfiable(r),
    'no version satisfies this range: every handshake would fail',
  );

/**
 * `OPERATOR_TOKENS`: comma-separated. A JSON list (`["tok…"]`, the form of `API_TOKENS`) was taken
 * as one token with its brackets and quotes, which no client sends: refused, saying the form.
 */
export const tokenList = z
  .string()
  .superRefine((s, ctx) => {
    if (s.trim().startsWith('['))
      ctx.addIssue({
        code: 'custom',
        message: 'is a comma-separated list (token-one,token-two), not a JSON list',
      });
  })
  .transform((s) =>
    s
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z
        .string()
        .min(16, 'tokens must be at least 16 characters')
        .refine(
          (t) => !/\s/.test(t),
          'a token must not contain spaces: it is sent as one word (Authorization: Bearer <token>)',
        ),
    ),
  );

/** `https://console.example.com`: scheme, host and port only, as browsers send `Origin`. */
const origin = z.string().refine((s) => {
  try {
    const url = new URL(s);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === s;
  } catch {
    return false;
  }
}, 'each origin must be scheme://host[:port] with no path or trailing slash, e.g. https://console.example.com');

export const originList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
  )
  .pipe(z.array(origin));

export const apiTokens = z
  .string()
  .transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: 'must be JSON: [{"token":"...","installations":["inst-a"]}]',
      });
      return z.NEVER;
    }
  })
  .pipe(
    z.array(
      z.strictObject(
        {
          token: z
            .string({ error: 'must be a string of at least 16 characters' })
            .min(16, 'tokens must be at least 16 characters'),
          installations: z
            .array(z.string({ error: 'must be a non-empty string' }).min(1, 'must not be empty'), {
              error: 'must be a list of installation ids, such as ["inst-a"]',
            })
            .min(1, 'must name at least one installation'),
          /** Who the token stands for in audit records (never the token itself). */
          name: z
            .string({ error: 'must be a string of 1 to 64 characters' })
            .min(1, 'must be a string of 1 to 64 characters')
            .max(64, 'must be a string of 1 to 64 characters')
            .optional(),
        },
        {
          error: (issue) =>
            issue.code === 'unrecognized_keys'
              ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (a token has token, installations and name)`
              : 'must be an object: {"token":"...","installations":["inst-a"]}',
        },
      ),
      { error: 'must be a JSON list: [{"token":"...","installations":["inst-a"]}]' },
    ),
  );
