/**
 * The reply codes of the Lua commands in ./commands/ (each file's header documents its own), and
 * the one place where raw replies become typed results. Call sites never compare a reply with a
 * number: they receive these results from the typed wrappers in scripts.ts.
 */
import type { CommitResult } from './store.ts';

/** commit-5.lua: the first of the three entries per actor. */
export const CommitCode = {
  Committed: 1,
  Conflict: 0,
  /** "all" mode: this actor was fine, another one failed, so nothing was written. */
  Aborted: 2,
  TimerGone: -2,
  IndexChanged: -3,
  Duplicate: -4,
  Reused: -5,
} as const;
export type CommitCode = (typeof CommitCode)[keyof typeof CommitCode];

/** claimJobs-3.lua: the first of the four entries per job. */
export const ClaimJobCode = { Claimed: 1, Exhausted: 2 } as const;
export type ClaimJobCode = (typeof ClaimJobCode)[keyof typeof ClaimJobCode];

/** completeJob-3.lua */
export const CompleteJobCode = { Completed: 1, ClaimLost: 0 } as const;
export type CompleteJobCode = (typeof CompleteJobCode)[keyof typeof CompleteJobCode];

/** failJob-4.lua */
export const FailJobCode = { Retrying: 1, DeadLettered: 2, ClaimLost: 0 } as const;
export type FailJobCode = (typeof FailJobCode)[keyof typeof FailJobCode];

/** settleDeadJob-4.lua */
export const SettleDeadJobCode = { Settled: 1, NotDead: 0 } as const;
export type SettleDeadJobCode = (typeof SettleDeadJobCode)[keyof typeof SettleDeadJobCode];

/** appendSession-7.lua: the first entry of the reply. */
export const AppendSessionCode = { Appended: 1, AlreadyThere: 0 } as const;
export type AppendSessionCode = (typeof AppendSessionCode)[keyof typeof AppendSessionCode];

/** saveSettings-3.lua */
export const SaveSettingsCode = { Saved: 1, Changed: 0 } as const;
export type SaveSettingsCode = (typeof SaveSettingsCode)[keyof typeof SaveSettingsCode];

/** saveSettings-3.lua: whether the settings were saved (false: changed since they were read). */
export function decodeSaveSettings(reply: unknown): boolean {
  return Number(reply) === SaveSettingsCode.Saved;
}

/** appendSession-7.lua: the skip count entry when no skip was counted. */
const NO_SKIP_COUNT = -1;

/**
 * A string reply, or null for Lua's nil. Real Redis answers nil as null; the embedded store
 * answers a Lua `false` as false (or 0), so every "nil" reply is decoded here.
 */
export function stringOrNil(reply: unknown): string | null {
  return typeof reply === 'string' ? reply : null;
}

/** commit-5.lua: one result per actor, in order. */
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
      case CommitCode.Reused:
        results.push({ status: 'reused', version, requestId: text });
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

/** claimJobs-3.lua: one entry per job claimed. */
export interface JobClaimReply {
  /** False: no attempt left, claimed only to be dead-lettered. */
  runnable: boolean;
  id: string;
  /** The number of this attempt (exhausted: the attempts made). */
  attempt: number;
  data: string;
}

export function decodeClaimJobs(flat: readonly unknown[]): JobClaimReply[] {
  const out: JobClaimReply[] = [];
  for (let i = 0; i < flat.length; i += 4) {
    out.push({
      runnable: Number(flat[i]) === ClaimJobCode.Claimed,
      id: String(flat[i + 1]),
      attempt: Number(flat[i + 2]),
      data: String(flat[i + 3]),
    });
  }
  return out;
}

/** completeJob-3.lua: whether the job was completed (false: the claim was lost). */
export function decodeCompleteJob(reply: unknown): boolean {
  return Number(reply) === CompleteJobCode.Completed;
}

/** failJob-4.lua: what the failure led to, or null when the claim was lost. */
export function decodeFailJob(reply: unknown): 'retrying' | 'dead-lettered' | null {
  const code = Number(reply) as FailJobCode;
  if (code === FailJobCode.Retrying) return 'retrying';
  if (code === FailJobCode.DeadLettered) return 'dead-lettered';
  return null;
}

/** settleDeadJob-4.lua: whether the job was dead-lettered (and is now retried or discarded). */
export function decodeSettleDeadJob(reply: unknown): boolean {
  return Number(reply) === SettleDeadJobCode.Settled;
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
