/**
 * Resuming live streams (issue 11, part 5) against the real service on real Redis: every event
 * carries the id of its entry in the installation's replay stream, and a client that reconnects
 * with `Last-Event-ID` (or `?lastEventId=`) to ANOTHER process on the same keys gets the events
 * it missed, then the live ones, without duplicates or gaps; an id older than what is retained
 * gets `event: reset`. Transitions are sent in kebab-case with the committed version.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { inspectModule } from '../../src/inspect/module.ts';
import { notificationsModule } from '../../src/notifications/module.ts';
import type { NotificationService } from '../../src/notifications/service.ts';
import { SERVICES } from '../../src/notifications/types.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { start } from '../../src/main.ts';
import { compareStreamIds, nextStreamId } from '../../src/http/live-events.ts';
import { OPERATOR, type TestService, startService } from '../helpers.ts';
import { expectError, openStream, refusedStream, request } from '../notifications/support.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const MODULES = [notificationsModule, inspectModule];

async function service(env: Record<string, string> = {}): Promise<TestService> {
  const svc = await startService(env, undefined, MODULES);
  cleanup.push(() => svc.close());
  return svc;
}

async function stream(svc: TestService, path: string, headers: Record<string, string> = {}) {
  const s = await openStream(svc, path, undefined, headers);
  cleanup.push(() => s.close());
  return s;
}

const notifier = (svc: TestService) =>
  svc.modules.services.get(SERVICES.notifications) as NotificationService;

async function ok(svc: TestService, method: string, path: string, body?: unknown) {
  const res = await svc.api(method, path, body);
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body;
}

/** The replay stream's entry ids, oldest first, read straight from Redis. */
async function retained(svc: TestService, kind: 'toasts' | 'transitions', installationId: string) {
  const entries = await svc.redis.xrange(
    `${svc.prefix}:{${installationId}}:live:${kind}`,
    '-',
    '+',
  );
  return entries.map(([id]) => id);
}

const INSTALLATION = '/v1/installations/inst-a/transitions/stream';
const ACTOR = '/v1/actors/connection:c1/transitions/stream';

