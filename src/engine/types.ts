/**
 * The engine's public vocabulary: how a chart is bound, what a command answers, what an effect
 * and a chain of events between actors look like. Re-exported by engine.ts, where callers import it from.
 */
import { createHash } from 'node:crypto';
import type { AnyStateMachine, EventObject } from 'xstate';
import type { ActorRef, CounterOp } from '../store/store.ts';
import type { SnapshotCodec } from './snapshot-codec.ts';
import type { PersistedState, Stepper } from './step.ts';

/** How one chart is bound to the engine. */
export interface ChartBinding {
  kind: string;
  machine: AnyStateMachine;
  /** Index names (see Keys.index) the actor belongs to in this state; kept exact on every commit. */
  indexes(state: PersistedState, actorId: string): string[];
  /** Counter increments an accepted event contributes (committed with the snapshot). */
  counters?(event: EventObject, before: PersistedState, after: PersistedState): CounterOp[];
  /**
   * The input that creates the actor when another actor's chart emits an event for it and it
   * does not exist yet (e.g. an installation's capacity actor). Without it such events are
   * dropped (and logged).
   */
  autoCreate?(ref: ActorRef): Record<string, unknown>;
  /**
   * Keep every applied event of each actor (and a checkpoint of its state every
   * {@link JOURNAL_CHECKPOINT_EVERY} events) in a capped journal, written in the same commit as
   * the snapshot, so its decisions can be replayed exactly (what-if). `maxEvents` caps the
   * journal's entries (events and checkpoints); 0 turns it off. `encode` gives the text an
   * event is kept as (JSON; default `JSON.stringify(event)`): `decided` says whether the step
   * asked for actions or moved the state value, so a chart's routine events can be kept compact.
   */
  journal?: { maxEvents: number; encode?: (event: EventObject, decided: boolean) => string };
  /**
   * Which applied events the actor's inspection log keeps (see {@link EventLogOptions}); default
   * `{ max: EVENT_LOG_SIZE }`, logging only the events that changed the state value.
   */
  eventLog?: EventLogOptions;
  /**
   * How the actor's snapshot is stored (see snapshot-codec.ts): default JSON of
   * `{value, context}`; `positionalCodec(shape)` keeps a context of a declared shape as an array.
   */
  snapshotCodec?: SnapshotCodec;
}

/**
 * The per-actor inspection log (`GET /v1/actors/:ref/inspect`, the Inspector's history): the last
 * `max` logged events, newest first, each with the state value it led to (`_state`) and the
 * actor's version after its commit (`_v`). Events that leave the state value as it was (a
 * heartbeat in `connected`, a connection's report to its workspace) are not logged by default:
 * they would push the state changes out of the log and cost a write on every heartbeat. What was
 * left out is still counted: the versions missing between two entries, and after the newest
 * one, are commits that logged nothing. Unlike the what-if journal, the log is not a record.
 */
export interface EventLogOptions {
  /** Entries kept per actor; 0 keeps no log. */
  max: number;
  /**
   * Bytes the log keeps per actor at most (default {@link EVENT_LOG_BYTES}): the newest entries
   * that fit, and always the newest one, so a few large events cannot make it grow.
   */
  maxBytes?: number;
  /**
   * Whether an applied event is logged, given whether it changed the state value. Default:
   * `valueChanged`. A binding may widen it, e.g. to rare events that change the context only.
   */
  keep?: (event: EventObject, valueChanged: boolean) => boolean;
}

/** Journaled events between two checkpoints of an actor's state (see ChartBinding.journal). */
export const JOURNAL_CHECKPOINT_EVERY = 500;

/** A bound chart with the stepper that runs it. */
export interface Chart {
  binding: ChartBinding;
  stepper: Stepper;
}

/**
 * The chart action that appends an audit record in the same commit as the transition (not an
 * effect: it must never be lost, nor be visible before the decision it documents).
 */
export const APPEND_AUDIT = 'appendAudit';

