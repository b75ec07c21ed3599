import { randomUUID } from 'node:crypto';
import { type Principal, canAccess } from '../connections/connections.ts';
import type { DomainEventMap } from '../domain-events.ts';
import { AlreadyExistsError, ForbiddenError, NotFoundError, invalidFields } from '../errors.ts';
import type { ModuleContext } from '../module-context.ts';
import { type Channel, type MetricsSink, type Notifier, SERVICES } from '../notifications/types.ts';
import { iso } from '../wire.ts';
import { type SummaryInput, TOAST_MAX_CHARS, TRANSCRIPT_EVENT_TYPES } from './schemas.ts';
import { redactDeep, redactSecrets } from './secrets.ts';
import { type Append, SessionStore } from './store.ts';
import { automationEntry, buildSummary } from './summaries.ts';
import type {
  GitHubAutomationSummary,
  SessionDirectory,
  SessionTranscriptEntry,
  TranscriptAppend,
  TranscriptService,
} from './types.ts';

type RollbackEvent = DomainEventMap['rollback'];

export interface PageQuery {
  limit: number;
  cursor?: string;
  order: 'oldest-first' | 'newest-first';
}

export const SKIP_TOAST_TITLE = 'GitHub automation skipped';
const ID_RE = /^[A-Za-z0-9._~-]{1,128}$/;

/** At most `max` characters (code points), with an ellipsis when cut. */
function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** The refusal of a summary for a session another installation holds (never naming it). */
function refuseSession(principal: Principal, sessionId: string, owner: string): never {
  // A caller who cannot see the owner learns nothing beyond "not found".
  if (!canAccess(principal, owner))
    throw new NotFoundError(`session ${sessionId} not found`, { field: 'sessionId' });
  throw new AlreadyExistsError(
    `session ${sessionId} already exists; later summaries must name the installation of the first`,
    { field: 'installationId' },
  );
}

/**
 * GitHub automation summaries and session transcripts.
 *
 * Tenancy: the first summary (or transcript entry) of a session claims it for its installation
 * in the store's global owner index; every later access must come through that installation.
 *
 * Delivery is at least once and everything is idempotent: a summary by runId (or by rollback
 * eventId for derived ones), a transcript entry by entryId, a toast by a notification id derived
 * from the summary. Notifying runs again on every repeat (the Notifier drops repeats), so a
 * crash between the write and the toast heals when the runner retries with the same runId.
 */
export class AutomationService implements TranscriptService, SessionDirectory {
  readonly sessions: SessionStore;

  constructor(readonly ctx: ModuleContext) {
    this.sessions = new SessionStore(ctx.store);
  }