describe('transition streams resume from Last-Event-ID', () => {
  it('replays what a client missed on another process, then continues live: no duplicate, no gap', async () => {
    const first = await service();
    const second = await service({ KEY_PREFIX: first.prefix });
    // Watches every transition of the installation the whole time: the signal that an event exists.
    const witness = await stream(first, INSTALLATION);

    await ok(first, 'POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    const client = await stream(first, ACTOR);
    await ok(first, 'POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.0.0',
      negotiatedCapabilities: [],
    });
    // The registration's own event is published right after its commit and may reach this
    // stream, opened after the registration's answer: wait for the handshake's event itself.
    const seen = await client.waitUntil((e) => e.data.to === 'connected');
    expect(seen.data).toMatchObject({ from: 'connecting', to: 'connected', version: 2 });
    await client.close();

    // While the client is away, through the second process.
    await ok(second, 'POST', '/v1/connections/c1/dropped', { reason: 'test' });
    const missed = await witness.waitUntil(
      (e) => e.data.actorId === 'connection:c1' && e.data.to === 'error',
    );

    const resumed = await stream(second, ACTOR, { 'last-event-id': seen.id! });
    const [replayed] = await resumed.waitFor(1);
    expect(replayed).toMatchObject({
      event: 'transition',
      id: missed.id,
      data: { from: 'connected', to: 'error', version: missed.data.version },
    });

    // Live after the replay, made through the other process.
    await ok(first, 'POST', '/v1/connections/c1/rollback', { reason: 'test' });
    const [, live] = await resumed.waitFor(2);
    const inspected = await ok(first, 'GET', '/v1/actors/connection:c1/inspect');
    expect(live!.data).toMatchObject({ from: 'error', to: 'rolled-back' });
    expect(live!.data.version).toBe(inspected.version);
    await witness.waitUntil((e) => e.id === live!.id);

    // The client saw every event of c1 after the first exactly once, in stream order.
    const ofActor = witness.events.filter((e) => e.data.actorId === 'connection:c1');
    const got = [seen, ...resumed.events].map((e) => e.id);
    expect(got).toEqual(ofActor.map((e) => e.id).slice(1));
    const all = await retained(first, 'transitions', 'inst-a');
    expect(got.every((id) => all.includes(id!))).toBe(true);
    // Versions are the real committed versions: strictly increasing, never null.
    const versions = [seen, ...resumed.events].map((e) => e.data.version);
    expect(versions).toEqual([2, 3, 4]);
  });

  it('sends enums in kebab-case and the committed version (never null)', async () => {
    const svc = await service();
    const s = await stream(svc, INSTALLATION);
    await ok(svc, 'POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    await ok(svc, 'POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.0.0',
      negotiatedCapabilities: [],
    });
    await ok(svc, 'POST', '/v1/connections/c1/rollback', { reason: 'test' });
    // Other actors (the workspace, the capacity actor) transition in the same commits: wait for
    // c1's rollback itself rather than for a number of events.
    const rolledBack = await s.waitUntil(
      (e) => e.data.actorId === 'connection:c1' && e.data.from === 'connected',
    );
    const events = s.events;
    expect(rolledBack.data).toMatchObject({ to: 'rolled-back', kind: 'connection' });
    const inspected = await ok(svc, 'GET', '/v1/actors/connection:c1/inspect');
    expect(rolledBack.data.version).toBe(inspected.version);
    for (const e of events) {
      expect(e.id).toMatch(/^\d+-\d+$/);
      expect(JSON.stringify([e.data.from, e.data.to])).not.toMatch(/[A-Z]/);
      expect(e.data.version).toBeTypeOf('number');
    }
  });

  it('sends event: reset, then every retained event, when the id is older than what is kept', async () => {
    const svc = await service({ STREAM_REPLAY_EVENTS: '2' });
    const witness = await stream(svc, '/v1/installations/inst-a/toasts/stream');
    const sent = [request(), request(), request(), request()];
    for (const n of sent) await notifier(svc).notify(n);
    await witness.waitFor(4);
    const ids = witness.events.map((e) => e.id!);
    expect(await retained(svc, 'toasts', 'inst-a')).toEqual(ids.slice(2));

    // The second toast was trimmed: a client that saw only the first missed it.
    const old = await stream(svc, `/v1/installations/inst-a/toasts/stream?lastEventId=${ids[0]}`);
    await old.waitFor(3);
    expect(old.events[0]).toMatchObject({
      event: 'reset',
      id: ids[1],
      data: { reason: 'too-old', lastEventId: ids[0] },
    });
    expect(old.events[0]!.data.message).toContain('no longer retained');
    expect(old.events.slice(1).map((e) => e.data.id)).toEqual([sent[2]!.id, sent[3]!.id]);

    // Reconnecting with the reset's id resumes without another reset.
    const again = await stream(svc, '/v1/installations/inst-a/toasts/stream', {
      'last-event-id': old.events[0]!.id!,
    });
    await again.waitFor(2);
    expect(again.events.map((e) => e.event)).toEqual(['toast', 'toast']);

    // The client that saw the second toast missed nothing: no reset.
    const exact = await stream(svc, '/v1/installations/inst-a/toasts/stream', {
      'last-event-id': ids[1]!,
    });
    await exact.waitFor(2);
    expect(exact.events.map((e) => e.data.id)).toEqual([sent[2]!.id, sent[3]!.id]);

    // An id this stream never gave.
    const future = await stream(svc, '/v1/installations/inst-a/toasts/stream', {
      'last-event-id': '99999999999999-0',
    });
    await future.waitFor(3);
    expect(future.events[0]).toMatchObject({ event: 'reset', data: { reason: 'unknown-id' } });
  });

  it('prefers the Last-Event-ID header to ?lastEventId= and refuses a malformed id with a 400 naming it', async () => {
    const svc = await service();
    const witness = await stream(svc, '/v1/installations/inst-a/toasts/stream');
    const [a, b] = [request(), request()];
    await notifier(svc).notify(a);
    await notifier(svc).notify(b);
    const [ea] = await witness.waitFor(2);
    const both = await stream(svc, '/v1/installations/inst-a/toasts/stream?lastEventId=0-0', {
      'last-event-id': ea!.id!,
    });
    await both.waitFor(1);
    expect(both.events.map((e) => e.data.id)).toEqual([b.id]);

    expectError(
      await refusedStreamWith(svc, '/v1/installations/inst-a/toasts/stream', {
        'last-event-id': 'rollback:evt-1',
      }),
      400,
      'validation-failed',
      'Last-Event-ID',
    );
    expectError(
      await refusedStream(svc, `${INSTALLATION}?lastEventId=12-x`),
      400,
      'validation-failed',
      'lastEventId',
    );
    // Refused before anything opened: only the two streams above.
    expect(svc.modules.streams.size).toBe(2);
  });

  it('loses and repeats nothing when events keep coming while a client resumes', async () => {
    const first = await service();
    const second = await service({ KEY_PREFIX: first.prefix });
    const witness = await stream(first, '/v1/installations/inst-a/toasts/stream');
    await notifier(first).notify(request());
    const [start] = await witness.waitFor(1);

    const burst = Array.from({ length: 40 }, (_, i) =>
      request({ sessionId: i % 2 ? 'sess-1' : null }),
    );
    const sending = (async () => {
      for (const n of burst) await notifier(first).notify(n);
    })();
    const resumed = await stream(second, '/v1/installations/inst-a/toasts/stream', {
      'last-event-id': start!.id!,
    });
    await sending;
    await resumed.waitFor(burst.length);
    await witness.waitFor(burst.length + 1);
    expect(resumed.events.map((e) => e.data.id)).toEqual(burst.map((n) => n.id));
    expect(resumed.events.map((e) => e.id)).toEqual(witness.events.slice(1).map((e) => e.id));
  });
});

