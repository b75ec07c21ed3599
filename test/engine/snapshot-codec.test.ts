/**
 * Snapshot codecs (src/engine/snapshot-codec.ts): a compact snapshot reads back exactly what its
 * JSON would, a context that does not match its shape is stored as JSON, both forms are read, and
 * every snapshot the connection chart can reach is stored compact (so its shape lists every key).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ConnectionContext, connectionMachine } from '../../machines/connection.machine.ts';
import { MAX_DIAGNOSTICS } from '../../machines/shared/diagnostics.ts';
import { connectionSnapshots } from '../../src/connections/snapshot-shape.ts';
import {
  jsonSnapshots,
  memoizedJson,
  positionalCodec,
  type Shape,
} from '../../src/engine/snapshot-codec.ts';
import { type PersistedState, Stepper } from '../../src/engine/step.ts';
import { T0 } from '../helpers.ts';
import { MODELS } from '../model/models.ts';
import { connectionCommand, eventOf, newConnection } from '../property/connection-commands.ts';

const SHAPE: Shape = ['id', { key: 'w', fields: ['head', 'ok'] }, { key: 'd', each: ['at', 'to'] }];
const codec = positionalCodec(SHAPE);
const asJson = (s: PersistedState) => JSON.parse(JSON.stringify(s)) as PersistedState;

/** Values JSON keeps as they are (no undefined, no -0, no NaN). */
const leaf = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 4 }),
);
/** Records that match SHAPE, or miss a key, carry an extra one, or an undefined value. */
const maybe = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 12, arbitrary: arb }, fc.constant(undefined), leaf);
const record = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc
    .tuple(
      fc.record(Object.fromEntries(Object.entries(fields).map(([k, a]) => [k, maybe(a)])), {
        requiredKeys: [],
      }),
      fc.oneof(
        { weight: 6, arbitrary: fc.constant(null) },
        fc.tuple(fc.constantFrom('x', 'head', 'to'), leaf),
      ),
    )
    .map(([r, extra]) => (extra ? { ...r, [extra[0]]: extra[1] } : r));
const context = record({
  id: leaf,
  w: fc.oneof(record({ head: leaf, ok: leaf }), fc.constant(null)),
  d: fc.array(record({ at: leaf, to: leaf }), { maxLength: 3 }),
});
const state = fc.record({
  value: fc.oneof(fc.string({ maxLength: 8 }), fc.record({ acp: fc.constantFrom('idle', 'a') })),
  context,
}) as fc.Arbitrary<PersistedState>;

