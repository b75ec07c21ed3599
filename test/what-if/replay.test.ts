/**
 * The pure replay (src/workspaces/what-if.ts) on a journal written here the way the engine
 * writes it: a checkpoint, then the events with their times; timer events stamped with their due
 * time, as the timer poller stamps them.
 */
import type { EventObject } from 'xstate';
import { describe, expect, it } from 'vitest';
import { DEFAULT_WORKSPACE_POLICY } from '../../machines/shared/workspace-policy.ts';
import { createWorkspaceMachine } from '../../machines/workspace.machine.ts';
import { Stepper } from '../../src/engine/step.ts';
import { type JournalEntry, replayWhatIf } from '../../src/workspaces/what-if.ts';

const T0 = Date.parse('2026-01-05T09:00:00.000Z');
const MIN = 60_000;
const machine = createWorkspaceMachine();
const policy = DEFAULT_WORKSPACE_POLICY;

let n = 0;
const report = (at: number, status: string, ops: [number, number] | null) => ({
  type: 'CONNECTION_REPORT',
  at,
  eventId: `e${++n}`,
  spareId: `s${n}`,
  connectionId: 'c1',
  status,
  ops: ops && { at, succeeded: ops[0], failed: ops[1], latencyP95: null },
});

/** Runs the chart like the engine and journals what it applied, timers fired at their due time. */
function record(events: (EventObject & { at: number })[]): JournalEntry[] {
  const stepper = new Stepper(machine);
  let snapshot = stepper.initial({
    workspaceId: 'ws',
    installationId: 'i',
    policy,
    at: T0,
  }).snapshot;
  const entries: JournalEntry[] = [{ v: 1, checkpoint: stepper.persist(snapshot) }];
  const timers = new Map<string, { due: number; event: EventObject }>();
  const apply = (event: EventObject & { at: number }) => {
    const r = stepper.step(snapshot, event);
    snapshot = r.snapshot;
    entries.push({ v: entries.length + 1, event });
    for (const a of r.actions) {
      const p = a.params as { event: EventObject; id?: string; delay?: number; sendId?: string };
      if (a.type === 'xstate.raise' && typeof p.delay === 'number')
        timers.set(p.id ?? p.event.type, { due: event.at + p.delay, event: p.event });
      if (a.type === 'xstate.cancel') timers.delete(p.sendId!);
    }
  };
  for (const event of events) {
    for (const [id, t] of [...timers].filter(([, t]) => t.due <= event.at)) {
      timers.delete(id);
      apply({ ...t.event, at: t.due });
    }
    apply(event);
  }
  return entries;
}

const traffic = () =>
  record([
    {
      type: 'REQUEST_MIGRATION',
      at: T0,
      eventId: 'r1',
      migrationId: 'm1',
      toProtocol: 'acp',
      initiatedBy: 'operator',
      requestedBy: null,
      scheduledAt: null,
      policy,
    } as EventObject & { at: number },
    report(T0 + 1000, 'connected', null),
    report(T0 + MIN, 'connected', [90, 10]), // 90 % over 100: rollback, 30 min cooldown
    report(T0 + 40 * MIN, 'rolledBack', null), // after the cooldown timer fired
  ]);

describe('replayWhatIf', () => {
  it('reproduces the recording with the settings in force, timers included', () => {
    const entries = traffic();
    const fired = entries.filter((e) => 'event' in e && e.event.type.startsWith('xstate.after'));
    expect(fired).toHaveLength(1);
    const r = replayWhatIf(machine, entries, { from: T0, to: T0 + 50 * MIN, candidate: (p) => p })!;
    expect(r.actual).toEqual(r.whatIf);
    expect(r.actual.decisions.map((d) => d.kind)).toEqual([
      'migration-started',
      'migration-succeeded',
      'rollback',
      'migration-rolled-back',
    ]);
    expect(r.actual.finalState).toBe('http.idle');
    expect(r.coverage).toEqual({
      journalFrom: T0,
      complete: true,
      eventsBefore: 0,
      eventsInRange: entries.length - 1,
    });
  });

  it("fires the candidate's own timers: a 5-minute cooldown ends before the recorded 30-minute one", () => {
    const entries = traffic();
    const at = (to: number, cooldownMs: number) =>
      replayWhatIf(machine, entries, { from: T0, to, candidate: (p) => ({ ...p, cooldownMs }) })!;
    expect(at(T0 + 10 * MIN, 5 * MIN).whatIf.finalState).toBe('http.idle');
    expect(at(T0 + 10 * MIN, 5 * MIN).actual.finalState).toBe('http.cooldown');
    // A longer candidate cooldown skips the recorded timer: still cooling down at 40 minutes.
    expect(at(T0 + 40 * MIN, 60 * MIN).whatIf.finalState).toBe('http.cooldown');
    expect(at(T0 + 40 * MIN, 60 * MIN).actual.finalState).toBe('http.idle');
  });

  it('substitutes the candidate in the events and decides the rollback by it', () => {
    const r = replayWhatIf(machine, traffic(), {
      from: T0,
      to: T0 + 50 * MIN,
      candidate: (p) => ({ ...p, minSuccessRate: 0.9 }),
    })!;
    expect(r.whatIf.decisions.map((d) => d.kind)).toEqual([
      'migration-started',
      'migration-succeeded',
    ]);
    expect(r.whatIf.finalState).toBe('acp');
  });

  it('says when the journal was trimmed past `from`, and answers null without a checkpoint', () => {
    const entries = traffic();
    const stepper = new Stepper(machine);
    // The state after the first two events, as a later checkpoint would hold it.
    const r0 = replayWhatIf(machine, entries.slice(0, 3), {
      from: T0,
      to: T0 + 2000,
      candidate: (p) => p,
    })!;
    expect(r0.actual.finalState).toBe('acp');
    let snapshot = stepper.restore(
      (entries[0] as Extract<JournalEntry, { checkpoint: unknown }>).checkpoint,
    );
    for (const e of entries.slice(1, 3)) {
      snapshot = stepper.step(snapshot, (e as { event: EventObject }).event).snapshot;
    }
    const trimmed = [{ v: 3, checkpoint: stepper.persist(snapshot) }, ...entries.slice(3)];
    const r = replayWhatIf(machine, trimmed, { from: T0, to: T0 + 50 * MIN, candidate: (p) => p })!;
    expect(r.coverage.complete).toBe(false);
    expect(r.coverage.journalFrom).toBe(T0 + MIN);
    expect(r.actual.decisions.map((d) => d.kind)).toEqual(['rollback', 'migration-rolled-back']);
    expect(
      replayWhatIf(machine, entries.slice(1), { from: T0, to: T0 + MIN, candidate: (p) => p }),
    ).toBeNull();
  });
});
