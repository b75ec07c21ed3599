import type { RedisClient as Redis } from '../../src/store/client.ts';
import { assign, setup } from 'xstate';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONNECTION_THRESHOLDS as D } from '../../machines/connection.machine.ts';
import { ManualClock } from '../../src/clock.ts';
import {
  CONNECTION,
  ConnectionService,
  connectionBinding,
} from '../../src/connections/connections.ts';
import { Engine } from '../../src/engine/engine.ts';
import { Stepper } from '../../src/engine/step.ts';
import { silentLogger } from '../../src/logger.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { EFFECT_QUEUE, timerMember } from '../../src/store/keys.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { T0, realRedis, testPrefix } from '../helpers.ts';

describe('Stepper', () => {
  it('never hands the actions of a step that threw to the next step', () => {
    const machine = setup({
      actions: {
        leak: () => {},
        boom: assign(() => {
          throw new Error('broken action');
        }),
      },
    }).createMachine({
      initial: 'a',
      states: { a: { on: { GO: { actions: ['leak', 'boom'] }, NOPE: {} } } },
    });
    const stepper = new Stepper(machine);
    const { snapshot } = stepper.initial(undefined);
    expect(() => stepper.step(snapshot, { type: 'GO' })).toThrow();
    expect(stepper.step(snapshot, { type: 'NOPE' }).actions).toEqual([]);
  });
});

describe('Engine timers under adverse conditions', () => {
  let redis: Redis;
  let store: RedisStore;
  let clock: ManualClock;
  let engine: Engine;
  let connections: ConnectionService;
  const operator = { installations: null };

  beforeEach(() => {
    redis = realRedis();
    store = new RedisStore(redis, testPrefix('robust'));
    clock = new ManualClock(T0);
    engine = new Engine({ store, clock, logger: silentLogger, charts: [connectionBinding(D)] });
    connections = new ConnectionService(engine, clock, D);
  });
  afterEach(async () => {
    await store.deleteAllOwnKeys();
    redis.disconnect();
  });

  it('moves a timer that cannot be applied aside instead of retrying it on every poll', async () => {
    await store.registerInstallation('inst-a');
    const member = timerMember(
      CONNECTION,
      'ghost',
      'xstate.after.heartbeatTimeout.connection.connected',
    );
    await redis.zadd(store.keys.timers('inst-a'), T0, member);
    expect(await engine.fireDueTimers()).toBe(0);
    expect(await redis.zscore(store.keys.timers('inst-a'), member)).toBeNull();
    const dead = JSON.parse((await redis.hget(store.keys.deadTimers('inst-a'), member))!);
    expect(dead).toMatchObject({ due: T0 });
    expect(dead.reason).toContain('not found');
    expect(await engine.fireDueTimers()).toBe(0);
  });

  it('does not fire a due timer that a heartbeat earlier in the same batch rescheduled', async () => {
    await connections.register(operator, {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'w',
    });
    await connections.command(operator, 'c1', {
      type: 'HANDSHAKE',
      protocolVersion: '1.0.0',
      negotiatedCapabilities: [],
    });
    clock.advance(D.heartbeatTimeoutMs + 1);
    const hb = () =>
      connections.heartbeat(operator, 'c1', {
        timestamp: clock.now(),
        succeeded: 1,
        failed: 0,
        latencyMs: [],
      });
    // Answer the poller's reads without a round trip, so the due timer is queued while the first
    // heartbeat's commit is in flight: the second heartbeat and the timer are applied together.
    const due = await store.dueTimers('inst-a', clock.now(), 10);
    expect(due).toHaveLength(1);
    store.installations = () => Promise.resolve(['inst-a']);
    store.dueTimers = () => Promise.resolve(due);
    // A cache miss keeps the actor busy loading: the heartbeat and the timer queue behind it.
    engine.clearCache();
    const rejected = connections
      .command(operator, 'c1', { type: 'RECOVERED' })
      .catch((e: unknown) => e);
    const beat = hb();
    const fired = engine.fireDueTimers();
    expect(await rejected).toMatchObject({ code: 'invalid-transition' });
    await beat;
    expect(await fired).toBe(0);
    expect((await connections.get(operator, 'c1')).status).toBe('connected');
    const timers = await store.timersOf({ kind: CONNECTION, installationId: 'inst-a', id: 'c1' });
    expect(timers).toEqual([
      {
        sendId: 'xstate.after.heartbeatTimeout.connection.connected',
        due: clock.now() + D.heartbeatTimeoutMs,
      },
    ]);
  });

  it('moves an effect that keeps failing to the dead letters after its attempts', async () => {
    const failing = new Engine({
      store,
      clock,
      logger: silentLogger,
      charts: [connectionBinding(D)],
      outboxLeaseMs: 1000,
      maxEffectAttempts: 2,
      effectRetryBaseDelayMs: 1000,
      effects: {
        requestReconnect: () => {
          throw new Error('transport down');
        },
      },
    });
    const svc = new ConnectionService(failing, clock, D);
    await svc.register(operator, {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'w',
    });
    await svc.command(operator, 'c1', { type: 'DROPPED' });
    clock.advance(D.reconnectBaseDelayMs);
    await failing.fireDueTimers();
    await failing.idle();
    // Attempt 1 ran after the commit; attempt 2 is due after the base delay (1 s), and fails too.
    const effects = new JobQueue(redis, store.keys.prefix, EFFECT_QUEUE);
    clock.advance(999);
    expect(await failing.reapOutbox()).toBe(0);
    expect(await effects.size('inst-a')).toBe(1);
    clock.advance(1);
    expect(await failing.reapOutbox()).toBe(0);
    expect(await effects.size('inst-a')).toBe(0);
    const { items } = await effects.dead('inst-a', { limit: 10 });
    expect(items).toEqual([
      expect.objectContaining({ attempts: 2, lastError: 'transport down', deadAt: clock.now() }),
    ]);
    expect(JSON.parse(items[0]!.data!)).toMatchObject({ type: 'requestReconnect', actorId: 'c1' });
    clock.advance(60_000);
    expect(await failing.reapOutbox()).toBe(0);
  });
});
