/**
 * What travels between the engine's units: a command waiting in an actor's mailbox, and what
 * the planner made of a batch of them.
 */
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import type { ActorCommit, ActorRef } from '../store/store.ts';
import type { PersistedState } from './step.ts';
import type { Effect, Outcome } from './types.ts';

/** One command for one actor. */
export type Work =
  | { kind: 'create'; input: Record<string, unknown> }
  | { kind: 'event'; event: EventObject & { at?: number } }
  | { kind: 'timer'; event: EventObject & { at?: number }; member: string; due: number };

/** A command as the planner sees it. */
export interface Command {
  work: Work;
  requestId?: string | undefined;
}

/** A command waiting for its answer. */
export interface Pending extends Command {
  resolve(outcome: Outcome): void;
  reject(error: unknown): void;
}

/** The answer planned for one command: the state after it, or the error that rejects it. */
export type CommandResult =
  | { ok: true; state: PersistedState; changed: boolean }
  | { ok: false; error: unknown; duplicateOf?: PersistedState };

/** A batch of commands applied in memory on top of one snapshot. */
export interface Applied {
  /** What to write, or null when nothing changed (every command refused, or no-op timers). */
  commit: ActorCommit | null;
  before: PersistedState | null;
  events: EventObject[];
  /** One per command, in order. */
  results: CommandResult[];
  final: AnyMachineSnapshot | null;
  effects: Effect[];
  /** Events the chart emitted for other actors (XState `emit` with a `to`), in order. */
  emitted: Routed[];
}

/** An event one actor's chart emitted for another actor of the same installation. */
export interface Routed {
  to: { kind: string; id: string };
  event: EventObject & { at?: number };
}

/** A timer that another process already fired, or that a later commit moved. */
export class TimerGone extends Error {
  constructor() {
    super('timer already fired or cancelled');
    this.name = 'TimerGone';
  }
}

/** Answers every command of a batch from its planned result, at the committed `version`. */
export function settle(
  work: readonly Pending[],
  applied: Applied,
  version: number,
  ref: ActorRef,
): void {
  work.forEach((p, i) => {
    const r = applied.results[i]!;
    if (r.ok) p.resolve({ ref, version, state: r.state, changed: r.changed });
    else if (r.duplicateOf)
      p.resolve({ ref, version, state: r.duplicateOf, changed: false, duplicate: true });
    else p.reject(r.error);
  });
}
