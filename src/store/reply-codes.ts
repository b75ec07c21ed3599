/**
 * The reply codes of the Lua commands in ./commands/ (each file's header documents its own), and
 * the one place where raw replies become typed results. Call sites never compare a reply with a
 * number: they receive these results from the typed wrappers in scripts.ts.
 */
import type { ClaimedOutboxEntry, CommitResult } from './store.ts';

/** commit-4.lua: the first of the three entries per actor. */
export const CommitCode = {
  Committed: 1,
  Conflict: 0,
  /** "all" mode: this actor was fine, another one failed, so nothing was written. */
  Aborted: 2,
  TimerGone: -2,
  IndexChanged: -3,
  Duplicate: -4,
} as const;
export type CommitCode = (typeof CommitCode)[keyof typeof CommitCode];

/** finishDelivery-3.lua */
export const FinishDeliveryCode = { Recorded: 1, ClaimLost: 0 } as const;
export type FinishDeliveryCode = (typeof FinishDeliveryCode)[keyof typeof FinishDeliveryCode];

/** appendSession-7.lua: the first entry of the reply. */
export const AppendSessionCode = { Appended: 1, AlreadyThere: 0 } as const;
export type AppendSessionCode = (typeof AppendSessionCode)[keyof typeof AppendSessionCode];

/** appendSession-7.lua: the skip count entry when no skip was counted. */
const NO_SKIP_COUNT = -1;

/**
 * A string reply, or null for Lua's nil. Real Redis answers nil as null; the embedded store
 * answers a Lua `false` as false (or 0), so every "nil" reply is decoded here.
 */
export function stringOrNil(reply: unknown): string | null {
  return typeof reply === 'string' ? reply : null;
}

/** commit-4.lua: one result per actor, in order. */
export function decodeCommit(flat: readonly (string | number | null)[]): CommitResult[] {
  const results: CommitResult[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    const code = Number(flat[i]) as CommitCode;
    const version = Number(flat[i + 1]);
    const text = String(flat[i + 2] ?? '');
    switch (code) {
      case CommitCode.Committed:
        results.push({ status: 'committed', version });
        break;
      case CommitCode.TimerGone:
        results.push({ status: 'timer-gone', version });
        break;
      case CommitCode.IndexChanged:
        results.push({ status: 'index-changed', version });
        break;
      case CommitCode.Aborted:
        results.push({ status: 'aborted', version });
        break;
      case CommitCode.Duplicate:
        results.push({ status: 'duplicate', version, requestId: text });
        break;
      default:
        results.push({
          status: 'conflict',
          current: version > 0 && text ? { version, snapshot: text } : null,
        });
    }
  }
  return results;
}

/** claimOutbox-4.lua: id1, json1, id2, json2, ... */
export function decodeClaimOutbox(flat: readonly string[]): ClaimedOutboxEntry[] {
  const out: ClaimedOutboxEntry[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ id: flat[i]!, json: flat[i + 1]! });
  return out;
}

/** claimDelivery-3.lua: the claimed attempt, or null when there is nothing to attempt. */
export interface ClaimedDelivery {
  attempt: number;
  channel: string;
  address: string;
  payload: string;
}

export function decodeClaimDelivery(reply: unknown): ClaimedDelivery | null {
  if (!Array.isArray(reply)) return null;
  const [attempt, channel, address, payload] = reply as [string, string, string, string];
  return { attempt: Number(attempt), channel, address, payload };
}

/** finishDelivery-3.lua: whether the outcome was recorded (false: the claim was lost). */
export function decodeFinishDelivery(reply: unknown): boolean {
  return Number(reply) === FinishDeliveryCode.Recorded;
}

/** appendSession-7.lua */
export interface SessionAppendReply {
  /** False when the first entry's key already existed: nothing was written. */
  created: boolean;
  /** The stored JSON of the first entry (the earlier one on a repeat). */
  json: string;
  /** The workspace's skip count after this append, when a skip was counted. */
  skipCount: number | null;
}

export function decodeAppendSession(reply: readonly unknown[]): SessionAppendReply {
  const count = Number(reply[2]);
  return {
    created: Number(reply[0]) === AppendSessionCode.Appended,
    json: String(reply[1]),
    skipCount: count > NO_SKIP_COUNT ? count : null,
  };
}
