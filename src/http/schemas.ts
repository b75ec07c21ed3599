import { z } from 'zod';
import { CONNECTION_STATUSES } from '../../machines/connection.machine.ts';
import { isSemver } from '../../machines/shared/version.ts';
import { findSecret, secretRefusal } from '../automation/secrets.ts';
import {
  identifier,
  pageLimit,
  plainText,
  unlessMissing,
  utcTimestamp,
  wireEnum,
} from '../wire.ts';

const count = z
  .number()
  .int('must be a whole number')
  .min(0, 'must not be negative')
  .max(10_000_000);

/**
 * A client-chosen id that makes a command safe to retry after a timeout or a 5xx: the actor
 * remembers its last IDEMPOTENCY_KEYS_PER_ACTOR ids and answers a repeat with `duplicate: true`.
 * An empty or overlong one is named once, for its length (the checks end there).
 */
export const requestId = z
  .string()
  .min(1, { abort: true })
  .max(128, { abort: true })
  .regex(/^[A-Za-z0-9._:-]+$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ : -');

/**
 * Text a person writes (a reason, who asked): it is stored in records and audit entries, logged
 * and shown in the console and transcripts, so it is one line without control or bidirectional
 * override characters (`plainText`), and anything that looks like a secret (a pasted token, a
 * URL with a password: src/automation/secrets.ts) is refused, named by its field and the kind of
 * secret, never echoed.
 */
const freeText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .superRefine(plainText('one'))
    .superRefine((text, ctx) => {
      const found = findSecret(text);
      if (!found) return;
      ctx.addIssue({ code: 'custom', message: secretRefusal(found.kind) });
    });

export const registerConnectionBody = z.strictObject({
  connectionId: identifier,
  installationId: identifier,
  workspaceId: identifier,
  requestId: requestId.optional(),
});

/**
 * The feature flags a handshake negotiated (`fs`, `terminal`, …): a set, stored in the record,
 * shown and logged, so a flag is listed once and carries no control character (a newline or a
 * NUL would break the lines it is shown in) nor a bidirectional override (it would be shown
 * otherwise than it is stored).
 */
const capabilities = z
  .array(
    z
      .string()
      .min(1)
      .max(64)
      .regex(
        /^[^\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]+$/u,
        'must not contain control characters (newlines, tabs, NUL, …), line separators or bidirectional overrides',
      ),
  )
  .max(64)
  .superRefine((flags, ctx) => {
    flags.forEach((flag, i) => {
      const first = flags.indexOf(flag);
      if (first < i) {
        ctx.addIssue({
          code: 'custom',
          path: [i],
          message: `is listed already (negotiatedCapabilities.${first})`,
        });
      }
    });
  });

export const handshakeBody = z.strictObject({
  protocolVersion: z
    .string()
    .max(64)
    .refine(isSemver, 'must be a semantic version such as 1.2.0 (no leading v)'),
  negotiatedCapabilities: capabilities,
});

export const heartbeatBody = z.strictObject({
  timestamp: utcTimestamp,
  succeeded: count,
  failed: count,
  latencyMs: z
    .array(z.number().min(0, 'must not be negative').max(3_600_000))
    .max(1000)
    .default([]),
  heartbeatId: requestId.optional(),
});

export const batchItem = heartbeatBody.extend({ connectionId: identifier });

/** Only the envelope is checked as a whole; items are validated one by one and answered per item. */
export const batchBody = (maxItems: number) =>
  z.strictObject({
    items: z.array(z.unknown()).min(1).max(maxItems, `must hold at most ${maxItems} heartbeats`),
  });

export const droppedBody = z.strictObject({
  reason: freeText(500).optional(),
  requestId: requestId.optional(),
});
/** The body of a command that takes no parameters (an empty body is fine too). */
export const commandBody = z.strictObject({ requestId: requestId.optional() });
export const rollbackBody = z.strictObject({
  reason: freeText(500),
  requestId: requestId.optional(),
});

export const connectionIdParams = z.strictObject({ connectionId: identifier });

export const listConnectionsQuery = z.strictObject({
  installationId: identifier.optional(),
  workspaceId: identifier.optional(),
  status: wireEnum(CONNECTION_STATUSES).optional(),
  limit: pageLimit(500, 50),
  cursor: z.string().max(1000).optional(),
});

export const workspaceIdParams = z.strictObject({ workspaceId: identifier });
export const installationIdParams = z.strictObject({ installationId: identifier });

export const migrationBody = z.strictObject({
  toProtocol: z.enum(['http', 'acp']),
  initiatedBy: z.enum(['operator', 'user'], {
    error: unlessMissing('must be operator or user (system migrations are automatic)'),
  }),
  requestedBy: freeText(128).optional(),
  scheduledAt: utcTimestamp.optional(),
  requestId: requestId.optional(),
});

export const workspaceRollbackBody = z.strictObject({
  reason: freeText(500),
  requestedBy: freeText(128).optional(),
  requestId: requestId.optional(),
});

/**
 * An audit list's filters. Both bounds are inclusive (from = to is one instant); a `to` before
 * `from` is refused naming `to`, as the what-if route refuses its reversed range, rather than
 * answered with an empty page that looks like "nothing happened".
 */
export const auditQuery = z
  .strictObject({
    from: utcTimestamp.optional(),
    to: utcTimestamp.optional(),
    cursor: z.string().max(200).optional(),
    limit: pageLimit(500, 50),
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && q.to < q.from) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
    }
  });
