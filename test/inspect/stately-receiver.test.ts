import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { STATELY_INSPECT_VERSION } from '../../src/inspect/frames.ts';
import { inspectModule } from '../../src/inspect/module.ts';
import {
  OPERATOR,
  T0,
  TOKEN_A,
  TOKEN_B,
  type TestService,
  checkInvariants,
  hb,
  startService,
} from '../helpers.ts';
import { type Frame, inspectUrl, receive, upgrade } from './support.ts';

const installed = JSON.parse(
  readFileSync(
    new URL('../../node_modules/@statelyai/inspect/package.json', import.meta.url),
    'utf8',
  ),
) as { version: string };

const isSnapshotIn = (state: string) => (f: Frame) =>
  f.type === '@xstate.snapshot' && f.snapshot.value === state;

describe('GET /v1/inspect with the @statelyai/inspect receiver', () => {
  let svc: TestService;
  beforeEach(async () => {
    svc = await startService({}, undefined, [inspectModule]);
  });
  afterEach(async () => {
    await svc.close();
  });

  const register = (id: string, installationId = 'inst-a', token = TOKEN_A) =>
    svc.api(
      'POST',
      '/v1/connections',
      { connectionId: id, installationId, workspaceId: `ws-${id}` },
      token,
    );
  const handshake = (id: string, token = TOKEN_A) =>
    svc.api(
      'POST',
      `/v1/connections/${id}/handshake`,
      { protocolVersion: '1.0.0', negotiatedCapabilities: [] },
      token,
    );

  it('follows a persisted actor through a transition and rebuilds its chart from the definition', async () => {
    expect((await register('c1')).status).toBe(201);
    const frames = receive(svc.url, TOKEN_A, 'connection:c1');
    const actor = await frames.next((f) => f.type === '@xstate.actor', '@xstate.actor');
    expect(actor).toMatchObject({
      sessionId: 'connection:c1',
      rootId: 'connection:c1',
      _version: STATELY_INSPECT_VERSION,
      snapshot: { status: 'active', value: 'connecting' },
    });
    expect(actor.snapshot.context.connectionId).toBe('c1');

    expect((await handshake('c1')).status).toBe(200);
    const snapshot = await frames.next(isSnapshotIn('connected'), 'the connected snapshot');
    const event = frames.all[frames.all.indexOf(snapshot) - 1]!;
    expect(event).toMatchObject({
      type: '@xstate.event',
      sessionId: 'connection:c1',
      rootId: 'connection:c1',
      event: { type: 'HANDSHAKE' },
      createdAt: String(T0),
      _version: STATELY_INSPECT_VERSION,
    });
    expect(event.id).toEqual(expect.any(String));
    expect(snapshot).toMatchObject({
      sessionId: 'connection:c1',
      rootId: 'connection:c1',
      event: { type: 'HANDSHAKE' },
      createdAt: String(T0),
    });

    // The definition is the chart's own config: XState rebuilds it, with the state just entered.
    const machine = createMachine(JSON.parse(actor.definition));
    expect(machine.id).toBe('connection');
    expect(Object.keys(machine.root.states)).toEqual([
      'connecting',
      'connected',
      'degraded',
      'error',
      'reconnecting',
      'rolledBack',
    ]);
    expect(machine.root.states).toHaveProperty(snapshot.snapshot.value);
    expect(machine.root.states.connected!.after.length).toBeGreaterThan(0);
  });

  it('sends the recent history first: each logged event with the snapshot it led to, oldest first', async () => {
    await register('c1');
    await handshake('c1');
    // A heartbeat in `connected` changes the context only: it is not in the history.
    await svc.api('POST', '/v1/connections/c1/heartbeats', hb(T0 + 1000, 5, 0, [10]), TOKEN_A);
    expect(
      (await svc.api('POST', '/v1/connections/c1/dropped', { reason: 'test' }, TOKEN_A)).status,
    ).toBe(200);
    const frames = receive(svc.url, TOKEN_A, 'connection:c1');
    await frames.next(
      (f) => f.type === '@xstate.snapshot' && f.event?.type === 'DROPPED',
      'the history',
    );
    expect(frames.all.map((f) => f.type)).toEqual([
      '@xstate.actor',
      '@xstate.event',
      '@xstate.snapshot',
      '@xstate.event',
      '@xstate.snapshot',
    ]);
    expect(frames.all.filter((f) => f.type === '@xstate.event').map((f) => f.event.type)).toEqual([
      'HANDSHAKE',
      'DROPPED',
    ]);
    // Each pair: the event, then the state it led to; the last is the persisted snapshot.
    expect(frames.all[2]).toMatchObject({
      event: { type: 'HANDSHAKE' },
      snapshot: { value: 'connected', context: {} },
    });
    expect(frames.all[4]).toMatchObject({
      event: { type: 'DROPPED' },
      snapshot: { value: 'error', context: { connectionId: 'c1' } },
    });
    // The log's bookkeeping (`_state`, `_v`) is not part of the event.
    expect(Object.keys(frames.all[1]!.event).sort()).toEqual([
      'at',
      'negotiatedCapabilities',
      'protocolVersion',
      'type',
    ]);
    expect(frames.all[0]!.snapshot.value).toBe('error');
  });

  it("never sends an actor's frames back in time, though a heartbeat carries the client's time", async () => {
    await register('c1');
    svc.clock.advance(600_000);
    await handshake('c1');
    // Timed ten minutes before the handshake (the client's `timestamp`): 90% takes c1 to error.
    const beat = await svc.api('POST', '/v1/connections/c1/heartbeats', hb(T0, 90, 10), TOKEN_A);
    expect(beat.body.status).toBe('error');
    const frames = receive(svc.url, TOKEN_A, 'connection:c1');
    await frames.next(
      (f) => f.type === '@xstate.snapshot' && f.event?.type === 'HEARTBEAT',
      'the history',
    );
    expect(
      (await svc.api('POST', '/v1/connections/c1/rollback', { reason: 'x' }, TOKEN_A)).status,
    ).toBe(200);
    await frames.next(isSnapshotIn('rolledBack'), 'the live rollback');
    expect(frames.all.map((f) => [f.type, f.event?.type ?? null, f.createdAt])).toEqual([
      // Announced at its oldest logged event's time, before that event.
      ['@xstate.actor', null, String(T0)],
      ['@xstate.event', 'HANDSHAKE', String(T0 + 600_000)],
      ['@xstate.snapshot', 'HANDSHAKE', String(T0 + 600_000)],
      // Logged at T0, sent no earlier than the handshake before it.
      ['@xstate.event', 'HEARTBEAT', String(T0 + 600_000)],
      ['@xstate.snapshot', 'HEARTBEAT', String(T0 + 600_000)],
      ['@xstate.event', 'ROLLBACK', String(T0 + 600_000)],
      ['@xstate.snapshot', 'ROLLBACK', String(T0 + 600_000)],
    ]);
  });

  it('sends only JSON text frames that name a _version (the receivers need both)', async () => {
    await register('c1');
    const opened = await upgrade(inspectUrl(svc.url, TOKEN_A, 'connection:c1'));
    if (!opened.opened) throw new Error(`refused: ${JSON.stringify(opened)}`);
    await opened.frames.next((f) => f.type === '@xstate.actor');
    await handshake('c1');
    await opened.frames.next(isSnapshotIn('connected'));
    for (const f of opened.frames.all) expect(f._version).toBe(STATELY_INSPECT_VERSION);
    opened.ws.close();
  });

  it('follows the release of @statelyai/inspect that is installed', () => {
    expect(STATELY_INSPECT_VERSION).toBe(installed.version);
  });

  it('refuses a bad token with 401 in the API error shape, before the upgrade', async () => {
    const res = await upgrade(inspectUrl(svc.url, 'not-a-token-at-all-0001', 'connection:c1'));
    expect(res).toMatchObject({
      opened: false,
      status: 401,
      body: { error: { code: 'unauthorized' } },
    });
    if (!res.opened) checkInvariants(res);
    expect(!res.opened && res.headers['www-authenticate']).toBe(
      'Bearer realm="lumilink", error="invalid_token"',
    );
    const missing = await upgrade(`${svc.url.replace('http', 'ws')}/v1/inspect`);
    expect(missing).toMatchObject({ opened: false, status: 401 });
    expect(!missing.opened && missing.headers['www-authenticate']).toBe('Bearer realm="lumilink"');
  });

  it('takes the token from an Authorization header too, for clients that can send one', async () => {
    await register('c1');
    const res = await upgrade(`${svc.url.replace('http', 'ws')}/v1/inspect?actor=connection:c1`, {
      authorization: `Bearer ${TOKEN_A}`,
    });
    if (!res.opened) throw new Error(`refused: ${JSON.stringify(res)}`);
    const actor = await res.frames.next((f) => f.type === '@xstate.actor');
    expect(actor.sessionId).toBe('connection:c1');
    res.ws.close();
  });

  it("answers 404 for another tenant's actor, as for an actor that does not exist", async () => {
    await register('c1');
    const other = await upgrade(inspectUrl(svc.url, TOKEN_B, 'connection:c1'));
    const none = await upgrade(inspectUrl(svc.url, TOKEN_A, 'connection:nope'));
    for (const res of [other, none]) {
      if (!res.opened) checkInvariants(res);
      expect(res).toMatchObject({
        opened: false,
        status: 404,
        body: { error: { code: 'not-found' } },
      });
      if (!res.opened) expect(res.body.error.details.field).toBe('actor');
    }
    if (!other.opened && !none.opened) {
      expect(other.body.error.message).toBe(none.body.error.message.replace('nope', 'c1'));
    }
  });

  it('names a malformed actor, and answers 426 to a GET that is not an upgrade', async () => {
    const bad = await upgrade(inspectUrl(svc.url, TOKEN_A, 'c1'));
    expect(bad).toMatchObject({ opened: false, status: 400 });
    if (!bad.opened) expect(bad.body.error.details.fields[0].field).toBe('actor');
    const plain = await fetch(`${svc.url}/v1/inspect`, {
      headers: { authorization: `Bearer ${OPERATOR}` },
    });
    expect(plain.status).toBe(426);
    expect(plain.headers.get('upgrade')).toBe('websocket');
  });

  it('shows every actor the token may see, and only those, when no actor is named', async () => {
    const a = await upgrade(inspectUrl(svc.url, TOKEN_A));
    const b = await upgrade(inspectUrl(svc.url, TOKEN_B));
    if (!a.opened || !b.opened) throw new Error('refused');
    await register('ca');
    await register('cb', 'inst-b', TOKEN_B);
    await handshake('ca');
    await handshake('cb', TOKEN_B);
    await b.frames.next(
      (f) => f.sessionId === 'connection:cb' && f.snapshot?.value === 'connected',
      "cb's connected snapshot",
    );
    // Announced before any other frame of it (in the state read when it was first seen); its
    // creation, which no event caused, is a snapshot of XState's initial event.
    const ofCb = b.frames.all.filter((f) => f.sessionId === 'connection:cb');
    expect(ofCb[0]!.type).toBe('@xstate.actor');
    expect(ofCb[1]).toMatchObject({
      type: '@xstate.snapshot',
      event: { type: 'xstate.init' },
      snapshot: { value: 'connecting' },
    });
    // inst-a's transition was published first: had it reached tenant B, it would be here now.
    expect(b.frames.all.map((f) => f.sessionId)).not.toContain('connection:ca');
    await a.frames.next(
      (f) => f.sessionId === 'connection:ca' && f.snapshot?.value === 'connected',
      "ca's connected snapshot",
    );
    expect(a.frames.all.map((f) => f.sessionId)).not.toContain('connection:cb');
    a.ws.close();
    b.ws.close();
  });

  it('delivers a transition made by a second service process over the same prefix', async () => {
    const other = await startService({ KEY_PREFIX: svc.prefix }, undefined, [inspectModule]);
    try {
      await register('c1');
      const frames = receive(svc.url, OPERATOR, 'connection:c1');
      await frames.next((f) => f.type === '@xstate.actor');
      const res = await other.api('POST', '/v1/connections/c1/handshake', {
        protocolVersion: '1.0.0',
        negotiatedCapabilities: [],
      });
      expect(res.status).toBe(200);
      const snapshot = await frames.next(isSnapshotIn('connected'));
      expect(snapshot.event.type).toBe('HANDSHAKE');
    } finally {
      await other.close();
    }
  });
});

