/**
 * A GitHubAutomationSummary as recorded from the API's input, and the transcript entry that goes
 * with it: pure, given the time.
 */
import { randomUUID } from 'node:crypto';
import { iso, toKebab } from '../wire.ts';
import { classifyError } from './errors.ts';
import type { SummaryInput } from './schemas.ts';
import type { GitHubAutomationSummary, SessionTranscriptEntry } from './types.ts';

/** A summary as recorded (ids and times filled in, the error classified). */
export function buildSummary(
  now: number,
  sessionId: string,
  input: SummaryInput,
): GitHubAutomationSummary {
  return {
    summaryId: randomUUID(),
    sessionId,
    installationId: input.installationId,
    workspaceId: input.workspaceId,
    runId: input.runId ?? null,
    status: input.status,
    issue: input.issue ?? null,
    pullRequest: input.pullRequest ?? null,
    commit: input.commit ?? null,
    skipReason: input.skipReason ? toKebab(input.skipReason) : null,
    toastMessage: input.toastMessage ?? null,
    transcriptNote: input.transcriptNote ?? null,
    durationMs: input.durationMs ?? null,
    error: input.error
      ? { ...input.error, ...classifyError(input.error.code, input.error.message) }
      : null,
    logs: input.logs.map((l) => ({
      at: iso(l.at),
      level: l.level,
      message: l.message,
      step: l.step ?? null,
      code: l.code ?? null,
      data: l.data ?? null,
    })),
    source: 'api',
    rollbackEventId: null,
    createdAt: iso(now)!,
  };
}
/** The `automation` transcript entry of a summary. */
export function automationEntry(s: GitHubAutomationSummary): SessionTranscriptEntry {
  return {
    entryId: `automation-${s.summaryId}`,
    sessionId: s.sessionId,
    installationId: s.installationId,
    workspaceId: s.workspaceId,
    eventType: 'automation',
    message: s.transcriptNote ?? describe(s),
    context: {
      summaryId: s.summaryId,
      runId: s.runId,
      status: s.status,
      skipReason: s.skipReason,
      issue: s.issue,
      pullRequest: s.pullRequest,
      commit: s.commit,
      error: s.error,
      durationMs: s.durationMs,
      source: s.source,
      rollbackEventId: s.rollbackEventId,
    },
    createdAt: s.createdAt,
  };
}
/** The transcript line for a summary without a transcriptNote. */
function describe(s: GitHubAutomationSummary): string {
  if (s.status === 'error' && s.error) {
    return `GitHub automation failed (${s.error.category}): ${s.error.message}. ${s.error.recoveryMessage}`;
  }
  if (s.status === 'skipped') return `GitHub automation skipped (${s.skipReason ?? 'other'}).`;
  const parts: string[] = [];
  if (s.pullRequest) parts.push(`pull request #${s.pullRequest.number} on ${s.pullRequest.branch}`);
  if (s.issue) parts.push(`issue #${s.issue.number}`);
  if (s.commit) parts.push(`commit ${s.commit.sha.slice(0, 7)}`);
  return parts.length > 0
    ? `GitHub automation succeeded: ${parts.join(', ')}.`
    : 'GitHub automation succeeded.';
}
