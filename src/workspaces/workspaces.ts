import { createHash, randomUUID } from 'node:crypto';
import type { EventObject } from 'xstate';
import {
  ACTIVE_CONNECTION_STATUSES,
  type ConnectionContext,
  type ConnectionStatus,
} from '../../machines/connection.machine.ts';
import { mergeWindows, windowStats } from '../../machines/shared/window.ts';
import {
  type HealthEvidence,
  type Protocol,
  type WorkspacePolicy,
  healthVerdict,
} from '../../machines/shared/workspace-policy.ts';
import {
  type ConnectionCounts,
  type MigrationInitiator,
  type WorkspaceContext,
  STREAMS,
  createWorkspaceMachine,
} from '../../machines/workspace.machine.ts';
import type { Clock } from '../clock.ts';
import {
  CONNECTION,
  type Principal,
  canAccess,
  isOperator,
  workspaceOpsCounter,
} from '../connections/connections.ts';
import type {
  ChartBinding,
  CommitListener,
  Engine,
  SendOptions,
  TxStep,
} from '../engine/engine.ts';
import { type PersistedState, stateName } from '../engine/step.ts';
import {
  AlreadyExistsError,
  AppError,
  ForbiddenError,
  InvalidTransitionError,
  NotFoundError,
  ValidationError,
} from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ActorRef } from '../store/redis-store.ts';
import { iso, toKebab } from '../wire.ts';
import type { SettingsService } from './settings.ts';
import { toWire } from './settings.ts';

export const WORKSPACE = 'workspace';
/** Minimum time between evaluations of a workspace triggered by success-only heartbeats. */
/** How far ahead a migration may be scheduled. */
const MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 60 * 60_000;

/** What an evaluation did that the request which caused it reports. */
export interface EvaluationResult {
  /** The automatic rollback this evaluation made, if any. */
  rollback: { eventId: string } | null;
}

const NOTHING: EvaluationResult = { rollback: null };

interface Lane {
  running: Promise<void> | null;
  queued: {
    statusChanged: boolean;
    done: Promise<EvaluationResult>;
    resolve(r: EvaluationResult): void;
  } | null;
}

/** An event with its payload, as the engine accepts it. */
type AnyEvent = EventObject & Record<string, unknown>;
const MINUTE = 60_000;

/** Dotted state path of a workspace (`http.cooldown`). */
export function workspaceState(value: PersistedState['value']): string {
  if (typeof value === 'string') return value;
  const [k, v] = Object.entries(value)[0]!;
  return `${k}.${workspaceState(v as PersistedState['value'])}`;
}

export function workspaceBinding(): ChartBinding {
  return {
    kind: WORKSPACE,
    machine: createWorkspaceMachine(),
    indexes: (state) => ['workspace:all', `workspace:state:${workspaceState(state.value)}`],
  };
}

/** A migration conflict the caller can fix (409 with a precise code). */
export class MigrationRefusedError extends AppError {
  override readonly status = 409;
  override readonly code = 'migration-refused';
}

export interface MigrationRequest {
  toProtocol: Protocol;
  initiatedBy: Exclude<MigrationInitiator, 'system'>;
  requestedBy?: string;
  scheduledAt?: number;
  /** Makes the request safe to retry (see SendOptions.requestId). */
  requestId?: string;
}

export interface RollbackRequest {
  reason: string;
  requestedBy?: string;
  requestId?: string;
}

/**
 * The id of what a request creates (a migration, a rollback event): random, or derived from the
 * client's request id so that a retried request answers with the same id.
 */
