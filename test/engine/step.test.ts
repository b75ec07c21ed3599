/**
 * Stepper.restore (src/engine/step.ts) resolves what depends only on the state value once per
 * value. For every state of every chart, given as stored (a leaf's value) or partially (a
 * compound state, which XState completes with its initial child), the snapshot must equal
 * XState's own `resolveState`, field by field and in the same field order, must step to the
 * same snapshot and actions, and must not share what a step could write into.
 */
import type { AnyMachineSnapshot, AnyStateMachine, StateValue } from 'xstate';
import { describe, expect, it } from 'vitest';
import { CHARTS } from '../../machines/index.ts';
import { Stepper } from '../../src/engine/step.ts';

interface Node {
  path: string[];
  states?: Record<string, Node>;
  type: string;
}

/** Every state of a chart as a state value: `"error"`, `{ http: "idle" }`, and `"http"`. */
function values(machine: AnyStateMachine): StateValue[] {
  const out: StateValue[] = [];
  const walk = (node: Node) => {
    for (const child of Object.values(node.states ?? {})) {
      const path = child.path;
      out.push(
        path.reduceRight<StateValue>(
          (inner, key, i) => (i === path.length - 1 ? key : { [key]: inner }),
          '',
        ),
      );
      walk(child);
    }
  };
  walk(machine.root);
  return out;
}

/** The fields of a snapshot, sets as arrays, so toStrictEqual compares them all. */
function fields(s: AnyMachineSnapshot): Record<string, unknown> {
  const r = s as unknown as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(r).map((k) => [k, r[k] instanceof Set ? [...(r[k] as Set<unknown>)] : r[k]]),
  );
}

describe('Stepper.restore', () => {
  for (const chart of CHARTS) {
    const machine = chart.machine as AnyStateMachine;
    const all = values(machine);

    it(`${chart.id}: equals XState's resolveState for every state, leaf or compound`, () => {
      const stepper = new Stepper(machine);
      expect(all.length).toBeGreaterThan(3);
      for (const value of all) {
        const context = { marker: value };
        // Twice: the first resolves the value, the second is served from what it kept.
        for (const round of [1, 2]) {
          const ours = stepper.restore({ value, context });
          const xstate = machine.resolveState({ value, context }) as AnyMachineSnapshot;
          expect(Object.keys(ours), `${JSON.stringify(value)} round ${round}`).toEqual(
            Object.keys(xstate),
          );
          expect(fields(ours)).toStrictEqual(fields(xstate));
          expect(ours.context).toBe(context);
        }
      }
    });

    it(`${chart.id}: restored snapshots share nothing a step writes`, () => {
      const stepper = new Stepper(machine);
      for (const value of all) {
        const a = stepper.restore({ value, context: {} });
        const b = stepper.restore({ value, context: {} });
        expect(a.children).not.toBe(b.children);
        expect(a.historyValue).not.toBe(b.historyValue);
      }
    });
  }

  it('steps a restored snapshot exactly as it steps XState’s (every connection state)', () => {
    const chart = CHARTS.find((c) => c.id === 'connection')!;
    const machine = chart.machine as AnyStateMachine;
    const stepper = new Stepper(machine);
    const at = Date.UTC(2026, 10, 30, 12);
    const start = stepper.initial({
      connectionId: 'c-1',
      installationId: 'i-1',
      workspaceId: 'w-1',
      at,
    }).snapshot;
    const event = {
      type: 'HEARTBEAT',
      at: at + 1000,
      receivedAt: at + 1000,
      succeeded: 3,
      failed: 1,
      latencyMs: [10],
    };
    for (const value of values(machine)) {
      const persisted = { value, context: structuredClone(start.context) as never };
      const ours = stepper.step(stepper.restore(persisted), event);
      const theirs = stepper.step(machine.resolveState(persisted) as AnyMachineSnapshot, event);
      expect(fields(ours.snapshot), JSON.stringify(value)).toStrictEqual(fields(theirs.snapshot));
      expect(ours.actions).toStrictEqual(theirs.actions);
    }
  });
});
