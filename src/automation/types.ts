/**
 * What the automation module serves and exposes to other modules (ModuleContext.services):
 * `transcripts` (TranscriptService) and `sessions` (SessionDirectory).
 */
import { serviceKey } from '../services.ts';
import type { ErrorCategory } from './errors.ts';
import type { TranscriptEventType } from './schemas.ts';

export const AUTOMATION_SERVICES = {
  transcripts: serviceKey<TranscriptService>('transcripts'),
  sessions: serviceKey<SessionDirectory>('sessions'),
} as const;

/** GitHubAutomationSummary (seed) as stored and served: wire values (kebab-case, ISO UTC). */
export interface GitHubAutomationSummary {
  summaryId: string;
  sessionId: string;
  installationId: string;
  workspaceId: string;
  /** The client's idempotency key; null for summaries the service derives (rollbacks). */
  runId: string | null;
  status: 'success' | 'skipped' | 'error';
  issue: { id: number | string; number: number; url: string; title: string } | null;
  pullRequest: { number: number; url: string; branch: string } | null;
  commit: { sha: string; message: string } | null;
  /** Kebab-case: repo-blocked, missing-credential, automation-disabled, rate-limited, workspace-rollback, other. */
  skipReason: string | null;
  toastMessage: string | null;
  transcriptNote: string | null;
  durationMs: number | null;
  error: {
    code: string;
    message: string;
    retryable: boolean;
    category: ErrorCategory;
    recoveryMessage: string;
  } | null;
  logs: {
    at: string | null;
    level: 'debug' | 'info' | 'warn' | 'error';
    message: string;
    step: string | null;
    code: string | null;
    data: Record<string, unknown> | null;
  }[];
  /** `api` (POSTed by the runner) or `workspace-rollback` (derived from a RollbackEvent). */
  source: 'api' | 'workspace-rollback';
  /** The RollbackEvent that stopped automation, for derived summaries. */
  rollbackEventId: string | null;
  createdAt: string;
}

/** SessionTranscriptEntry (seed, augmented with eventType and context). */
export interface SessionTranscriptEntry {
  entryId: string;
  sessionId: string;
  installationId: string;
  workspaceId: string | null;
  eventType: TranscriptEventType;
  message: string;
  context: Record<string, unknown>;
  /** ISO 8601 UTC. */
  createdAt: string;
}

export interface TranscriptAppend {
  /** Stable id: appending the same entryId twice to a session stores it once. Default: random. */
  entryId?: string;
  sessionId: string;
  installationId: string;
  workspaceId?: string | null;
  eventType: TranscriptEventType;
  message: string;
  context?: Record<string, unknown>;
}

/** `ctx.services.get(AUTOMATION_SERVICES.transcripts)`. */
export interface TranscriptService {
  /**
   * Appends one entry (idempotent by entryId) and returns the stored entry (the first one on a
   * repeat). The session is claimed for `installationId` if nobody owns it yet; appending to a
   * session of another installation throws. Secrets in message/context are redacted.
   */
  append(entry: TranscriptAppend): Promise<SessionTranscriptEntry>;
}

/** `ctx.services.get(AUTOMATION_SERVICES.sessions)`. */
export interface SessionDirectory {
  /** The installation that owns the session, or null when the session is unknown. */
  owner(sessionId: string): Promise<string | null>;
}