  get #notifier(): Notifier | undefined {
    return this.ctx.services.get(SERVICES.notifications);
  }

  get #metrics(): MetricsSink | undefined {
    return this.ctx.services.get(SERVICES.metrics);
  }

  owner(sessionId: string): Promise<string | null> {
    return this.sessions.owner(sessionId);
  }

  /** The session's installation if the caller may see it; 404 otherwise (without leaking). */
  async resolve(principal: Principal, sessionId: string): Promise<string> {
    const owner = await this.sessions.owner(sessionId);
    if (owner === null || !canAccess(principal, owner))
      throw new NotFoundError(`session ${sessionId} not found`, { field: 'sessionId' });
    return owner;
  }

  /** POST /v1/sessions/:sessionId/automation. */
  async record(
    principal: Principal,
    sessionId: string,
    input: SummaryInput,
  ): Promise<{ summary: GitHubAutomationSummary; created: boolean }> {
    const { installationId } = input;
    if (!canAccess(principal, installationId)) {
      throw new ForbiddenError(
        `this token may not record automation for installation ${installationId}`,
        { field: 'installationId' },
      );
    }
    // Refusals come before the claim, so a refused summary writes nothing.
    const known = await this.sessions.owner(sessionId);
    if (known !== null && known !== installationId) refuseSession(principal, sessionId, known);
    // Workspace ids are global: one another installation holds is refused in the words a
    // connection registration gets (taken, never by whom). An id no installation holds yet is
    // accepted (a summary may arrive before the workspace's first connection) and not claimed.
    await this.ctx.workspaces.checkOwner(installationId, input.workspaceId);
    const owner = await this.sessions.claim(sessionId, installationId);
    if (owner !== installationId) refuseSession(principal, sessionId, owner);
    const summary = buildSummary(this.ctx.clock.now(), sessionId, input);
    const key = input.runId !== undefined ? `run:${input.runId}` : `id:${summary.summaryId}`;
    return this.#commit(summary, key, [], { strict: false });
  }

  /**
   * Writes a summary with its `automation` transcript entry (after `before` entries) in one
   * script, then counts and notifies. `strict` rethrows notifier failures (for at-least-once
   * event handlers that retry); otherwise they are logged and the record stands.
   */
  async #commit(
    draft: GitHubAutomationSummary,
    key: string,
    before: SessionTranscriptEntry[],
    opts: { strict: boolean },
  ): Promise<{ summary: GitHubAutomationSummary; created: boolean }> {
    const entry = automationEntry(draft);
    const appends: Append[] = [
      { stream: 'automation', key, json: JSON.stringify(draft) },
      ...[...before, entry].map((e): Append => ({
        stream: 'transcript',
        key: e.entryId,
        json: JSON.stringify(e),
      })),
    ];
    const skipped = draft.status === 'skipped';
    const result = await this.sessions.append(
      draft.installationId,
      draft.sessionId,
      draft.workspaceId,
      appends,
      skipped ? draft.workspaceId : null,
    );
    const summary = JSON.parse(result.json) as GitHubAutomationSummary;
    if (result.created) {
      this.ctx.logger.info('automation summary recorded', {
        sessionId: summary.sessionId,
        installationId: summary.installationId,
        workspaceId: summary.workspaceId,
        summaryId: summary.summaryId,
        status: summary.status,
        skipReason: summary.skipReason,
        errorCategory: summary.error?.category ?? null,
      });
      if (skipped) await this.#countSkip(summary, result.skipCount);
    }
    if (summary.status === 'skipped') {
      try {
        await this.#toast(summary);
      } catch (error) {
        if (opts.strict) throw error;
        this.ctx.logger.warn('automation skip toast failed; retry with the same runId', {
          sessionId: summary.sessionId,
          summaryId: summary.summaryId,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return { summary, created: result.created };
  }

  async #countSkip(summary: GitHubAutomationSummary, skipCount: number | null): Promise<void> {
    const metrics = this.#metrics;
    if (!metrics) return;
    try {
      metrics.count('skips', { reason: summary.skipReason ?? 'other' });
      await metrics.emit({
        timestamp: summary.createdAt,
        installationId: summary.installationId,
        workspaceId: summary.workspaceId,
        metricType: 'skip-count',
        value: skipCount ?? 1,
        thresholdBreached: false,
      });
    } catch (error) {
      // Metrics never fail a record: the summary is already stored.
      this.ctx.logger.warn('skip metric failed', {
        summaryId: summary.summaryId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** The `warning` toast of a skipped run, and its `toast` transcript entry when it went out. */
  async #toast(summary: GitHubAutomationSummary): Promise<void> {
    const notifier = this.#notifier;
    if (!notifier || !summary.toastMessage) return;
    const id = `automation-skip:${summary.summaryId}`;
    const toast = {
      title: SKIP_TOAST_TITLE,
      body: summary.toastMessage,
      severity: 'warning' as const,
    };
    const channels: Channel[] = await notifier.notify({
      id,
      installationId: summary.installationId,
      kind: 'automation-skip',
      workspaceId: summary.workspaceId,
      sessionId: summary.sessionId,
      sourceId: summary.summaryId,
      toast,
      details: {
        summaryId: summary.summaryId,
        sessionId: summary.sessionId,
        workspaceId: summary.workspaceId,
        runId: summary.runId,
        skipReason: summary.skipReason,
        transcriptNote: summary.transcriptNote,
        rollbackEventId: summary.rollbackEventId,
      },
    });
    if (!channels.includes('toast')) return;
    await this.#appendEntries(summary.installationId, summary.sessionId, summary.workspaceId, [
      {
        entryId: `toast-${summary.summaryId}`,
        sessionId: summary.sessionId,
        installationId: summary.installationId,
        workspaceId: summary.workspaceId,
        eventType: 'toast',
        message: summary.toastMessage,
        context: {
          notificationId: id,
          kind: 'automation-skip',
          summaryId: summary.summaryId,
          ...toast,
          channels,
        },
        createdAt: iso(this.ctx.clock.now())!,
      },
    ]);
  }

  async #appendEntries(
    installationId: string,
    sessionId: string,
    workspaceId: string | null,
    entries: SessionTranscriptEntry[],
  ): Promise<SessionTranscriptEntry> {
    const result = await this.sessions.append(
      installationId,
      sessionId,
      workspaceId,
      entries.map((e) => ({ stream: 'transcript', key: e.entryId, json: JSON.stringify(e) })),
    );
    return JSON.parse(result.json) as SessionTranscriptEntry;
  }

  /** TranscriptService.append (for other modules): idempotent by entryId, secrets redacted. */
  async append(input: TranscriptAppend): Promise<SessionTranscriptEntry> {
    for (const [field, value] of [
      ['sessionId', input.sessionId],
      ['installationId', input.installationId],
      ...(input.entryId !== undefined ? [['entryId', input.entryId]] : []),
      ...(input.workspaceId ? [['workspaceId', input.workspaceId]] : []),
    ] as const) {
      if (typeof value !== 'string' || !ID_RE.test(value))
        throw invalidFields('transcript entry', [{ field, message: 'is not a valid identifier' }]);
    }
    if (!(TRANSCRIPT_EVENT_TYPES as readonly string[]).includes(input.eventType))
      throw invalidFields('transcript entry', [{ field: 'eventType', message: 'is not valid' }]);
    if (typeof input.message !== 'string' || input.message.length === 0)
      throw invalidFields('transcript entry', [{ field: 'message', message: 'must not be empty' }]);
    const owner = await this.sessions.claim(input.sessionId, input.installationId);
    if (owner !== input.installationId) {
      throw new AlreadyExistsError(
        `session ${input.sessionId} already exists; its entries must name the installation of its first summary`,
        { field: 'installationId' },
      );
    }
    return this.#appendEntries(input.installationId, input.sessionId, input.workspaceId ?? null, [
      {
        entryId: input.entryId ?? randomUUID(),
        sessionId: input.sessionId,
        installationId: input.installationId,
        workspaceId: input.workspaceId ?? null,
        eventType: input.eventType,
        message: redactSecrets(input.message),
        context: redactDeep(input.context ?? {}),
        createdAt: iso(this.ctx.clock.now())!,
      },
    ]);
  }

  /**
   * Domain event `rollback` (at least once): every session known in the workspace gets a
   * `rollback` transcript entry and a skipped `workspace-rollback` summary, both once per
   * eventId. A `recovery` gets an `info` entry only.
   */
  readonly onRollback = async (event: RollbackEvent): Promise<void> => {
    const sessionIds = await this.sessions.workspaceSessions(
      event.installationId,
      event.workspaceId,
    );
    for (const sessionId of sessionIds.sort()) {
      if (event.kind === 'recovery') await this.#recoveryEntry(event, sessionId);
      else await this.#rollbackSession(event, sessionId);
    }
  };

  #rollbackContext(event: RollbackEvent, note: string): Record<string, unknown> {
    return {
      eventId: event.eventId,
      effectId: event.effectId,
      kind: event.kind,
      workspaceId: event.workspaceId,
      transcriptNote: note,
      toast: redactDeep(event.toast),
      rolledBackAt: iso(event.at),
    };
  }

  async #rollbackSession(event: RollbackEvent, sessionId: string): Promise<void> {
    const now = iso(this.ctx.clock.now())!;
    // The note may carry an operator's free-text reason: never store a secret from it.
    const note = redactSecrets(event.transcriptNote).trim();
    const rollbackEntry: SessionTranscriptEntry = {
      entryId: `rollback-${event.eventId}`,
      sessionId,
      installationId: event.installationId,
      workspaceId: event.workspaceId,
      eventType: 'rollback',
      message: note || 'The workspace rolled back from ACP to HTTP.',
      context: this.#rollbackContext(event, note),
      createdAt: now,
    };
    const draft: GitHubAutomationSummary = {
      summaryId: randomUUID(),
      sessionId,
      installationId: event.installationId,
      workspaceId: event.workspaceId,
      runId: null,
      status: 'skipped',
      issue: null,
      pullRequest: null,
      commit: null,
      skipReason: 'workspace-rollback',
      toastMessage: clip(
        `GitHub automation paused: ${redactSecrets(event.toast.title)}.`,
        TOAST_MAX_CHARS,
      ),
      transcriptNote: clip(
        `GitHub automation stopped for this session because the workspace rolled back to HTTP${note ? `: ${note}` : '.'}`,
        4000,
      ),
      durationMs: null,
      error: null,
      logs: [],
      source: 'workspace-rollback',
      rollbackEventId: event.eventId,
      createdAt: now,
    };
    await this.#commit(draft, `rollback:${event.eventId}`, [rollbackEntry], { strict: true });
  }

  async #recoveryEntry(event: RollbackEvent, sessionId: string): Promise<void> {
    const note = redactSecrets(event.transcriptNote).trim();
    await this.#appendEntries(event.installationId, sessionId, event.workspaceId, [
      {
        entryId: `recovery-${event.eventId}`,
        sessionId,
        installationId: event.installationId,
        workspaceId: event.workspaceId,
        eventType: 'info',
        message: note || 'The workspace is back on ACP.',
        context: this.#rollbackContext(event, note),
        createdAt: iso(this.ctx.clock.now())!,
      },
    ]);
  }

  async automation(principal: Principal, sessionId: string, q: PageQuery) {
    return this.#page<GitHubAutomationSummary>(principal, sessionId, 'automation', q);
  }

  async transcript(principal: Principal, sessionId: string, q: PageQuery) {
    return this.#page<SessionTranscriptEntry>(principal, sessionId, 'transcript', q);
  }

  /** One page of a session's stream, for a caller allowed to see the session. */
  async #page<T>(
    principal: Principal,
    sessionId: string,
    stream: 'automation' | 'transcript',
    q: PageQuery,
  ) {
    const installationId = await this.resolve(principal, sessionId);
    const page = await this.sessions.page(installationId, sessionId, stream, {
      after: q.cursor,
      limit: q.limit,
      order: q.order,
    });
    return { items: page.items.map((j) => JSON.parse(j) as T), nextCursor: page.nextCursor };
  }
}