/** Opens a toast stream of inst-a resuming after `lastEventId`; resolves once `: connected`
 * (which follows the replay) arrived, so `events` holds the whole replay. */
async function resumedToasts(svc: TestService, lastEventId: string) {
  return stream(svc, '/v1/installations/inst-a/toasts/stream', { 'last-event-id': lastEventId });
}

/** Notifies `n` toasts a few milliseconds apart (so there are ids between two of them). */
async function toasts(svc: TestService, n: number) {
  const witness = await stream(svc, '/v1/installations/inst-a/toasts/stream');
  const sent = Array.from({ length: n }, () => request());
  for (const t of sent) {
    await notifier(svc).notify(t);
    await new Promise((r) => setTimeout(r, 3));
  }
  const ids = (await witness.waitFor(n)).map((e) => e.id!);
  expect(ids).toHaveLength(n);
  return { sent, ids };
}

/** An id with the same milliseconds as `id` and a larger sequence: strictly after it. */
const justAfter = (id: string) => nextStreamId(id)!;

describe('an id that is not an entry of the stream gets event: reset (unknown-id)', () => {
  it('older than the oldest entry of an untrimmed stream: reset, then every retained event', async () => {
    const svc = await service();
    const { sent, ids } = await toasts(svc, 3);
    expect(await retained(svc, 'toasts', 'inst-a')).toEqual(ids);
    expect(compareStreamIds('1-0', ids[0]!)).toBeLessThan(0);

    const s = await resumedToasts(svc, '1-0');
    expect(s.events.map((e) => e.event)).toEqual(['reset', 'toast', 'toast', 'toast']);
    // Nothing was ever trimmed: the id just before the oldest retained event is 0-0.
    expect(s.events[0]).toMatchObject({
      id: '0-0',
      data: { reason: 'unknown-id', lastEventId: '1-0' },
    });
    expect(s.events[0]!.data.message).toContain('not an event of this stream');
    expect(s.events.slice(1).map((e) => e.id)).toEqual(ids);
    expect(s.events.slice(1).map((e) => e.data.id)).toEqual(sent.map((t) => t.id));

    // Reconnecting with the reset's id resumes without another reset.
    const again = await resumedToasts(svc, s.events[0]!.id!);
    expect(again.events.map((e) => e.id)).toEqual(ids);
    expect(again.events.every((e) => e.event === 'toast')).toBe(true);
  });

  it('between two entries: reset, then every retained event (also the ones before the id)', async () => {
    const svc = await service();
    const { ids } = await toasts(svc, 3);
    const between = justAfter(ids[0]!);
    expect(compareStreamIds(between, ids[1]!)).toBeLessThan(0);

    const s = await resumedToasts(svc, between);
    expect(s.events.map((e) => e.event)).toEqual(['reset', 'toast', 'toast', 'toast']);
    expect(s.events[0]).toMatchObject({
      id: '0-0',
      data: { reason: 'unknown-id', lastEventId: between },
    });
    expect(s.events.slice(1).map((e) => e.id)).toEqual(ids);
  });

  it('newer than the newest entry: reset, then every retained event', async () => {
    const svc = await service();
    const { ids } = await toasts(svc, 2);
    for (const newer of [justAfter(ids[1]!), '18446744073709551615-18446744073709551615']) {
      const s = await resumedToasts(svc, newer);
      expect(s.events.map((e) => e.event)).toEqual(['reset', 'toast', 'toast']);
      expect(s.events[0]).toMatchObject({
        id: '0-0',
        data: { reason: 'unknown-id', lastEventId: newer },
      });
      expect(s.events.slice(1).map((e) => e.id)).toEqual(ids);
    }
  });

  it('a known id: no reset, the events after it; the newest: nothing, then live events', async () => {
    const svc = await service();
    const { ids } = await toasts(svc, 3);

    const first = await resumedToasts(svc, ids[0]!);
    expect(first.events.map((e) => [e.event, e.id])).toEqual([
      ['toast', ids[1]],
      ['toast', ids[2]],
    ]);

    const newest = await resumedToasts(svc, ids[2]!);
    expect(newest.events).toEqual([]);
    const live = request();
    await notifier(svc).notify(live);
    const [next] = await newest.waitFor(1);
    expect(next).toMatchObject({ event: 'toast', data: { id: live.id } });
    expect(compareStreamIds(next!.id!, ids[2]!)).toBeGreaterThan(0);
    expect(newest.events).toHaveLength(1);
  });

  it('on a trimmed stream: unknown-id for an id after the last trimmed one, too-old before it', async () => {
    const svc = await service({ STREAM_REPLAY_EVENTS: '2' });
    const { ids } = await toasts(svc, 4);
    expect(await retained(svc, 'toasts', 'inst-a')).toEqual(ids.slice(2));
    const kept = ids.slice(2);

    // Between the last trimmed entry and the oldest retained one: nothing after it was trimmed,
    // and it was never an entry.
    const between = justAfter(ids[1]!);
    expect(compareStreamIds(between, ids[2]!)).toBeLessThan(0);
    const unknown = await resumedToasts(svc, between);
    expect(unknown.events.map((e) => e.event)).toEqual(['reset', 'toast', 'toast']);
    expect(unknown.events[0]).toMatchObject({
      id: ids[1],
      data: { reason: 'unknown-id', lastEventId: between },
    });
    expect(unknown.events.slice(1).map((e) => e.id)).toEqual(kept);

    // Before the last trimmed entry (an entry or not): events after it were trimmed.
    for (const old of [ids[0]!, justAfter(ids[0]!), '1-0']) {
      const s = await resumedToasts(svc, old);
      expect(s.events.map((e) => e.event)).toEqual(['reset', 'toast', 'toast']);
      expect(s.events[0]).toMatchObject({
        id: ids[1],
        data: { reason: 'too-old', lastEventId: old },
      });
      expect(s.events.slice(1).map((e) => e.id)).toEqual(kept);
    }

    // The last trimmed entry (the reset's id) missed nothing; nor did a retained one.
    const resetId = await resumedToasts(svc, ids[1]!);
    expect(resetId.events.map((e) => [e.event, e.id])).toEqual(kept.map((id) => ['toast', id]));
    const known = await resumedToasts(svc, ids[2]!);
    expect(known.events.map((e) => [e.event, e.id])).toEqual([['toast', ids[3]]]);
  });

  it('an empty stream: 0-0 resumes quietly, any other id gets reset (unknown-id) and nothing', async () => {
    const svc = await service();
    const quiet = await resumedToasts(svc, '0-0');
    expect(quiet.events).toEqual([]);
    const s = await resumedToasts(svc, '1764072000000-0');
    expect(s.events).toEqual([
      expect.objectContaining({
        event: 'reset',
        id: '0-0',
        data: expect.objectContaining({ reason: 'unknown-id', lastEventId: '1764072000000-0' }),
      }),
    ]);
  });
});

