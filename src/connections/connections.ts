import {
  CONNECTION_STATUSES,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionStatus,
  type ConnectionThresholds,
  createConnectionMachine,
} from '../../machines/connection.machine.ts';
import { WINDOW_MINUTES } from '../../machines/shared/window.ts';
import type { Clock } from '../clock.ts';
import { type ChartBinding, type Engine, type Outcome, requestKey } from '../engine/engine.ts';
import { type PersistedState, stateName } from '../engine/step.ts';
import {
  AlreadyExistsError,
  ForbiddenError,
  NotFoundError,
  RequestIdReusedError,
  VetoedError,
  invalidFields,
} from '../errors.ts';
import type { ActorRef } from '../store/redis-store.ts';
import { type ConnectionRecord, toHeartbeatAck, toRecord } from './records.ts';
import { connectionSnapshots } from './snapshot-shape.ts';

export { type ConnectionRecord, toHeartbeatAck, toRecord } from './records.ts';

export const CONNECTION = 'connection';

/** Who is asking: an operator (every installation) or a token scoped to some installations. */
export interface Principal {
  installations: ReadonlySet<string> | null;
  /** The token's name, for audit records. */
  name?: string;
}

/** Every connection is in exactly one of these (its state): their union is every connection. */
const STATUS_INDEXES = CONNECTION_STATUSES.map((s) => `connection:status:${s}`);

export const isOperator = (p: Principal) => p.installations === null;

export function canAccess(principal: Principal, installationId: string): boolean {
  return principal.installations === null || principal.installations.has(installationId);
}

/**
 * How connection snapshots are written (SNAPSHOT_FORMAT): `compact` as arrays of their values
 * (snapshot-shape.ts), `json` as JSON of `{value, context}`, what versions before the compact
 * form read. Both forms are read either way, so a fleet can be upgraded with `json` first.
 */
export type SnapshotFormat = 'compact' | 'json';

export function connectionBinding(
  thresholds: ConnectionThresholds,
  snapshots: SnapshotFormat = 'compact',
): ChartBinding {
  return {
    kind: CONNECTION,
    machine: createConnectionMachine(thresholds),
    indexes: (state) => {
      const c = state.context as unknown as ConnectionContext;
      // No `connection:all`: the status indexes together hold every connection (listing reads
      // their union), and a third zset of every id cost ~100 B per connection.
      return [`connection:ws:${c.workspaceId}`, `connection:status:${stateName(state.value)}`];
    },
    snapshotCodec:
      snapshots === 'compact'
        ? connectionSnapshots
        : {
            encode: (state) => JSON.stringify(state),
            decode: (t) => connectionSnapshots.decode(t),
          },
  };
}

export interface HeartbeatInput {
  timestamp: number;
  succeeded: number;
  failed: number;
  latencyMs: number[];
  /** Client-chosen id: a retried heartbeat with a remembered id is counted once. */
  heartbeatId?: string | undefined;
}

export interface ListFilter {
  installationId?: string;
  workspaceId?: string;
  status?: ConnectionStatus;
  limit: number;
  cursor?: string;
}

type WithoutAt<E> = E extends unknown ? Omit<E, 'at'> : never;
/** A command from the API: the engine stamps it with its clock, never with a client's time. */
export type ConnectionCommand = WithoutAt<ConnectionEvent>;

/** How far ahead of the engine clock a heartbeat timestamp may be (clock skew allowance). */
const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/**
 * How far behind the engine clock a heartbeat timestamp may be (HEARTBEAT_MAX_AGE_MS): the
 * rolling window plus 5 minutes of grace for late heartbeats. An older one, e.g. dated 1969 or
 * year 0001, could only land outside the window or corrupt it.
 */
export const DEFAULT_HEARTBEAT_MAX_AGE_MS = (WINDOW_MINUTES + 5) * 60_000;

