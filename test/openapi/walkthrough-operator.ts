/**
 * The third part of the walkthrough (./walkthrough.ts): the Stately Inspector (its bridge page,
 * the WebSocket's upgrade and each refusal of it) and the operator's dead letters, made by the
 * engine's own timer poller and outbox reaper.
 */
import { once } from 'node:events';
import { expect } from 'vitest';
import { EFFECT_QUEUE } from '../../src/store/keys.ts';
import { TOKEN_A, TOKEN_B, type TestService } from '../helpers.ts';
import type { RecordingClient } from './client.ts';
import { INSTALLATION, ok } from './walkthrough-steps.ts';

const INSPECT = '/v1/inspect';
const DEAD = `${INSTALLATION}/dead-letters`;

export async function walkOperator(c: RecordingClient, s: TestService): Promise<void> {
  await walkInspector(c, s.config.streams.perToken);
  await walkDeadLetters(c, s);
}

/** `socketsPerToken`: STREAMS_PER_TOKEN, the inspector sockets one token may hold. */
async function walkInspector(c: RecordingClient, socketsPerToken: number): Promise<void> {
  const page = ok(await c.send('GET', '/inspect', { token: null }), 200) as string;
  expect(page).toContain('<html');

  // A plain GET is told to upgrade.
  const plain = await c.send('GET', INSPECT);
  ok(plain, 426);
  expect(plain.headers.upgrade).toBe('websocket');

  // Upgraded: the followed actor's history arrives as @statelyai/inspect frames.
  const opened = await c.upgrade(INSPECT, { query: { actor: 'connection:c1' } });
  ok(opened.exchange, 101);
  const [data] = (await once(opened.ws!, 'message')) as [Buffer];
  expect(JSON.parse(data.toString('utf8'))).toMatchObject({
    type: expect.stringMatching(/^@xstate\./),
    sessionId: 'connection:c1',
  });

  // Refusals, each before the upgrade and in the API error shape.
  ok((await c.upgrade(INSPECT, { query: { actor: 'robot:c1' } })).exchange, 400);
  ok(
    (
      await c.upgrade(INSPECT, {
        query: { access_token: 'not-a-valid-token-at-all' },
        token: null,
      })
    ).exchange,
    401,
  );
  ok(
    (await c.upgrade(INSPECT, { query: { actor: 'connection:c1' }, token: TOKEN_B })).exchange,
    404,
  );
  ok(await c.upgradeWith('POST', INSPECT), 405);
  for (let i = 0; i < socketsPerToken; i++) {
    ok((await c.upgrade(INSPECT, { token: TOKEN_A })).exchange, 101);
  }
  const beyond = (await c.upgrade(INSPECT, { token: TOKEN_A })).exchange;
  ok(beyond, 429);
  expect((beyond.body as any).error.code).toBe('too-many-streams');
}

async function walkDeadLetters(c: RecordingClient, s: TestService): Promise<void> {
  const a = { installationId: 'inst-a' };
  const keys = s.store.keys;
  const now = s.clock.now();
  // A timer of an actor that does not exist: the poller cannot apply it and moves it aside.
  const timer = 'workspace:ws-gone|xstate.after.cooldownDelay.workspace.http.cooldown';
  await s.redis.zadd(keys.timers('inst-a'), now - 1000, timer);
  await s.engine.fireDueTimers();
  // An effect whose attempts are used up (its last one was interrupted): the reaper moves it to
  // the dead letters.
  const effect = 'eff-walkthrough-1';
  const data = { id: effect, type: 'notifyUsers', actorId: 'ws-1', params: { kind: 'rollback' } };
  const outbox = keys.jobQueue('inst-a', EFFECT_QUEUE);
  await s.redis.zadd(outbox.due, now - 1000, effect);
  await s.redis.hset(outbox.data, effect, JSON.stringify(data));
  await s.redis.hset(outbox.state, `a:${effect}`, Number.MAX_SAFE_INTEGER - 1);
  await s.engine.reapOutbox();

  const listed = ok(await c.send('GET', DEAD, { params: a }), 200);
  expect(listed.timers).toEqual([
    expect.objectContaining({
      id: timer,
      actorId: 'workspace:ws-gone',
      reason: expect.any(String),
    }),
  ]);
  expect(listed.effects).toEqual([expect.objectContaining({ id: effect, effect: data })]);
  ok(await c.send('GET', DEAD, { params: a, token: TOKEN_A }), 403);

  const act = `${DEAD}/:kind/:action`;
  const retry = ok(
    await c.send('POST', act, {
      params: { ...a, kind: 'timers', action: 'retry' },
      body: { id: timer },
    }),
    200,
  );
  expect(retry).toEqual({
    installationId: 'inst-a',
    kind: 'timers',
    id: timer,
    action: 'retry',
    done: true,
  });
  ok(
    await c.send('POST', act, {
      params: { ...a, kind: 'effects', action: 'discard' },
      body: { id: effect },
    }),
    200,
  );
  ok(
    await c.send('POST', act, {
      params: { ...a, kind: 'notifications', action: 'retry' },
      body: { id: 'd-nope' },
    }),
    404,
  );
  ok(
    await c.send('POST', act, {
      params: { ...a, kind: 'letters', action: 'retry' },
      body: { id: effect },
    }),
    400,
  );
  ok(
    await c.send('POST', act, {
      params: { ...a, kind: 'effects', action: 'discard' },
      body: { id: effect },
      token: TOKEN_A,
    }),
    403,
  );
  const after = ok(await c.send('GET', DEAD, { params: a }), 200);
  expect(after).toEqual({ installationId: 'inst-a', timers: [], effects: [] });
}