/** A stream request with extra headers that is refused: its status and JSON error body. */
async function refusedStreamWith(svc: TestService, path: string, headers: Record<string, string>) {
  const res = await fetch(`${svc.url}${path}`, {
    headers: { authorization: `Bearer operator-token-for-tests-0001`, ...headers },
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe('on the embedded store (no REDIS_URL)', () => {
  it('streams live events with ids and replays after Last-Event-ID as on Redis', async () => {
    const { default: RedisMock } = await import('ioredis-mock');
    const svc = await start({
      config: loadConfig({ PORT: '0', LOG_LEVEL: 'silent', OPERATOR_TOKENS: OPERATOR }),
      logger: silentLogger,
      background: false,
      redis: new RedisMock(),
      modules: MODULES,
    });
    cleanup.push(() => svc.stop());
    const first = await openStream(svc, INSTALLATION);
    cleanup.push(() => first.close());
    const post = (path: string, body: unknown) =>
      fetch(`${svc.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const register = await post('/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    expect(register.status).toBe(201);
    const [event] = await first.waitFor(1);
    expect(event!.id).toMatch(/^\d+-\d+$/);
    await post('/v1/connections/c1/handshake', {
      protocolVersion: '1.0.0',
      negotiatedCapabilities: [],
    });
    await first.waitUntil((e) => e.data.actorId === 'connection:c1' && e.data.to === 'connected');
    const sent = first.events.map((e) => ({ id: e.id, data: e.data }));

    // Resumed after the first event: what followed it is replayed, with its ids, in order.
    const resumed = await openStream(svc, INSTALLATION, OPERATOR, { 'last-event-id': event!.id! });
    cleanup.push(() => resumed.close());
    await resumed.waitFor(sent.length - 1);
    expect(resumed.events.map((e) => ({ id: e.id, data: e.data }))).toEqual(sent.slice(1));

    // An id that was never an entry: reset first, then every retained event.
    const unknown = await openStream(svc, INSTALLATION, OPERATOR, { 'last-event-id': '1-0' });
    cleanup.push(() => unknown.close());
    await unknown.waitFor(sent.length + 1);
    expect(unknown.events[0]).toMatchObject({ event: 'reset', data: { reason: 'unknown-id' } });
    expect(unknown.events.slice(1).map((e) => e.id)).toEqual(sent.map((e) => e.id));
  });
});
