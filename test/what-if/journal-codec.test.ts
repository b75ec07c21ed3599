/**
 * The what-if journal's compact reports (src/workspaces/journal-codec.ts): what is kept, what is
 * dropped, and the chart property that makes dropping an undecided report's eventId exact.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventObject } from 'xstate';
import type { ConnectionReport } from '../../machines/shared/workspace-types.ts';
import { Stepper } from '../../src/engine/step.ts';
import {
  decodeJournalEntry,
  decodeJournalEvent,
  encodeJournalEvent,
} from '../../src/workspaces/journal-codec.ts';
import { MODELS } from '../model/models.ts';

const report = (ops: ConnectionReport['ops']): ConnectionReport => ({
  type: 'CONNECTION_REPORT',
  connectionId: 'conn-7',
  status: 'connected',
  ops,
  eventId: '0b7e1b4e-7d1c-4a55-9a43-5f3b8f0d9a21',
  spareId: 'd073d100-071f-4ba6-98b4-ff692d7d412b',
  at: 1_796_048_160_153,
});
const HEARTBEAT = report({ at: 1_796_048_160_000, succeeded: 120, failed: 3, latencyP95: 35 });

describe('the journal codec', () => {
  it.each([
    ['a heartbeat report', HEARTBEAT],
    ['a status report', report(null)],
    ['a report without a latency', report({ ...HEARTBEAT.ops!, latencyP95: null })],
  ])(
    'keeps %s that decided nothing compact and gives it back whole but for its eventId',
    (_, r) => {
      const text = encodeJournalEvent(r, false);
      expect(Array.isArray(JSON.parse(text))).toBe(true);
      expect(text.length).toBeLessThan(JSON.stringify(r).length / 2);
      expect(decodeJournalEvent(JSON.parse(text), 'journal-9-4')).toEqual({
        ...r,
        eventId: 'journal-9-4',
      });
    },
  );

  it('keeps a report that decided something whole, with its eventId', () => {
    const text = encodeJournalEvent(HEARTBEAT, true);
    expect(JSON.parse(text)).toEqual(HEARTBEAT);
    expect(decodeJournalEvent(JSON.parse(text), 'unused')).toEqual(HEARTBEAT);
  });

  it.each([
    ['another event type', { type: 'POLICY', at: 1, eventId: 'e', spareId: 's' }],
    ['a report with a key the codec does not know', { ...HEARTBEAT, extra: 1 }],
    ['a report whose spareId is not a UUID', { ...HEARTBEAT, spareId: 'spare-1' }],
    ['a report with a fractional time', { ...HEARTBEAT, at: 1.5 }],
  ])('keeps %s whole', (_, event) => {
    expect(JSON.parse(encodeJournalEvent(event, false))).toEqual(event);
  });

  it('writes exactly what JSON.stringify of the compact array wrote (its definition)', () => {
    /** The encoder as first written: the entry's format, which stored journals hold. */
    const reference = (r: ConnectionReport): string => {
      const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
      if (typeof r.spareId !== 'string' || !uuid.test(r.spareId) || !Number.isSafeInteger(r.at))
        return JSON.stringify(r);
      const spare = Buffer.from(r.spareId.replaceAll('-', ''), 'hex').toString('base64url');
      const head = ['R', r.connectionId, r.status, r.at, spare];
      if (r.ops === null) return JSON.stringify(head);
      if (!Number.isSafeInteger(r.ops.at)) return JSON.stringify(r);
      const { succeeded, failed, latencyP95 } = r.ops;
      return JSON.stringify([...head, r.at - r.ops.at, succeeded, failed, latencyP95]);
    };
    const hex = fc.constantFrom(...'0123456789abcdefABCDEF-g');
    const spareId = fc.oneof(
      fc.uuid(),
      fc.uuid().map((u) => u.toUpperCase()),
      fc.string({ unit: hex, minLength: 35, maxLength: 37 }),
      fc.anything(),
    );
    const number = fc.oneof(fc.integer(), fc.double(), fc.constant(-0), fc.constant(null));
    const ops = fc.record({
      at: fc.oneof(fc.integer(), fc.double()),
      succeeded: number,
      failed: number,
      latencyP95: number,
    });
    fc.assert(
      fc.property(
        fc.record({
          connectionId: fc.oneof(fc.string(), fc.anything()),
          status: fc.oneof(fc.constantFrom('connected', 'degraded'), fc.string()),
          ops: fc.oneof(fc.constant(null), ops),
          eventId: fc.uuid(),
          spareId,
          at: fc.oneof(fc.integer({ min: 0 }), fc.double()),
        }),
        (fields) => {
          const r = { type: 'CONNECTION_REPORT', ...fields } as ConnectionReport;
          expect(encodeJournalEvent(r, false)).toBe(reference(r));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses an array it does not know rather than replaying a wrong event', () => {
    expect(() => decodeJournalEvent(['X', 1], 'id')).toThrow(/unknown journal entry/);
  });

  it('reads an entry with the version first, and the wrapped form earlier journals hold, alike', () => {
    const compact = encodeJournalEvent(HEARTBEAT, false);
    const whole = encodeJournalEvent(HEARTBEAT, true);
    const expected = { v: 12, event: { ...HEARTBEAT, eventId: 'journal-12-3' } };
    // As the commit script writes them now (commit-5.lua, op J).
    expect(decodeJournalEntry(`[12,${compact.slice(1)}`, 3)).toEqual(expected);
    expect(decodeJournalEntry(`{"v":12,"event":${whole}}`, 3)).toEqual({ v: 12, event: HEARTBEAT });
    // As it wrote a compact report before.
    expect(decodeJournalEntry(`{"v":12,"event":${compact}}`, 3)).toEqual(expected);
    expect(decodeJournalEntry('{"v":11,"checkpoint":{"value":"a","context":{}}}', 0)).toEqual({
      v: 11,
      checkpoint: { value: 'a', context: {} },
    });
  });
});

/**
 * Why the eventId may be dropped: in any state the workspace chart reaches, a step that asks for
 * no action and keeps the state value leaves the same snapshot whatever the event's eventId is.
 */
describe("the workspace chart never keeps an undecided event's eventId", () => {
  for (const [i, model] of MODELS.workspace!.entries()) {
    it(`over random event sequences (model ${i + 1})`, () => {
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...model.events), { maxLength: 40 }), (events) => {
          const stepper = new Stepper(model.machine);
          let snapshot = stepper.initial(model.input).snapshot;
          for (const event of events) {
            const r = stepper.step(snapshot, event);
            if ('eventId' in event && r.actions.length === 0) {
              const other = stepper.step(snapshot, {
                ...event,
                eventId: 'another-id',
              } as EventObject);
              if (JSON.stringify(r.snapshot.value) === JSON.stringify(snapshot.value)) {
                expect(stepper.persist(other.snapshot)).toEqual(stepper.persist(r.snapshot));
              }
            }
            snapshot = r.snapshot;
          }
        }),
        { numRuns: 200 },
      );
    });
  }
});
