import { randomUUID } from 'node:crypto';
import type { EventObject } from 'xstate';
import {
  type WorkspaceContext,
  STREAMS,
  createWorkspaceMachine,
} from '../../machines/workspace.machine.ts';
import type { Clock } from '../clock.ts';
import { DEFAULT_WHAT_IF_JOURNAL_EVENTS } from '../config.ts';
import { type Principal, canAccess, isOperator } from '../connections/connections.ts';
import { type ChartBinding, EVENT_LOG_SIZE, type Engine, requestKey } from '../engine/engine.ts';
import { memoizedJson } from '../engine/snapshot-codec.ts';
import type { PersistedState } from '../engine/step.ts';
import {
  AlreadyExistsError,
  AppError,
  ForbiddenError,
  InvalidTransitionError,
  NotFoundError,
  RequestIdReusedError,
  invalidFields,
} from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ActorRef } from '../store/redis-store.ts';
import { toKebab } from '../wire.ts';
import {
  type MigrationRequest,
  type RollbackRequest,
  MigrationRefusedError,
  idFor,
  migrationRefusal,
} from './requests.ts';
import { encodeJournalEvent } from './journal-codec.ts';
import type { SettingsService } from './settings.ts';
import { workspaceView } from './view.ts';

export const WORKSPACE = 'workspace';
/** How far ahead a migration may be scheduled. */
const MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 60 * 60_000;

/** An event with its payload, as the engine accepts it. */
type AnyEvent = EventObject & Record<string, unknown>;

import { workspaceState } from './state.ts';

export { workspaceState } from './state.ts';
export { type MigrationRequest, type RollbackRequest, MigrationRefusedError } from './requests.ts';

/**
 * @param journalEvents entries of each workspace's what-if journal (WHAT_IF_JOURNAL_EVENTS): its
 * applied events, replayed by `POST /v1/workspaces/:id/what-if` (src/workspaces/what-if.ts).
 */
export function workspaceBinding(journalEvents = DEFAULT_WHAT_IF_JOURNAL_EVENTS): ChartBinding {
  return {
    kind: WORKSPACE,
    machine: createWorkspaceMachine(),
    indexes: (state) => ['workspace:all', `workspace:state:${workspaceState(state.value)}`],
    journal: { maxEvents: journalEvents, encode: encodeJournalEvent },
    // A report replaces the window's newest entry and the health; members, their counts and the
    // policy seldom.
    snapshotCodec: memoizedJson({ whole: ['members', 'connections', 'policy'], each: ['window'] }),
    // Inspection: every state change, and the rare events that change the context only (a
    // POLICY that moves no state); not the connections' reports, one per heartbeat.
    eventLog: {
      max: EVENT_LOG_SIZE,
      keep: (event, valueChanged) => valueChanged || event.type !== 'CONNECTION_REPORT',
    },
  };
}

/**
 * The refusal of a workspace id another installation holds. Workspace ids are global (like
 * connection ids): the answer says the id is taken, in the words a taken connection id gets,
 * never that, or which, another installation holds it.
 */
const workspaceTaken = (workspaceId: string) =>
  new AlreadyExistsError(`workspace ${workspaceId} already exists`, { field: 'workspaceId' });

/**
 * Workspace commands and reads. Every decision is the workspace chart's: a command is sent as an
 * event after asking the chart whether it accepts it (`snapshot.can`), and health, breaches and
 * rollbacks follow from the reports its connections emit to it (see machines/workspace.machine.ts
 * and src/engine/chain.ts). This service checks tenancy, builds the events and reads records.
 */
export class WorkspaceService {
  constructor(
    readonly engine: Engine,
    readonly clock: Clock,
    readonly settings: SettingsService,
    readonly capacityPerWorker: number,
    readonly logger: Logger,
  ) {}

  ref(installationId: string, workspaceId: string): ActorRef {
    return { kind: WORKSPACE, installationId, id: workspaceId };
  }