/**
 * The event a chart `emit`s to refuse another actor's creation in the same chain (e.g. the
 * capacity chart refusing a registration at the critical ratio): `{ type: VETO, to: { kind, id },
 * reason, details }`. The engine does not deliver it: the chain drops the creating batch,
 * answers it with a {@link VetoedError}, and commits the rest without it. A veto changes nothing
 * in the actor that sends it, so the chart's transition may be actions only.
 */
export const VETO = 'engine.veto';

/** The params of an {@link APPEND_AUDIT} action. */
export interface AuditParams {
  stream: string;
  id: string;
  at: number;
  record: Record<string, unknown>;
}

/** How many logged events each actor keeps for inspection (the default EventLogOptions.max). */
export const EVENT_LOG_SIZE = 20;

/** How many bytes of logged events each actor keeps at most (the default EventLogOptions.maxBytes). */
export const EVENT_LOG_BYTES = 2048;

/** Options of one command. */
export interface SendOptions {
  /**
   * A client-chosen id that makes the command idempotent: the actor remembers its last
   * `IDEMPOTENCY_KEYS_PER_ACTOR` ids, checked and recorded inside the commit, and a retry with a
   * remembered id is answered from the current state (`duplicate: true`) without being applied.
   */
  requestId?: string;
}

/**
 * The idempotency key a client's id is remembered by: the id within its command, so that one id
 * sent with two different commands (a registration's `requestId` and a heartbeat's
 * `heartbeatId`, a migration's and a rollback's) names two requests, and the second is applied
 * instead of being answered as a repeat of the first. With `body` (the parsed request without
 * its id), the key also carries a digest of it (`#<digest>`), remembered with the id: the same
 * id sent again with another body is refused (RequestIdReusedError), neither applied nor
 * answered as a repeat.
 *
 * @example
 * engine.send(ref, event, { requestId: requestKey('ROLLBACK_REQUESTED', body.requestId, { reason }) });
 */
export function requestKey(command: string, id: string, body?: object): string;
export function requestKey(
  command: string,
  id: string | undefined,
  body?: object,
): string | undefined;
export function requestKey(
  command: string,
  id: string | undefined,
  body?: object,
): string | undefined {
  if (id === undefined) return undefined;
  const key = `${command}:${id}`;
  return body === undefined ? key : `${key}#${bodyDigest(body)}`;
}

/**
 * 64 bits of SHA-256 of the body's canonical JSON (keys sorted, undefined fields left out), as
 * hex: two bodies that differ only in key order or in an absent optional field are the same.
 */
function bodyDigest(body: object): string {
  const canonical = JSON.stringify(body, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** The id part of a request key (without the body's digest): what "the same id" compares. */
export function requestIdPart(key: string): string {
  const cut = key.indexOf('#');
  return cut < 0 ? key : key.slice(0, cut);
}

/** Called after every commit, in the committing process, with each actor's state before/after. */
export type CommitListener = (change: {
  ref: ActorRef;
  before: PersistedState | null;
  after: PersistedState;
  events: EventObject[];
}) => void;

/** An effect taken from the outbox: a named chart action with its params. */
export interface Effect {
  id: string;
  kind: string;
  installationId: string;
  actorId: string;
  type: string;
  params: unknown;
  createdAt: number;
}

/**
 * Runs one named chart action after its commit; a rejection retries it from the outbox with
 * backoff (EFFECT_RETRY_BASE_DELAY_MS), then dead-letters it (EFFECT_MAX_ATTEMPTS).
 */
export type EffectHandler = (effect: Effect) => Promise<void> | void;

/** The committed outcome of one event. */
export interface Outcome {
  ref: ActorRef;
  version: number;
  state: PersistedState;
  /** False when a timer event found nothing to do (e.g. a guard held). */
  changed: boolean;
  /** The command's request id had been applied before: nothing was applied this time. */
  duplicate?: boolean;
}

/** Counters for metrics and benchmarks, shared by the engine's units. */
export interface EngineStats {
  commits: number;
  scriptCalls: number;
  conflicts: number;
  effectsRun: number;
  effectsFailed: number;
}
