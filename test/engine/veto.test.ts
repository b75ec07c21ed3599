/**
 * A chart refusing another actor's creation in the commit that would create it (VETO in
 * src/engine/types.ts), on two small charts: an `item` asks a `gate` for one of its places when
 * it is created, and the gate vetoes it when it is full. test/capacity and
 * test/deploy/capacity-burst.test.ts show the real use: load shedding at the critical ratio.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assign, emit, setup } from 'xstate';
import { ManualClock } from '../../src/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { VETO } from '../../src/engine/types.ts';
import { VetoedError } from '../../src/errors.ts';
import { createLogger } from '../../src/logger.ts';
import type { RedisClient } from '../../src/store/client.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { T0, realRedis, testPrefix } from '../helpers.ts';

const PLACES = 2;

const item = setup({
  types: { context: {} as { id: string }, input: {} as { id: string } },
}).createMachine({
  context: ({ input }) => ({ id: input.id }),
  initial: 'placed',
  entry: emit(({ context }) => ({
    type: 'CLAIM',
    to: { kind: 'gate', id: 'g' },
    item: context.id,
  })),
  states: {
    placed: {
      on: {
        // Asks the gate again while it exists: a veto of an actor that exists refuses nothing.
        NUDGE: {
          actions: [
            assign(({ context }) => ({ ...context })),
            emit(({ context }) => ({
              type: 'CLAIM',
              to: { kind: 'gate', id: 'g' },
              item: context.id,
            })),
          ],
        },
      },
    },
  },
});

const gate = setup({
  types: {
    context: {} as { taken: number },
    events: {} as { type: 'CLAIM'; item: string },
  },
  guards: { full: ({ context }) => context.taken >= PLACES },
}).createMachine({
  context: { taken: 0 },
  on: {
    CLAIM: [
      {
        guard: 'full',
        actions: emit(({ event, context }) => ({
          type: VETO,
          to: { kind: 'item', id: event.item },
          reason: 'gate-full',
          details: { taken: context.taken },
        })),
      },
      { actions: assign(({ context }) => ({ taken: context.taken + 1 })) },
    ],
  },
});

describe('a veto of a creation in its commit', () => {
  let redis: RedisClient;
  let store: RedisStore;
  let engine: Engine;
  const warnings: string[] = [];
  const ref = (kind: string, id: string) => ({ kind, installationId: 'inst-v', id });

  beforeEach(() => {
    warnings.length = 0;
    redis = realRedis();
    store = new RedisStore(redis, testPrefix('veto'));
    engine = new Engine({
      store,
      clock: new ManualClock(T0),
      logger: createLogger('warn', (line) => warnings.push(line)),
      charts: [
        { kind: 'item', machine: item, indexes: () => [] },
        { kind: 'gate', machine: gate, indexes: () => [], autoCreate: () => ({}) },
      ],
    });
  });
  afterEach(async () => {
    await engine.idle();
    await store.deleteAllOwnKeys();
    redis.disconnect();
  });

  it('refuses the creations the receiver vetoes, with the reason, and commits the others without them', async () => {
    const outcomes = await Promise.allSettled(
      ['a', 'b', 'c', 'd'].map((id) => engine.create(ref('item', id), { id })),
    );
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(PLACES);
    expect(refused).toHaveLength(2);
    for (const o of refused) {
      const error: unknown = o.reason;
      expect(error).toBeInstanceOf(VetoedError);
      expect((error as VetoedError).code).toBe('vetoed');
      expect((error as VetoedError).details).toEqual({
        vetoedBy: 'gate',
        reason: 'gate-full',
        taken: PLACES,
      });
    }
    expect((await engine.read(ref('gate', 'g')))?.state.context).toEqual({ taken: PLACES });
    const stored = await Promise.all(['a', 'b', 'c', 'd'].map((id) => store.load(ref('item', id))));
    expect(stored.filter((s) => s !== null)).toHaveLength(PLACES);
    expect(warnings).toEqual([]);
  });

  it('refuses nothing when the vetoed actor already exists, and logs it', async () => {
    await engine.create(ref('item', 'a'), { id: 'a' });
    await engine.create(ref('item', 'b'), { id: 'b' });
    const before = await engine.read(ref('item', 'a'));
    const nudged = await engine.send(ref('item', 'a'), { type: 'NUDGE' });
    expect(nudged.version).toBe(before!.version + 1);
    expect(warnings.some((w) => w.includes('a veto of an actor this chain does not create'))).toBe(
      true,
    );
    expect((await engine.read(ref('gate', 'g')))?.state.context).toEqual({ taken: PLACES });
  });
});