  /** The workspace's last rollback, as recorded by its chart. */
  async lastRollback(installationId: string, workspaceId: string) {
    const found = await this.engine.read(this.ref(installationId, workspaceId));
    const last = (found?.state.context as unknown as WorkspaceContext | undefined)?.lastRollback;
    return last ? { eventId: last.eventId } : null;
  }

  /** Refuses, without writing anything, a workspace id that another installation holds. */
  async checkOwner(installationId: string, workspaceId: string): Promise<void> {
    const owner = await this.engine.store.owner(WORKSPACE, workspaceId);
    if (owner !== null && owner !== installationId) throw workspaceTaken(workspaceId);
  }

  /**
   * Whether this workspace already applied a request with this id (a client retry); refuses the
   * id applied with another body (RequestIdReusedError). The commit checks again, atomically.
   */
  async #replayed(ref: ActorRef, requestId: string | undefined): Promise<boolean> {
    if (requestId === undefined) return false;
    const [seen] = await this.engine.store.seenRequestIds(ref, [requestId]);
    if (seen === 'reused') throw new RequestIdReusedError(requestId);
    return seen === 'repeat';
  }

  /** Creates the workspace on the installation's default protocol if it does not exist yet. */
  async ensure(installationId: string, workspaceId: string): Promise<void> {
    const owner = await this.engine.store.claimOwner(WORKSPACE, workspaceId, installationId);
    if (owner !== installationId) throw workspaceTaken(workspaceId);
    const ref = this.ref(installationId, workspaceId);
    if (await this.engine.store.load(ref)) return;
    const policy = await this.settings.get(installationId);
    await this.engine
      .create(ref, { workspaceId, installationId, policy, at: this.clock.now() })
      .catch((error: unknown) => {
        if (!(error instanceof AppError && error.code === 'already-exists')) throw error;
      });
  }

  async resolve(principal: Principal, workspaceId: string): Promise<ActorRef> {
    const installationId = await this.engine.store.owner(WORKSPACE, workspaceId);
    if (installationId === null || !canAccess(principal, installationId)) {
      throw new NotFoundError(`workspace ${workspaceId} not found`, { field: 'workspaceId' });
    }
    return this.ref(installationId, workspaceId);
  }

  async requestMigration(principal: Principal, workspaceId: string, req: MigrationRequest) {
    const ref = await this.resolve(principal, workspaceId);
    if (req.initiatedBy === 'operator' && !isOperator(principal)) {
      throw new ForbiddenError('only an operator token may start an operator-initiated migration', {
        field: 'initiatedBy',
      });
    }
    const policy = await this.settings.get(ref.installationId);
    const found = await this.engine.read(ref);
    if (!found)
      throw new NotFoundError(`workspace ${workspaceId} not found`, { field: 'workspaceId' });
    const state = workspaceState(found.state.value);
    const now = this.clock.now();
    const migrationId = idFor(ref, req.requestId, 'migration');
    const requestedBy = req.requestedBy ?? principal.name ?? null;
    const { requestId, ...asked } = req;
    const key = requestKey('REQUEST_MIGRATION', requestId, asked);
    const opts = key === undefined ? {} : { requestId: key };
    if (await this.#replayed(ref, key)) {
      return { migrationId, duplicate: true, workspace: await this.view(found.state, ref) };
    }

    if (req.toProtocol === 'acp') {
      if (req.scheduledAt !== undefined && req.scheduledAt <= now) {
        throw invalidFields('body', [{ field: 'scheduledAt', message: 'must be in the future' }]);
      }
      if (req.scheduledAt !== undefined && req.scheduledAt > now + MAX_SCHEDULE_AHEAD_MS) {
        throw invalidFields('body', [{ field: 'scheduledAt', message: 'must be within one year' }]);
      }
      const event = {
        type: 'REQUEST_MIGRATION',
        at: now,
        eventId: randomUUID(),
        migrationId,
        toProtocol: 'acp',
        initiatedBy: req.initiatedBy,
        requestedBy,
        scheduledAt: req.scheduledAt ?? null,
        policy,
      } as AnyEvent;
      // The chart decides; the service only explains a refusal, before anything is written.
      if (!this.engine.can(WORKSPACE, found.state, event)) {
        throw migrationRefusal(policy, state, req.initiatedBy);
      }
      const outcome = await this.engine.send(ref, event, opts).catch((error: unknown) => {
        // Another process moved the workspace since it was read.
        if (error instanceof InvalidTransitionError)
          throw migrationRefusal(policy, state, req.initiatedBy);
        throw error;
      });
      // When every connection is already on ACP the chart completed the migration in that step.
      return { migrationId, workspace: await this.view(outcome.state, ref) };
    }

    // To HTTP: the chart rolls every live connection back in the same commit.
    const toHttp = {
      type: 'REQUEST_MIGRATION',
      at: now,
      eventId: randomUUID(),
      migrationId,
      toProtocol: 'http',
      initiatedBy: req.initiatedBy,
      requestedBy,
      scheduledAt: req.scheduledAt ?? null,
      policy,
    } as AnyEvent;
    const notOnAcp = () =>
      new MigrationRefusedError(`workspace is ${toKebab(state)}, not on ACP`, {
        state: toKebab(state),
      });
    // The chart decides (a move to HTTP cannot wait for a later time); the service explains.
    if (!this.engine.can(WORKSPACE, found.state, toHttp)) {
      if (req.scheduledAt !== undefined) {
        throw invalidFields('body', [
          {
            field: 'scheduledAt',
            message:
              'only a migration to ACP can be scheduled; a migration to HTTP happens at once (send it without scheduledAt when it is due)',
          },
        ]);
      }
      throw notOnAcp();
    }
    const outcome = await this.engine.send(ref, toHttp, opts).catch((error: unknown) => {
      // Another process moved the workspace since it was read.
      if (error instanceof InvalidTransitionError) throw notOnAcp();
      throw error;
    });
    return { migrationId, workspace: await this.view(outcome.state, ref) };
  }

  async rollback(principal: Principal, workspaceId: string, req: RollbackRequest) {
    const ref = await this.resolve(principal, workspaceId);
    const eventId = idFor(ref, req.requestId, 'rollback');
    const { requestId, ...asked } = req;
    const key = requestKey('ROLLBACK_REQUESTED', requestId, asked);
    if (await this.#replayed(ref, key)) {
      return { eventId, duplicate: true, workspace: await this.get(principal, workspaceId) };
    }
    const policy = await this.settings.get(ref.installationId);
    // The chart rolls the workspace and every live connection back in one commit, with the
    // evidence of its own window.
    const outcome = await this.engine
      .send(
        ref,
        {
          type: 'ROLLBACK_REQUESTED',
          at: this.clock.now(),
          eventId,
          migrationId: randomUUID(),
          trigger: isOperator(principal) ? 'manualOperator' : 'manualUser',
          reason: req.reason,
          requestedBy: req.requestedBy ?? principal.name ?? null,
          policy,
        },
        key === undefined ? {} : { requestId: key },
      )
      .catch((error: unknown) => {
        if (error instanceof InvalidTransitionError) {
          throw new MigrationRefusedError(
            'the workspace is not on ACP; there is nothing to roll back',
            { field: 'workspaceId' },
          );
        }
        throw error;
      });
    return {
      eventId,
      ...(outcome.duplicate ? { duplicate: true as const } : {}),
      workspace: await this.view(outcome.state, ref),
    };
  }

  async cancelScheduled(principal: Principal, workspaceId: string, requestId?: string) {
    const ref = await this.resolve(principal, workspaceId);
    return this.#request(
      principal,
      ref,
      'CANCEL_MIGRATION',
      'no scheduled migration to cancel',
      requestId,
    );
  }

  async reenableAutoMigration(principal: Principal, workspaceId: string, requestId?: string) {
    const ref = await this.resolve(principal, workspaceId);
    if (!isOperator(principal)) {
      throw new ForbiddenError('only an operator may re-enable automatic migration');
    }
    return this.#request(
      principal,
      ref,
      'REENABLE_AUTO_MIGRATION',
      'automatic migration is not blocked for this workspace',
      requestId,
    );
  }

  /** A command the chart may refuse in the current state: refused means a 409 saying why. */
  async #request(
    principal: Principal,
    ref: ActorRef,
    type: string,
    refusal: string,
    requestId?: string,
  ) {
    const event = {
      type,
      at: this.clock.now(),
      eventId: randomUUID(),
      requestedBy: principal.name ?? null,
    };
    const outcome = await this.engine
      .send(ref, event, requestId === undefined ? {} : { requestId: requestKey(type, requestId) })
      .catch((error: unknown) => {
        if (error instanceof InvalidTransitionError) throw new MigrationRefusedError(refusal);
        throw error;
      });
    const view = await this.view(outcome.state, ref);
    return outcome.duplicate ? { ...view, duplicate: true as const } : view;
  }

  async get(principal: Principal, workspaceId: string) {
    const ref = await this.resolve(principal, workspaceId);
    const found = await this.engine.read(ref);
    if (!found)
      throw new NotFoundError(`workspace ${workspaceId} not found`, { field: 'workspaceId' });
    return this.view(found.state, ref);
  }

  /** The workspace record: transport, migration, connection counts by status, current health. */
  async view(state: PersistedState, ref: ActorRef) {
    const [policy, timers] = await Promise.all([
      this.settings.get(ref.installationId),
      this.engine.store.timersOf(ref),
    ]);
    return workspaceView(state, policy, timers[0]?.due ?? null);
  }

  /** After a settings change: every workspace of the installation takes the new policy. */
  async refreshPolicy(installationId: string): Promise<void> {
    const ids = await this.engine.store.indexAll(installationId, 'workspace:all');
    const policy = await this.settings.get(installationId);
    await Promise.all(
      ids.map((id) =>
        this.engine
          .send(this.ref(installationId, id), {
            type: 'POLICY',
            at: this.clock.now(),
            eventId: randomUUID(),
            spareId: randomUUID(),
            policy,
          })
          .catch((error: unknown) => {
            if (!(error instanceof InvalidTransitionError)) throw error;
          }),
      ),
    );
  }

  /** Audit entries of one workspace stream, newest first, with a cursor. */
  async audit(
    principal: Principal,
    workspaceId: string,
    stream: keyof typeof STREAMS,
    q: { from?: number; to?: number; cursor?: string; limit: number },
  ) {
    const ref = await this.resolve(principal, workspaceId);
    // A cursor is the record a page ended on: one that names no record of this stream (edited,
    // or another workspace's) is refused rather than read as a position (an empty or a wrong
    // page).
    if (
      q.cursor !== undefined &&
      (!/^\d{15}:[\w.-]+$/.test(q.cursor) ||
        !(await this.engine.store.auditHas(
          ref.installationId,
          STREAMS[stream](workspaceId),
          q.cursor,
        )))
    ) {
      throw invalidFields('query', [
        { field: 'cursor', message: 'is not valid; pass back nextCursor unchanged' },
      ]);
    }
    const page = await this.engine.store.auditPage(
      ref.installationId,
      STREAMS[stream](workspaceId),
      {
        from: q.from,
        to: q.to,
        before: q.cursor,
        limit: q.limit,
      },
    );
    const items = page.map((p) => {
      const { _stream, ...record } = JSON.parse(p.json) as Record<string, unknown>;
      void _stream;
      return record;
    });
    return { items, nextCursor: page.length === q.limit ? page[page.length - 1]!.member : null };
  }
}
