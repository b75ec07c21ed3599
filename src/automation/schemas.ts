import { z } from 'zod';
import {
  identifier,
  pageLimit,
  plainText,
  plainTextIssue,
  toKebab,
  unlessMissing,
  utcTimestamp,
  wireEnum,
} from '../wire.ts';

/** Skip reasons (internal camelCase; kebab-case on the wire, camelCase accepted on input). */
export const SKIP_REASONS = [
  'repoBlocked',
  'missingCredential',
  'automationDisabled',
  'rateLimited',
  'workspaceRollback',
  'other',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export const AUTOMATION_STATUSES = ['success', 'skipped', 'error'] as const;
export type AutomationStatus = (typeof AUTOMATION_STATUSES)[number];

export const TRANSCRIPT_EVENT_TYPES = ['automation', 'toast', 'rollback', 'info'] as const;
export type TranscriptEventType = (typeof TRANSCRIPT_EVENT_TYPES)[number];

export const TOAST_MAX_CHARS = 140;
export const MAX_LOG_ENTRIES = 100;
/** How deep `logs[].data` may nest (objects and arrays). */
export const MAX_DATA_DEPTH = 8;

/** Characters as a reader counts them (code points), not UTF-16 units. */
export const charCount = (s: string) => [...s].length;

/**
 * Text of a summary: stored, shown in the console, toasts and transcripts. `lines: 'many'` for
 * text with line breaks (a commit message); control and bidi override characters are refused
 * either way (`plainText`, src/wire.ts).
 */
const text = (max: number, lines: 'one' | 'many' = 'one') =>
  z.string().min(1, 'must not be empty').max(max).superRefine(plainText(lines));
/** An optional short label (`step`, `code`) of a log entry. */
const label = z.string().min(1).max(128).superRefine(plainText('one'));

const httpUrl = z
  .string()
  .max(2048)
  // URL() drops tabs and line breaks, and encodes spaces, without a word; the stored text would keep them.
  .superRefine(plainText('url'))
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL');

const positiveInt = z.number().int('must be a whole number').min(1, 'must be at least 1');

/** Depth of nested objects/arrays, computed without recursion. */
export function depthOf(value: unknown): number {
  let max = 0;
  const stack: { v: unknown; d: number }[] = [{ v: value, d: 0 }];
  while (stack.length > 0) {
    const { v, d } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, d + 1);
    if (max > MAX_DATA_DEPTH) return max;
    for (const child of Object.values(v as Record<string, unknown>))
      stack.push({ v: child, d: d + 1 });
  }
  return max;
}

/**
 * Refuses control and bidi override characters in the keys and strings of `logs[].data` as in
 * any other text of a summary (line breaks accepted, a stack trace has them), naming the first
 * such key or value by its path. Walked without recursion, only when the depth is within bounds.
 */
function plainData(
  data: Record<string, unknown>,
  ctx: z.core.$RefinementCtx<Record<string, unknown>>,
) {
  // Too deep is refused above (and its paths would cost depth² to build here).
  if (depthOf(data) > MAX_DATA_DEPTH) return;
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: data, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const message = plainTextIssue(v, 'many');
      if (message !== null) return ctx.addIssue({ code: 'custom', path, message });
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    const entries = Object.entries(v as Record<string, unknown>);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      const at = Array.isArray(v) ? [...path, i] : [...path, key];
      const message = Array.isArray(v) ? null : plainTextIssue(key, 'one');
      if (message !== null)
        return ctx.addIssue({ code: 'custom', path: at, message: `key ${message}` });
      stack.push({ v: child, path: at });
    }
  }
}

const logEntry = z.strictObject({
  at: utcTimestamp.optional(),
  level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  message: text(2000, 'many'),
  step: label.optional(),
  code: label.optional(),
  data: z
    .record(z.string(), z.unknown())
    .refine((d) => depthOf(d) <= MAX_DATA_DEPTH, `must nest at most ${MAX_DATA_DEPTH} levels`)
    .superRefine(plainData)
    .optional(),
});

export const summaryBody = z
  .strictObject({
    installationId: identifier,
    workspaceId: identifier,
    runId: identifier.optional(),
    status: z.enum(AUTOMATION_STATUSES, {
      error: unlessMissing('must be one of: success, skipped, error'),
    }),
    issue: z
      .strictObject({
        id: z.union([z.number().int().min(0), label], {
          message: 'must be a number or a string',
        }),
        number: positiveInt,
        url: httpUrl,
        title: text(512),
      })
      .optional(),
    pullRequest: z
      .strictObject({
        number: positiveInt,
        url: httpUrl,
        branch: text(255),
      })
      .optional(),
    commit: z
      .strictObject({
        sha: z.string().regex(/^[0-9a-f]{7,64}$/i, 'must be a hex commit sha (7-64 characters)'),
        message: text(4000, 'many'),
      })
      .optional(),
    skipReason: wireEnum(SKIP_REASONS).optional(),
    toastMessage: text(1000)
      .refine(
        (s) => charCount(s) <= TOAST_MAX_CHARS,
        `must be at most ${TOAST_MAX_CHARS} characters`,
      )
      .optional(),
    transcriptNote: text(4000, 'many').optional(),
    durationMs: z
      .number()
      .int('must be a whole number')
      .min(0, 'must not be negative')
      .max(7 * 24 * 3_600_000)
      .optional(),
    error: z
      .strictObject({
        code: text(128),
        message: text(2000, 'many'),
        retryable: z.boolean(),
      })
      .optional(),
    logs: z
      .array(logEntry)
      .max(MAX_LOG_ENTRIES, `must hold at most ${MAX_LOG_ENTRIES} entries`)
      .default([]),
  })
  .superRefine((b, ctx) => {
    const need = (field: keyof typeof b, when: string) => {
      if (b[field] === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: `required when status is ${when}` });
    };
    const forbid = (field: keyof typeof b, when: string) => {
      if (b[field] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `only allowed when status is ${when}`,
        });
    };
    if (b.status === 'skipped') {
      need('skipReason', 'skipped');
      need('toastMessage', 'skipped');
      need('transcriptNote', 'skipped');
    } else forbid('skipReason', 'skipped');
    if (b.status === 'error') need('error', 'error');
    else forbid('error', 'error');
  });

export type SummaryInput = z.output<typeof summaryBody>;

export const sessionParams = z.strictObject({ sessionId: identifier });

export const ORDERS = ['oldest-first', 'newest-first'] as const;

export const pageQuery = z.strictObject({
  limit: pageLimit(200, 50),
  cursor: z
    .string()
    .regex(/^\d{1,15}$/, 'is not valid; pass back nextCursor unchanged')
    .optional(),
  // kebab-case, or the camelCase every enum of the API accepts on input.
  order: wireEnum(['oldestFirst', 'newestFirst'])
    .transform((order) => toKebab(order) as (typeof ORDERS)[number])
    .default('oldest-first'),
});