describe('positionalCodec', () => {
  it('reads back what the JSON of the state would read back, compact or not (fast-check)', () => {
    const seen = { compact: 0, json: 0 };
    fc.assert(
      fc.property(state, (s) => {
        const text = codec.encode(s);
        seen[text.startsWith('[') ? 'compact' : 'json']++;
        expect(codec.decode(text)).toStrictEqual(asJson(s));
      }),
      { numRuns: 2000 },
    );
    // Both forms were exercised, not just one.
    expect(seen.compact).toBeGreaterThan(200);
    expect(seen.json).toBeGreaterThan(200);
  });

  it('writes exactly the JSON of the packed values when lists are kept or grown by identity (fast-check)', () => {
    /** The packed values as first written: the array `JSON.stringify` turned into the text. */
    const reference = (s: PersistedState): string => {
      const pack = (r: unknown, shape: Shape): unknown[] | null => {
        if (typeof r !== 'object' || r === null || Array.isArray(r)) return null;
        if (Object.keys(r).length !== shape.length) return null;
        const out: unknown[] = [];
        for (const f of shape) {
          const v = (r as Record<string, unknown>)[typeof f === 'string' ? f : f.key];
          if (v === undefined) return null;
          if (typeof f === 'string' || v === null) out.push(v);
          else if ('fields' in f) out.push(pack(v, f.fields) ?? undefined);
          else
            out.push(
              Array.isArray(v) ? v.map((item) => pack(item, f.each) ?? undefined) : undefined,
            );
          if (
            out.at(-1) === undefined ||
            (Array.isArray(out.at(-1)) && (out.at(-1) as unknown[]).includes(undefined))
          )
            return null;
        }
        return out;
      };
      const packed = pack(s.context, SHAPE);
      return packed ? JSON.stringify([s.value, ...packed]) : JSON.stringify(s);
    };
    // Mostly items of the shape; now and then one that is not (the state falls back to JSON).
    const item = fc.oneof(
      { weight: 19, arbitrary: fc.record({ at: leaf, to: leaf }) },
      record({ at: leaf, to: leaf }),
    );
    fc.assert(
      fc.property(
        state,
        // Long enough for lists past REMEMBERED_LIST_MIN (8), whose text is remembered.
        fc.array(
          fc.oneof(
            item.map((i) => ({ add: i })),
            fc.constant({ keep: true }),
          ),
          { maxLength: 24 },
        ),
        (first, steps) => {
          const codec = positionalCodec(SHAPE); // its own memory for each run
          let s = first;
          expect(codec.encode(s)).toBe(reference(s));
          for (const step of steps) {
            const d = (s.context as { d?: unknown }).d;
            const list = Array.isArray(d) ? d : [];
            // A step keeps the list as it is, or replaces it by a copy with one more item.
            const next = 'add' in step ? [...list, step.add] : list;
            s = { value: s.value, context: { ...s.context, d: next } };
            expect(codec.encode(s)).toBe(reference(s));
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('stores a matching context as an array of its values, nested records and lists too', () => {
    const s = {
      value: 'a',
      context: { id: 'c1', w: { head: 3, ok: [1, 2] }, d: [{ at: 5, to: 'b' }] },
    };
    expect(codec.encode(s)).toBe('["a","c1",[3,[1,2]],[[5,"b"]]]');
    expect(codec.decode('["a","c1",[3,[1,2]],[[5,"b"]]]')).toStrictEqual(s);
    expect(codec.encode({ value: 'a', context: { id: 'c1', w: null, d: [] } })).toBe(
      '["a","c1",null,[]]',
    );
  });

  it('stores JSON when the context does not match: a key missing, extra or undefined', () => {
    const missing = { value: 'a', context: { id: 'c1', w: null } };
    const extra = { value: 'a', context: { id: 'c1', w: null, d: [], more: 1 } };
    const undef = { value: 'a', context: { id: undefined, w: null, d: [] } };
    const nested = { value: 'a', context: { id: 'c1', w: { head: 1 }, d: [] } };
    const notRecords = [5, 'ab', [1, 2], undefined].map((w) => ({
      value: 'a',
      context: { id: 'c1', w, d: [] },
    }));
    const notList = { value: 'a', context: { id: 'c1', w: null, d: { at: 1, to: 'b' } } };
    for (const s of [missing, extra, undef, nested, ...notRecords, notList]) {
      expect(codec.encode(s)).toBe(JSON.stringify(s));
      expect(codec.decode(codec.encode(s))).toStrictEqual(asJson(s));
    }
  });

  it('reads a snapshot of an older, shorter shape without the later keys, and refuses a longer one', () => {
    expect(codec.decode('["a","c1"]')).toStrictEqual({ value: 'a', context: { id: 'c1' } });
    expect(() => codec.decode('["a","c1",null,[],"new"]')).toThrow(
      /4 values for a shape of 3: written by a newer version/,
    );
    expect(() => codec.decode('["a","c1",5,[]]')).toThrow(/a record is not an array/);
  });

  it('jsonSnapshots is JSON both ways', () => {
    const s = { value: { acp: 'idle' }, context: { a: [1] } };
    expect(jsonSnapshots.encode(s)).toBe(JSON.stringify(s));
    expect(jsonSnapshots.decode(JSON.stringify(s))).toStrictEqual(s);
  });
});

describe('the connection chart stored compact', () => {
  it('every snapshot it reaches is stored as an array and reads back exactly (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(connectionCommand, { maxLength: 40 }), (commands) => {
        const stepper = new Stepper(connectionMachine);
        let snapshot = newConnection(stepper);
        const check = () => {
          const persisted = stepper.persist(snapshot);
          const text = connectionSnapshots.encode(persisted);
          expect(text.startsWith('[')).toBe(true);
          expect(connectionSnapshots.decode(text)).toStrictEqual(asJson(persisted));
        };
        check();
        for (const c of commands) {
          const event = eventOf(c);
          try {
            snapshot = stepper.step(snapshot, event).snapshot;
          } catch {
            continue; // an event the state does not accept
          }
          check();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never modifies a context value in place, as the codec that remembers its lists needs (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(connectionCommand, { maxLength: 40 }), (commands) => {
        const stepper = new Stepper(connectionMachine);
        let snapshot = newConnection(stepper);
        for (const c of commands) {
          deepFreeze(snapshot.context);
          try {
            snapshot = stepper.step(snapshot, eventOf(c)).snapshot;
          } catch (error) {
            // A write into the frozen context throws a TypeError; a refused event is no error.
            expect(error).not.toBeInstanceOf(TypeError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('is about half the JSON after a handshake, and a diagnostics entry ~40 % of its JSON', () => {
    const stepper = new Stepper(connectionMachine);
    let snapshot = stepper.initial({
      connectionId: 'conn-7f3a9c2e',
      installationId: 'inst-acme',
      workspaceId: 'ws-frontend',
      at: T0,
    }).snapshot;
    const handshake = {
      type: 'HANDSHAKE',
      at: T0,
      protocolVersion: '1.2.0',
      negotiatedCapabilities: ['fs', 'terminal'],
    };
    snapshot = stepper.step(snapshot, handshake).snapshot;
    const persisted = stepper.persist(snapshot);
    const json = JSON.stringify(persisted).length;
    const compact = connectionSnapshots.encode(persisted).length;
    expect(compact).toBeLessThan(json * 0.55);

    // Drop, back off and recover until the diagnostics are full.
    const cycle = ['DROPPED', 'xstate.after.reconnectBackoff.connection.error', 'RECOVERED'];
    for (let i = 0; i < 1000; i++) {
      const event = { type: cycle[i % 3]!, at: T0 + i };
      snapshot = stepper.step(snapshot, event).snapshot;
    }
    expect((snapshot.context as ConnectionContext).diagnostics).toHaveLength(MAX_DIAGNOSTICS);
    const full = stepper.persist(snapshot);
    const entries = (full.context as unknown as ConnectionContext).diagnostics;
    const entryJson = JSON.stringify(entries).length / entries.length;
    const compactFull = connectionSnapshots.encode(full).length;
    const entryCompact = (compactFull - compact) / entries.length;
    expect(entryCompact).toBeLessThan(entryJson * 0.6);

    // Full diagnostics are written from their remembered text: the same text, step after step.
    for (let i = 0; i < 20; i++) {
      const event = { type: cycle[i % 3]!, at: T0 + 1000 + i };
      snapshot = stepper.step(snapshot, event).snapshot;
      const persisted = stepper.persist(snapshot);
      const text = connectionSnapshots.encode(persisted);
      expect(connectionSnapshots.encode(persisted)).toBe(text);
      expect(connectionSnapshots.decode(text)).toStrictEqual(asJson(persisted));
    }
  });
});

describe('memoizedJson', () => {
  const memo = memoizedJson({ whole: ['m', 'p'], each: ['w'] });
  const value = fc.oneof(leaf, fc.constant(undefined), fc.dictionary(fc.string(), leaf));
  /** A list field: items kept from the previous list (by identity), replaced, or appended. */
  const items = fc.array(
    fc.oneof(fc.constant('keep'), leaf, fc.constant(undefined), fc.tuple(fc.integer(), leaf)),
    { maxLength: 6 },
  );

  it('writes exactly JSON.stringify of the state, as fields are replaced step after step (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.record({ value: fc.oneof(fc.string(), fc.dictionary(fc.string(), fc.string())) }),
        fc.array(
          fc.oneof(
            fc.tuple(fc.constantFrom('m', 'p', 'x', 'w', 'constructor'), value),
            fc.tuple(fc.constant('list'), items),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        ({ value: v }, steps) => {
          let context: Record<string, unknown> = { m: { a: 1 }, p: null, w: [[1, 2]], x: 'x' };
          for (const [key, next] of steps) {
            // A new context each step, as an assign builds it; unchanged fields keep their value.
            if (key === 'list') {
              const before = Array.isArray(context.w) ? (context.w as unknown[]) : [];
              const list = next as unknown[];
              context = {
                ...context,
                w: list.map((item, i) => (item === 'keep' && i < before.length ? before[i] : item)),
              };
            } else {
              context = { ...context, [key]: next };
            }
            const state = { value: v, context } as PersistedState;
            expect(memo.encode(state)).toBe(JSON.stringify(state));
            expect(memo.decode(memo.encode(state))).toEqual(asJson(state));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('writes a kept value from memory and a replaced one anew (hence: never modify in place)', () => {
    const codec = memoizedJson({ whole: ['members'], each: ['window'] });
    const members: Record<string, string> = { c1: 'connected' };
    const window = [[1, 2]];
    const a = { value: 'acp', context: { members, window } };
    expect(codec.encode(a)).toBe(JSON.stringify(a));
    // Modified in place, the same objects keep the text they had: what the chart must not do.
    members.c2 = 'degraded';
    window[0]![1] = 3;
    expect(codec.encode(a)).toBe(
      '{"value":"acp","context":{"members":{"c1":"connected"},"window":[[1,2]]}}',
    );
    // Replaced, as an assign does, they are written anew.
    const b = {
      value: 'acp',
      context: {
        members: { ...members },
        window: [
          [1, 3],
          [2, 0],
        ],
      },
    };
    expect(codec.encode(b)).toBe(JSON.stringify(b));
  });

  /**
   * The codec's premise: the workspace chart never modifies a context value in place. Its
   * context is deeply frozen before every step, so a write anywhere in it throws (modules are
   * strict code), over random event sequences of the chart's model-based tests.
   */
  for (const [i, model] of MODELS.workspace!.entries()) {
    it(`the workspace chart builds new context values, never modifies them (model ${i + 1})`, () => {
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...model.events), { maxLength: 40 }), (events) => {
          const stepper = new Stepper(model.machine);
          let snapshot = stepper.initial(model.input).snapshot;
          for (const event of events) {
            deepFreeze(snapshot.context);
            snapshot = stepper.step(snapshot, event).snapshot;
          }
          expect(snapshot.status).not.toBe('error');
        }),
        { numRuns: 200 },
      );
    });
  }
});

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}