/** The one 404 of the connection routes: an unknown id, or one the caller may not see. */
function connectionNotFound(connectionId: string): NotFoundError {
  return new NotFoundError(`connection ${connectionId} not found`, { field: 'connectionId' });
}

/**
 * Connection use cases: each validates tenancy, then sends one event through the engine.
 *
 * @example
 * const service = new ConnectionService(engine, clock, thresholds);
 * await service.register(operator, { connectionId: 'c1', installationId: 'i1', workspaceId: 'w1' });
 */
export class ConnectionService {
  readonly #owners = new Map<string, string>();

  constructor(
    readonly engine: Engine,
    readonly clock: Clock,
    readonly thresholds: ConnectionThresholds & { heartbeatMaxAgeMs?: number },
    /** Runs before a connection is created, e.g. to create its workspace. */
    readonly beforeRegister: (
      installationId: string,
      workspaceId: string,
    ) => Promise<void> = async () => {},
    /** Refuses (throws) without writing when the workspace id belongs to another installation. */
    readonly checkWorkspace: (
      installationId: string,
      workspaceId: string,
    ) => Promise<void> = async () => {},
  ) {}

  /** Checks a registration must pass first; each throws to refuse (feature modules add them). */
  readonly admissionChecks: ((installationId: string) => Promise<void>)[] = [];
  /**
   * Turn a chart's veto of a registration (in its commit, see VETO in src/engine/types.ts) into
   * the refusal its module answers, e.g. `capacity-shed`; one that does not know it returns.
   */
  readonly vetoHandlers: ((installationId: string, veto: VetoedError) => Promise<void>)[] = [];