function idFor(ref: ActorRef, requestId: string | undefined, purpose: string): string {
  if (requestId === undefined) return randomUUID();
  const h = createHash('sha256')
    .update(`${ref.installationId}\u0000${ref.id}\u0000${purpose}\u0000${requestId}`)
    .digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Workspace transport decisions. Health is evaluated after connection commits from per-minute
 * counters written with each heartbeat; a breach rolls the workspace and all its connections
 * back in one engine transaction, so concurrent evaluators produce exactly one rollback.
 */
export class WorkspaceService {
  /** Per workspace: the evaluation running and the one queued behind it. */
  readonly #lanes = new Map<string, Lane>();
  /** Per workspace: the evaluation that covers the latest commit. */
  readonly #latest = new Map<string, Promise<EvaluationResult>>();

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

  /** Commit listener: re-evaluate the workspace of every connection that changed. */
  readonly onCommit: CommitListener = ({ ref, before, after }) => {
    if (ref.kind !== CONNECTION) return;
    const c = after.context as unknown as ConnectionContext;
    const statusChanged = before === null || stateName(before.value) !== stateName(after.value);
    void this.schedule(ref.installationId, c.workspaceId, statusChanged);
  };

  /**
   * Starts an evaluation of the workspace now, or, while one runs, queues exactly one more that
   * starts when it ends (later requests join the queued one). Resolves when an evaluation that
   * started after this call has finished, with the rollback it made, if any. Never rejects: a
   * failed evaluation is logged and the next commit or the poller evaluates again.
   */
  schedule(
    installationId: string,
    workspaceId: string,
    statusChanged: boolean,
  ): Promise<EvaluationResult> {
    const key = `${installationId}\u0000${workspaceId}`;
    let lane = this.#lanes.get(key);
    if (!lane) {
      lane = { running: null, queued: null };
      this.#lanes.set(key, lane);
    }
    if (lane.queued) {
      lane.queued.statusChanged ||= statusChanged;
    } else {
      let resolve!: (r: EvaluationResult) => void;
      const done = new Promise<EvaluationResult>((r) => (resolve = r));
      lane.queued = { statusChanged, done, resolve };
    }
    const { done } = lane.queued;
    this.#latest.set(key, done);
    if (!lane.running) this.#pump(key, installationId, workspaceId, lane);
    return done;
  }

  /** The evaluation covering every commit made so far to this workspace's connections. */
  settled(installationId: string, workspaceId: string): Promise<EvaluationResult> {
    return this.#latest.get(`${installationId}\u0000${workspaceId}`) ?? Promise.resolve(NOTHING);
  }

  #pump(key: string, installationId: string, workspaceId: string, lane: Lane): void {
    const job = lane.queued!;
    lane.queued = null;
    lane.running = this.evaluate(installationId, workspaceId, job.statusChanged)
      .catch((error: unknown) => {
        this.logger.error('workspace evaluation failed', { workspaceId, error: String(error) });
        return NOTHING;
      })
      .then((result) => {
        job.resolve(result);
        lane.running = null;
        if (lane.queued) this.#pump(key, installationId, workspaceId, lane);
        else {
          this.#lanes.delete(key);
          if (this.#latest.get(key) === job.done) this.#latest.delete(key);
        }
      });
  }

  /** The workspace's last rollback, as recorded by its chart. */
  async lastRollback(installationId: string, workspaceId: string) {
    const found = await this.engine.read(this.ref(installationId, workspaceId));
    const last = (found?.state.context as unknown as WorkspaceContext | undefined)?.lastRollback;
    return last ? { eventId: last.eventId } : null;
  }

  /** Resolves when every scheduled evaluation has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#lanes.size > 0) {
      await Promise.all([...this.#lanes.values()].flatMap((l) => (l.running ? [l.running] : [])));
    }
  }

  /** Creates the workspace on the installation's default protocol if it does not exist yet. */
  /** Refuses, without writing anything, a workspace id that another installation holds. */
  async checkOwner(installationId: string, workspaceId: string): Promise<void> {
    const owner = await this.engine.store.owner(WORKSPACE, workspaceId);
    if (owner !== null && owner !== installationId) {
      throw new AlreadyExistsError(
        `workspace ${workspaceId} already exists in another installation`,
        { field: 'workspaceId' },
      );
    }
  }

  /** Whether this workspace already applied a request with this id (a client retry). */
  async #replayed(ref: ActorRef, requestId: string | undefined): Promise<boolean> {
    if (requestId === undefined) return false;
    const [seen] = await this.engine.store.seenRequestIds(ref, [requestId]);
    return seen === true;
  }

  async ensure(installationId: string, workspaceId: string): Promise<void> {
    const owner = await this.engine.store.claimOwner(WORKSPACE, workspaceId, installationId);
    if (owner !== installationId) {
      // Workspace ids are global (like connection ids); never say which installation holds it.
      throw new AlreadyExistsError(
        `workspace ${workspaceId} already exists in another installation`,
        { field: 'workspaceId' },
      );
    }
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

  async #connections(installationId: string, workspaceId: string) {
    const ids = await this.engine.store.indexAll(installationId, `connection:ws:${workspaceId}`);
    const found = await this.engine.readMany(
      ids.map((id) => ({ kind: CONNECTION, installationId, id })),
    );
    return ids.map((id, i) => ({ id, state: found[i]?.state ?? null }));
  }

  /** Success rate over the policy window from the per-minute counters, since `sinceMs`. */
  /**
   * Success rate over the policy window from the per-minute counters, counting only operations
   * since `sinceMs`. The minute of a transport change holds operations from before and after
   * it; `#markBaseline` recorded that minute's counts at the change, and they are subtracted.
   */
  async #rate(
    installationId: string,
    workspaceId: string,
    policy: WorkspacePolicy,
    sinceMs: number,
  ) {
    const name = workspaceOpsCounter(workspaceId);
    const counters = await this.engine.store.counters(installationId, name);
    let head = -1;
    for (const field of Object.keys(counters)) {
      if (!field.startsWith('base:')) head = Math.max(head, Number(field.slice(3)));
    }
    const sinceMinute = Math.floor(sinceMs / MINUTE);
    const first = Math.max(head - policy.windowMinutes + 1, sinceMinute);
    const [baseOk, baseKo] = (counters[`base:${sinceMs}`] ?? '0,0').split(',').map(Number) as [
      number,
      number,
    ];
    let ok = 0;
    let ko = 0;
    const expired: string[] = [];
    for (const [field, value] of Object.entries(counters)) {
      if (field.startsWith('base:')) {
        if (Number(field.slice(5)) < (head - 60) * MINUTE) expired.push(field);
        continue;
      }
      const minute = Number(field.slice(3));
      if (minute <= head - 60) expired.push(field);
      if (minute < first) continue;
      const n = Number(value);
      if (field.startsWith('ok:')) ok += minute === sinceMinute ? Math.max(0, n - baseOk) : n;
      else ko += minute === sinceMinute ? Math.max(0, n - baseKo) : n;
    }
    // Housekeeping only: a failure must neither fail the evaluation nor go unhandled.
    this.engine.store.dropCounterFields(installationId, name, expired).catch((error: unknown) => {
      this.logger.warn('dropping expired workspace counters failed', {
        workspaceId,
        error: String(error),
      });
    });
    const samples = ok + ko;
    return { successRate: samples === 0 ? null : ok / samples, sampleSize: samples };
  }

  /** Records the counts of the minute of a transport change at `at` (see #rate). */
  async #markBaseline(installationId: string, workspaceId: string, at: number): Promise<void> {
    const name = workspaceOpsCounter(workspaceId);
    const minute = Math.floor(at / MINUTE);
    const [ok, ko] = await this.engine.store.counterFields(installationId, name, [
      `ok:${minute}`,
      `ko:${minute}`,
    ]);
    await this.engine.store.setCounterFieldOnce(
      installationId,
      name,
      `base:${at}`,
      `${Number(ok ?? 0)},${Number(ko ?? 0)}`,
    );
  }

  async #capacity(installationId: string) {
    let active = 0;
    for (const status of ACTIVE_CONNECTION_STATUSES) {
      active += await this.engine.store.indexSize(installationId, `connection:status:${status}`);
    }
    return { activeConnections: active, capacityPercent: active / this.capacityPerWorker };
  }

  /** Where the health window starts: the current transport (or running migration) began then. */
  #since(ctx: WorkspaceContext): number {
    return ctx.migration?.startedAt ?? ctx.transportSince;
  }

  async #evidence(
    installationId: string,
    workspaceId: string,
    ctx: WorkspaceContext,
    policy: WorkspacePolicy,
    connections?: { state: PersistedState | null }[],
  ): Promise<HealthEvidence> {
    const rate = await this.#rate(installationId, workspaceId, policy, this.#since(ctx));
    const capacity = await this.#capacity(installationId);
    let latencyP95: number | null = null;
    if (connections) {
      const windows = connections
        .filter((c) => c.state && c.state.value !== 'rolledBack')
        .map((c) => (c.state!.context as unknown as ConnectionContext).window);
      latencyP95 = windowStats(mergeWindows(windows), 1).latencyP95;
    }
    return { ...rate, latencyP95, windowMinutes: policy.windowMinutes, ...capacity };
  }

  /**
   * Re-evaluates one workspace: reports connection counts when statuses changed, records health
   * verdict changes, and rolls back on a breach while on (or moving to) ACP.
   */
  async evaluate(
    installationId: string,
    workspaceId: string,
    statusChanged = true,
  ): Promise<EvaluationResult> {
    const ref = this.ref(installationId, workspaceId);
    const found = await this.engine.read(ref);
    if (!found) return NOTHING;
    const ctx = found.state.context as unknown as WorkspaceContext;
    const state = workspaceState(found.state.value);
    const policy = await this.settings.get(installationId);
    const rate = await this.#rate(installationId, workspaceId, policy, this.#since(ctx));
    const verdict = healthVerdict(rate, policy);

    if (verdict === 'breach' && (state === 'acp' || state === 'migrating')) {
      const eventId = randomUUID();
      const done = await this.#rollback(
        installationId,
        workspaceId,
        (evidence, policyNow, connectionIds, at) => ({
          type: 'AUTO_ROLLBACK',
          at,
          eventId,
          migrationId: randomUUID(),
          evidence,
          policy: policyNow,
          connectionIds,
        }),
      ).catch((error: unknown) => {
        // Another evaluator (or process) rolled it back first: exactly one rollback happens.
        if (!(error instanceof InvalidTransitionError)) throw error;
        return null;
      });
      return done ? { rollback: { eventId } } : NOTHING;
    }

    if (statusChanged) {
      const counts = countConnections(await this.#connections(installationId, workspaceId));
      if (JSON.stringify(counts) !== JSON.stringify(ctx.connections) || state === 'migrating') {
        const at = this.clock.now();
        // The counts may complete a migration: the transport changes at `at`.
        if (state === 'migrating' && counts.active > 0 && counts.pending === 0) {
          await this.#markBaseline(installationId, workspaceId, at);
        }
        await this.#send(ref, {
          type: 'CONNECTIONS',
          at,
          eventId: randomUUID(),
          counts,
        });
      }
    }

    const policyChanged = JSON.stringify(policy) !== JSON.stringify(ctx.policy);
    // No health recorded yet is the same as insufficient data: nothing to tell the chart.
    if ((ctx.health?.verdict ?? 'insufficient-data') !== verdict || policyChanged) {
      const evidence = await this.#evidence(installationId, workspaceId, ctx, policy);
      await this.#send(ref, {
        type: 'HEALTH',
        at: this.clock.now(),
        eventId: randomUUID(),
        evidence,
        policy,
        nextMigrationId: randomUUID(),
      });
    }
    return NOTHING;
  }

  async #send(ref: ActorRef, event: AnyEvent) {
    return this.engine.send(ref, event).catch((error: unknown) => {
      if (!(error instanceof InvalidTransitionError)) throw error;
      return null;
    });
  }

  /**
   * The rollback transaction: the workspace event plus ROLLBACK for each of its live
   * connections, guarded by the workspace's connection index so a connection registering
   * meanwhile is not left behind.
   */
  async #rollback(
    installationId: string,
    workspaceId: string,
    makeEvent: (
      evidence: HealthEvidence,
      policy: WorkspacePolicy,
      connectionIds: string[],
      at: number,
    ) => AnyEvent,
    connectionEvent: AnyEvent = { type: 'ROLLBACK', reason: 'workspace-rollback' },
    options: SendOptions = {},
  ) {
    // One decision time for every attempt, so the baseline below matches the committed event.
    const at = this.clock.now();
    const wsRef = this.ref(installationId, workspaceId);
    const index = `connection:ws:${workspaceId}`;
    const policy = await this.settings.get(installationId);
    // Ask the chart first: a refused rollback must write nothing, not even the baseline.
    const current = await this.engine.read(wsRef);
    if (!current)
      throw new NotFoundError(`workspace ${workspaceId} not found`, { field: 'workspaceId' });
    const currentCtx = current.state.context as unknown as WorkspaceContext;
    const probe = makeEvent(
      await this.#evidence(installationId, workspaceId, currentCtx, policy),
      policy,
      [],
      at,
    );
    if (!this.engine.can(WORKSPACE, current.state, probe)) {
      const state = toKebab(workspaceState(current.state.value));
      throw new InvalidTransitionError(
        `workspace ${workspaceId} in state "${state}" does not accept ${probe.type}`,
        { state, event: probe.type },
      );
    }
    await this.#markBaseline(installationId, workspaceId, at);
    let ids: string[] = [];
    // Evidence is gathered before the transaction (I/O), the plan itself stays pure.
    let evidence: HealthEvidence | null = null;
    return this.engine.transact(
      installationId,
      async () => {
        ids = await this.engine.store.indexAll(installationId, index);
        const found = await this.engine.read(wsRef);
        if (!found)
          throw new NotFoundError(`workspace ${workspaceId} not found`, { field: 'workspaceId' });
        const conns = await this.#connections(installationId, workspaceId);
        evidence = await this.#evidence(
          installationId,
          workspaceId,
          found.state.context as unknown as WorkspaceContext,
          policy,
          conns,
        );
        return [wsRef, ...ids.map((id) => ({ kind: CONNECTION, installationId, id }))];
      },
      (states, refs) => {
        if (!states[0]) return null;
        const live = refs.slice(1).filter((_, i) => {
          const s = states[i + 1];
          return s !== null && s !== undefined && s.value !== 'rolledBack';
        });
        const steps: TxStep[] = [
          {
            ref: wsRef,
            event: makeEvent(
              evidence!,
              policy,
              live.map((r) => r.id),
              at,
            ),
          },
          ...live.map((ref) => ({ ref, event: connectionEvent })),
        ];
        return { steps, guards: [{ index, count: ids.length }] };
      },
      options,
    );
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
    const ctx = found.state.context as unknown as WorkspaceContext;
    const state = workspaceState(found.state.value);
    const now = this.clock.now();
    const migrationId = idFor(ref, req.requestId, 'migration');
    const requestedBy = req.requestedBy ?? principal.name ?? null;
    const opts = req.requestId === undefined ? {} : { requestId: req.requestId };
    if (await this.#replayed(ref, req.requestId)) {
      return { migrationId, duplicate: true, workspace: await this.view(found.state, ref) };
    }

    if (req.toProtocol === 'acp') {
      if (req.scheduledAt !== undefined && req.scheduledAt <= now) {
        throw new ValidationError('scheduledAt must be in the future', { field: 'scheduledAt' });
      }
      if (req.scheduledAt !== undefined && req.scheduledAt > now + MAX_SCHEDULE_AHEAD_MS) {
        throw new ValidationError('scheduledAt must be within one year', { field: 'scheduledAt' });
      }
      const evidence = await this.#evidence(ref.installationId, workspaceId, ctx, policy);
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
        evidence,
        connectionIds: [],
      } as AnyEvent;
      // The chart decides; the service only explains a refusal, before anything is written.
      if (!this.engine.can(WORKSPACE, found.state, event)) {
        throw migrationRefusal(policy, state, req.initiatedBy);
      }
      await this.#markBaseline(ref.installationId, workspaceId, now);
      const outcome = await this.engine.send(ref, event, opts).catch((error: unknown) => {
        // Another process moved the workspace since it was read.
        if (error instanceof InvalidTransitionError)
          throw migrationRefusal(policy, state, req.initiatedBy);
        throw error;
      });
      // Connections may already all be on ACP: the evaluation completes the migration before
      // the answer.
      await this.schedule(ref.installationId, workspaceId, true);
      const after = await this.engine.read(ref);
      return { migrationId, workspace: await this.view(after?.state ?? outcome.state, ref) };
    }

    await this.#rollback(
      ref.installationId,
      workspaceId,
      (evidence, policyNow, _ids, at) => ({
        type: 'REQUEST_MIGRATION',
        at,
        eventId: randomUUID(),
        migrationId,
        toProtocol: 'http',
        initiatedBy: req.initiatedBy,
        requestedBy,
        scheduledAt: null,
        policy: policyNow,
        evidence,
        connectionIds: [],
      }),
      { type: 'ROLLBACK', reason: 'migrated-to-http' },
      opts,
    ).catch((error: unknown) => {
      if (error instanceof InvalidTransitionError) {
        throw new MigrationRefusedError(`workspace is ${toKebab(state)}, not on ACP`, {
          state: toKebab(state),
        });
      }
      throw error;
    });
    return { migrationId, workspace: await this.get(principal, workspaceId) };
  }

  async rollback(principal: Principal, workspaceId: string, req: RollbackRequest) {
    const ref = await this.resolve(principal, workspaceId);
    const eventId = idFor(ref, req.requestId, 'rollback');
    if (await this.#replayed(ref, req.requestId)) {
      return { eventId, duplicate: true, workspace: await this.get(principal, workspaceId) };
    }
    const result = await this.#rollback(
      ref.installationId,
      workspaceId,
      (evidence, policy, connectionIds, at) => ({
        type: 'ROLLBACK_REQUESTED',
        at,
        eventId,
        migrationId: randomUUID(),
        trigger: isOperator(principal) ? 'manualOperator' : 'manualUser',
        reason: req.reason,
        requestedBy: req.requestedBy ?? principal.name ?? null,
        evidence,
        policy,
        connectionIds,
      }),
      undefined,
      req.requestId === undefined ? {} : { requestId: req.requestId },
    ).catch((error: unknown) => {
      if (error instanceof InvalidTransitionError) {
        throw new MigrationRefusedError(
          'the workspace is not on ACP; there is nothing to roll back',
          { field: 'workspaceId' },
        );
      }
      throw error;
    });
    if (!result)
      throw new NotFoundError(`workspace ${workspaceId} not found`, { field: 'workspaceId' });
    const duplicate = result[0]?.duplicate === true;
    return {
      eventId,
      ...(duplicate ? { duplicate } : {}),
      workspace: await this.get(principal, workspaceId),
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
      .send(ref, event, requestId === undefined ? {} : { requestId })
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
    const ctx = state.context as unknown as WorkspaceContext;
    const path = workspaceState(state.value);
    const conns = await this.#connections(ref.installationId, ref.id);
    const byStatus: Record<string, number> = {};
    for (const c of conns) {
      if (!c.state) continue;
      const status = toKebab(stateName(c.state.value));
      byStatus[status] = (byStatus[status] ?? 0) + 1;
    }
    const policy = await this.settings.get(ref.installationId);
    const evidence = await this.#evidence(ref.installationId, ref.id, ctx, policy, conns);
    const timers = await this.engine.store.timersOf(ref);
    const scheduledStart = path === 'http.scheduled' ? (timers[0]?.due ?? null) : null;
    return {
      workspaceId: ctx.workspaceId,
      installationId: ctx.installationId,
      transport: path === 'acp' ? 'acp' : 'http',
      state: path.split('.').map(toKebab).join('.'),
      transportSince: iso(ctx.transportSince),
      migration: ctx.migration
        ? {
            ...ctx.migration,
            status: 'in-progress',
            startedAt: iso(ctx.migration.startedAt),
            scheduledAt: iso(ctx.migration.scheduledAt),
          }
        : null,
      scheduledMigration:
        ctx.pending && path === 'http.scheduled'
          ? {
              ...ctx.pending,
              startedAt: undefined,
              requestedAt: iso(ctx.pending.startedAt),
              scheduledAt: iso(scheduledStart ?? ctx.pending.scheduledAt),
            }
          : null,
      connections: { total: conns.length, byStatus, ...countConnections(conns) },
      health: {
        ...evidence,
        verdict: healthVerdict(evidence, policy),
        minSuccessRate: policy.minSuccessRate,
        minSamples: policy.minSamples,
      },
      cooldownUntil: iso(ctx.cooldownUntil),
      autoMigrationBlocked: ctx.autoMigrationBlocked,
      autoRollbacksInFlapWindow: ctx.autoRollbacks.length,
      lastRollback: ctx.lastRollback
        ? {
            ...ctx.lastRollback,
            trigger: toKebab(ctx.lastRollback.trigger),
            at: iso(ctx.lastRollback.at),
          }
        : null,
      settings: toWire(policy),
    };
  }

  /** After a settings change: every workspace of the installation re-evaluates under it. */
  async refreshPolicy(installationId: string): Promise<void> {
    const ids = await this.engine.store.indexAll(installationId, 'workspace:all');
    await Promise.all(ids.map((id) => this.schedule(installationId, id, false)));
  }

  /** Audit entries of one workspace stream, newest first, with a cursor. */
  async audit(
    principal: Principal,
    workspaceId: string,
    stream: keyof typeof STREAMS,
    q: { from?: number; to?: number; cursor?: string; limit: number },
  ) {
    const ref = await this.resolve(principal, workspaceId);
    if (q.cursor !== undefined && !/^\d{15}:[\w.-]+$/.test(q.cursor)) {
      throw new ValidationError('cursor is not valid; pass back nextCursor unchanged', {
        field: 'cursor',
      });
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

/** Why the chart refused a migration to ACP, for the 409 (the chart made the decision). */
function migrationRefusal(
  policy: WorkspacePolicy,
  state: string,
  initiatedBy: string,
): MigrationRefusedError {
  if (!policy.migrationEnabled) {
    return new MigrationRefusedError('migration to ACP is disabled for this installation', {
      field: 'toProtocol',
    });
  }
  if (!state.startsWith('http')) {
    return new MigrationRefusedError(`workspace is ${toKebab(state)}, not on HTTP`, {
      state: toKebab(state),
    });
  }
  if (policy.rolloutMode === 'scheduled' && initiatedBy === 'user') {
    return new MigrationRefusedError(
      'this installation rolls out on a schedule set by operators; users cannot opt in',
      { field: 'initiatedBy' },
    );
  }
  return new MigrationRefusedError(
    `workspace is ${toKebab(state)} and does not accept a migration now`,
    {
      state: toKebab(state),
    },
  );
}

export function countConnections(conns: { state: PersistedState | null }[]): ConnectionCounts {
  const counts = { active: 0, onAcp: 0, pending: 0, onHttp: 0 };
  for (const c of conns) {
    if (!c.state) continue;
    const status = c.state.value as ConnectionStatus;
    if (status === 'rolledBack') counts.onHttp++;
    else {
      counts.active++;
      if (status === 'connected' || status === 'degraded') counts.onAcp++;
      else counts.pending++;
    }
  }
  return counts;
}