describe('inspector sockets: limits and shutdown', () => {
  it('refuses a socket beyond the per-token limit with 429', async () => {
    const svc = await startService({ STREAMS_PER_TOKEN: '1' }, undefined, [inspectModule]);
    try {
      const first = await upgrade(inspectUrl(svc.url, TOKEN_A));
      expect(first.opened).toBe(true);
      const second = await upgrade(inspectUrl(svc.url, TOKEN_A));
      expect(second).toMatchObject({
        opened: false,
        status: 429,
        body: { error: { code: 'too-many-streams' } },
      });
      expect(!second.opened && second.headers['retry-after']).toBe('5');
      if (first.opened) {
        first.ws.close();
        await first.closed;
      }
    } finally {
      await svc.close();
    }
  });

  it('closes every socket with 1001 on shutdown (with every module running)', async () => {
    const svc = await startService();
    const opened = await upgrade(inspectUrl(svc.url, OPERATOR));
    if (!opened.opened) throw new Error('refused');
    await svc.close();
    expect(await opened.closed).toEqual({ code: 1001, reason: 'server shutting down; reconnect' });
  });
});

describe('upgrade requests that are not the inspector', () => {
  it('refuses an upgrade that is not a GET with 405, and answers an upgrade elsewhere over HTTP', async () => {
    const svc = await startService({}, undefined, [inspectModule]);
    try {
      const raw = (request: string) => {
        const { port } = new URL(svc.url);
        return new Promise<string>((resolve, reject) => {
          let text = '';
          const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
          socket.on('data', (chunk) => (text += chunk.toString()));
          socket.on('end', () => resolve(text));
          socket.on('error', reject);
        });
      };
      const upgradeHeaders =
        'Host: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
      const post = await raw(`POST /v1/inspect HTTP/1.1\r\n${upgradeHeaders}\r\n`);
      expect(post).toMatch(/^HTTP\/1\.1 405 /);
      expect(JSON.parse(post.slice(post.indexOf('\r\n\r\n') + 4)).error.code).toBe(
        'request-refused',
      );
      // The same request handler answers it (and the socket closes after the answer).
      const health = await raw(`GET /healthz HTTP/1.1\r\n${upgradeHeaders}\r\n`);
      expect(health).toMatch(/^HTTP\/1\.1 200 /);
      expect(health).toContain('{"status":"ok"}');
    } finally {
      await svc.close();
    }
  });
});