  /**
   * The answer to a command: the state after everything it caused, which the engine committed
   * with it (the workspace's rollback included), and the rollback's id when the connection
   * ended rolled back.
   */
  async #settled(
    ref: ActorRef,
    outcome: Outcome,
  ): Promise<{ version: number; state: PersistedState; rollback: { eventId: string } | null }> {
    const ctx = outcome.state.context as unknown as ConnectionContext;
    const rollback =
      stateName(outcome.state.value) === 'rolledBack' && ctx.rollbackReason === 'workspace-rollback'
        ? ((await this.lastRollback?.(ref.installationId, ctx.workspaceId)) ?? null)
        : null;
    return { version: outcome.version, state: outcome.state, rollback };
  }

  /** The last rollback of a workspace (set by the composition root). */
  lastRollback?: (
    installationId: string,
    workspaceId: string,
  ) => Promise<{ eventId: string } | null>;

  /**
   * Registers a connection. Every refusal is decided before anything is written: the id taken
   * (by any installation), the workspace held by another installation, load shedding. A retry
   * with the same `requestId` answers the existing record with `duplicate: true`.
   */
  async register(
    principal: Principal,
    input: {
      connectionId: string;
      installationId: string;
      workspaceId: string;
      requestId?: string;
    },
  ): Promise<ConnectionRecord & { duplicate?: true }> {
    const { requestId: id, ...fields } = input;
    const requestId = requestKey('REGISTER', id, fields);
    if (!canAccess(principal, fields.installationId)) {
      throw new ForbiddenError(
        `this token may not register connections for installation ${fields.installationId}`,
        {
          field: 'installationId',
        },
      );
    }
    const store = this.engine.store;
    const ref = {
      kind: CONNECTION,
      installationId: fields.installationId,
      id: fields.connectionId,
    };
    // Never reveal which installation holds the id.
    const taken = () =>
      new AlreadyExistsError(`connection ${fields.connectionId} already exists`, {
        field: 'connectionId',
      });
    const owner = await store.owner(CONNECTION, fields.connectionId);
    if (owner !== null && owner !== fields.installationId) throw taken();
    if (owner !== null) {
      const existing = await this.engine.read(ref);
      if (existing) {
        const [seen] = requestId ? await store.seenRequestIds(ref, [requestId]) : [false];
        if (seen === 'reused') throw new RequestIdReusedError(requestId!);
        if (!seen) throw taken();
        return {
          ...toRecord(existing.state, existing.version, this.thresholds.minSamples),
          duplicate: true,
        };
      }
    }
    await this.checkWorkspace(fields.installationId, fields.workspaceId);
    // e.g. load shedding: refused before anything is claimed or written.
    for (const check of this.admissionChecks) await check(fields.installationId);
    // The owner index is global (another hash slot than the installation's keys), so it cannot
    // join the commit: it is claimed first, and a lost race refuses before the actor is written.
    if (
      (await store.claimOwner(CONNECTION, fields.connectionId, fields.installationId)) !==
      fields.installationId
    ) {
      throw taken();
    }
    await store.registerInstallation(fields.installationId);
    await this.beforeRegister(fields.installationId, fields.workspaceId);
    const outcome = await this.engine
      .create(
        ref,
        { ...fields, at: this.clock.now() },
        requestId === undefined ? {} : { requestId },
      )
      .catch(async (error: unknown) => {
        if (error instanceof VetoedError) {
          for (const handle of this.vetoHandlers) await handle(fields.installationId, error);
        }
        throw error;
      });
    this.#owners.set(fields.connectionId, fields.installationId);
    const after = await this.#settled(ref, outcome);
    const record = toRecord(after.state, after.version, this.thresholds.minSamples);
    return outcome.duplicate ? { ...record, duplicate: true } : record;
  }

  /** Resolves a connection id to its actor, as 404 when it is unknown or not the caller's. */
  async resolve(principal: Principal, connectionId: string): Promise<ActorRef> {
    let installationId = this.#owners.get(connectionId);
    if (installationId === undefined) {
      installationId = (await this.engine.store.owner(CONNECTION, connectionId)) ?? undefined;
      if (installationId !== undefined) this.#owners.set(connectionId, installationId);
    }
    if (installationId === undefined || !canAccess(principal, installationId)) {
      throw connectionNotFound(connectionId);
    }
    return { kind: CONNECTION, installationId, id: connectionId };
  }

  async get(principal: Principal, connectionId: string): Promise<ConnectionRecord> {
    const ref = await this.resolve(principal, connectionId);
    const found = await this.engine.read(ref);
    if (!found) throw connectionNotFound(connectionId);
    return toRecord(found.state, found.version, this.thresholds.minSamples);
  }

  /** Sends an event and awaits its consequences; the outcome is the state after them. */
  async send(
    principal: Principal,
    connectionId: string,
    event: ConnectionEvent | ConnectionCommand,
    requestId?: string,
  ): Promise<Outcome & { rollback: { eventId: string } | null }> {
    const ref = await this.resolve(principal, connectionId);
    const outcome = await this.engine
      .send(ref, event, requestId === undefined ? {} : { requestId })
      .catch((error: unknown) => {
        // An id claimed without a snapshot (a registration the capacity chart vetoed in its
        // commit): the engine names the actor (`details.id`); the routes name the field.
        if (error instanceof NotFoundError && error.details.id === connectionId) {
          throw connectionNotFound(connectionId);
        }
        throw error;
      });
    return { ...outcome, ...(await this.#settled(ref, outcome)) };
  }

  /** Sends a command; a retry with the same `requestId` is answered with `duplicate: true`. */
  async command(
    principal: Principal,
    connectionId: string,
    event: ConnectionCommand,
    requestId?: string,
  ): Promise<ConnectionRecord & { duplicate?: true }> {
    // Remembered with the command's fields: the id sent again with others is refused.
    const { type, ...fields } = event;
    const outcome = await this.send(
      principal,
      connectionId,
      event,
      requestKey(type, requestId, fields),
    );
    const record = toRecord(outcome.state, outcome.version, this.thresholds.minSamples);
    return outcome.duplicate ? { ...record, duplicate: true } : record;
  }

  heartbeatEvent(hb: HeartbeatInput): ConnectionEvent {
    const now = this.clock.now();
    if (hb.timestamp > now + MAX_FUTURE_SKEW_MS) {
      throw invalidFields('body', [
        { field: 'timestamp', message: 'is more than 5 minutes in the future' },
      ]);
    }
    const maxAgeMs = this.thresholds.heartbeatMaxAgeMs ?? DEFAULT_HEARTBEAT_MAX_AGE_MS;
    if (hb.timestamp < now - maxAgeMs) {
      throw invalidFields('body', [
        {
          field: 'timestamp',
          message: `is more than ${maxAgeMs / 60_000} minutes in the past (the rolling window plus a grace period)`,
        },
      ]);
    }
    return {
      type: 'HEARTBEAT',
      at: hb.timestamp,
      receivedAt: now,
      succeeded: hb.succeeded,
      failed: hb.failed,
      latencyMs: hb.latencyMs,
    };
  }

  /** Applies a heartbeat; one that repeats a remembered `heartbeatId` is counted once. */
  async heartbeat(principal: Principal, connectionId: string, hb: HeartbeatInput) {
    const outcome = await this.send(
      principal,
      connectionId,
      this.heartbeatEvent(hb),
      requestKey('HEARTBEAT', hb.heartbeatId),
    );
    const ack = toHeartbeatAck(outcome.state, outcome.version, this.thresholds.minSamples);
    return {
      ...ack,
      ...(outcome.rollback ? { rollback: outcome.rollback } : {}),
      ...(outcome.duplicate ? { duplicate: true as const } : {}),
    };
  }

  /** Pages through connections ordered by installation, then connection id. */
  async list(
    principal: Principal,
    filter: ListFilter,
  ): Promise<{ items: ConnectionRecord[]; nextCursor: string | null }> {
    if (filter.installationId !== undefined && !canAccess(principal, filter.installationId)) {
      throw new ForbiddenError(`this token may not read installation ${filter.installationId}`, {
        field: 'installationId',
      });
    }
    const cursor = filter.cursor ? decodeCursor(filter.cursor) : null;
    let installations =
      filter.installationId !== undefined
        ? [filter.installationId]
        : principal.installations === null
          ? await this.engine.store.installations()
          : [...principal.installations].sort();
    if (cursor) installations = installations.filter((i) => i >= cursor.i);
    // Unfiltered: the union of the status indexes (every connection is in exactly one).
    const index = filter.workspaceId
      ? `connection:ws:${filter.workspaceId}`
      : filter.status
        ? `connection:status:${filter.status}`
        : STATUS_INDEXES;
    const items: ConnectionRecord[] = [];
    for (const installationId of installations) {
      let after = cursor && cursor.i === installationId ? cursor.c : null;
      for (;;) {
        const ids = await this.engine.store.indexPage(installationId, index, after, filter.limit);
        if (ids.length === 0) break;
        const found = await this.engine.readMany(
          ids.map((id) => ({ kind: CONNECTION, installationId, id })),
        );
        for (let k = 0; k < ids.length; k++) {
          const f = found[k];
          after = ids[k]!;
          if (!f) continue;
          if (filter.status && f.state.value !== filter.status) continue;
          items.push(toRecord(f.state, f.version, this.thresholds.minSamples));
          if (items.length === filter.limit) {
            return { items, nextCursor: encodeCursor({ i: installationId, c: after }) };
          }
        }
        if (ids.length < filter.limit) break;
      }
    }
    return { items, nextCursor: null };
  }
}

function encodeCursor(c: { i: string; c: string }): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(s: string): { i: string; c: string } {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (
      v &&
      typeof v === 'object' &&
      typeof (v as { i: unknown }).i === 'string' &&
      typeof (v as { c: unknown }).c === 'string'
    ) {
      return v as { i: string; c: string };
    }
  } catch {
    // fall through
  }
  throw invalidFields('query', [
    { field: 'cursor', message: 'is not valid; pass back nextCursor unchanged' },
  ]);
}
