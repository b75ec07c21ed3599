import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectModule } from '../../src/inspect/module.ts';
import { CHARTS } from '../../machines/index.ts';
import { OPERATOR, T0, TOKEN_B, type TestService, hb, startService } from '../helpers.ts';
import { openStream } from '../notifications/support.ts';

describe('inspection API', () => {
  let svc: TestService;
  beforeEach(async () => {
    svc = await startService({}, undefined, [inspectModule]);
  });
  afterEach(async () => {
    await svc.close();
  });

  const connect = async (id = 'c1') => {
    await svc.api('POST', '/v1/connections', {
      connectionId: id,
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    await svc.api('POST', `/v1/connections/${id}/handshake`, {
      protocolVersion: '1.0.0',
      negotiatedCapabilities: [],
    });
  };

  it('lists every chart with its version', async () => {
    const res = await svc.api('GET', '/v1/machines');
    expect(res.status).toBe(200);
    expect(res.body.items.map((c: any) => c.id)).toEqual(CHARTS.map((c) => c.id));
    expect(res.body.items[0]).toMatchObject({ id: 'connection', version: '1.0.0' });
  });

  it('serves a chart definition that the Stately editor imports', async () => {
    const res = await svc.api('GET', '/v1/machines/connection');
    expect(res.body.definition).toMatchObject({ id: 'connection', initial: 'connecting' });
    expect(Object.keys(res.body.definition.states)).toEqual([
      'connecting',
      'connected',
      'degraded',
      'error',
      'reconnecting',
      'rolledBack',
    ]);
    expect(res.body.structure.delays).toContain('heartbeatTimeout');
    expect((await svc.api('GET', '/v1/machines/nope')).status).toBe(404);
  });

  it('inspects a live actor: state, context, pending timers with due times, last events newest first', async () => {
    await connect();
    await svc.api('POST', '/v1/connections/c1/heartbeats', hb(T0, 5, 0, [10]));
    const res = await svc.api('GET', '/v1/actors/connection:c1/inspect');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      actorId: 'connection:c1',
      kind: 'connection',
      installationId: 'inst-a',
      state: 'connected',
      version: 3,
    });
    expect(res.body.context.connectionId).toBe('c1');
    expect(res.body.pendingTimers).toEqual([
      {
        event: 'xstate.after.heartbeatTimeout.connection.connected',
        dueAt: new Date(T0 + 90_000).toISOString(),
      },
    ]);
    // The heartbeat changed the context only: it is counted, not logged.
    expect(res.body.lastEvents).toEqual([
      expect.objectContaining({ type: 'HANDSHAKE', _state: 'connected', _v: 2 }),
    ]);
    expect(res.body.unloggedCommits).toBe(1);
  });

  it('logs the events that change the state value, and those that change only a workspace context but its reports', async () => {
    await connect();
    for (let i = 1; i <= 3; i++) {
      await svc.api('POST', '/v1/connections/c1/heartbeats', hb(T0 + i * 1000, 5, 0, [10]));
    }
    expect((await svc.api('POST', '/v1/connections/c1/dropped', { reason: 'test' })).status).toBe(
      200,
    );
    const c1 = (await svc.api('GET', '/v1/actors/connection:c1/inspect')).body;
    expect(c1.lastEvents.map((e: any) => [e.type, e._state, e._v])).toEqual([
      ['DROPPED', 'error', 6],
      ['HANDSHAKE', 'connected', 2],
    ]);
    // Versions 3-5 (the heartbeats) are missing between the entries; nothing came after.
    expect(c1).toMatchObject({ version: 6, unloggedCommits: 0 });
    const ws = (await svc.api('GET', '/v1/actors/workspace:ws-1/inspect')).body;
    expect(ws.lastEvents.map((e: any) => e.type)).not.toContain('CONNECTION_REPORT');
    expect(ws.unloggedCommits).toBeGreaterThanOrEqual(4);
  });

  it('inspects workspace actors too', async () => {
    await connect();
    const res = await svc.api('GET', '/v1/actors/workspace:ws-1/inspect');
    expect(res.body).toMatchObject({ kind: 'workspace', state: 'http.idle' });
  });

  it('keeps other tenants out and names a malformed actor id', async () => {
    await connect();
    expect(
      (await svc.api('GET', '/v1/actors/connection:c1/inspect', undefined, TOKEN_B)).status,
    ).toBe(404);
    expect((await svc.api('GET', '/v1/actors/connection:nope/inspect')).status).toBe(404);
    const bad = await svc.api('GET', '/v1/actors/c1/inspect');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields[0].field).toBe('actorId');
  });

  it('streams transitions live over SSE, from another engine process too', async () => {
    const other = await startService({ KEY_PREFIX: svc.prefix }, undefined, [inspectModule]);
    try {
      await svc.api('POST', '/v1/connections', {
        connectionId: 'c1',
        installationId: 'inst-a',
        workspaceId: 'ws-1',
      });
      // Resolves once the stream says `: connected`: its subscription is live.
      const live = await openStream(svc, '/v1/actors/connection:c1/transitions/stream');
      expect(live.headers.get('content-type')).toContain('text/event-stream');
      // Transitions made through the other process reach this one's stream.
      await other.api('POST', '/v1/connections/c1/handshake', {
        protocolVersion: '1.0.0',
        negotiatedCapabilities: [],
      });
      await other.api('POST', '/v1/connections/c1/dropped', { reason: 'test' });
      const received = (await live.waitFor(2)).map((e) => e.data);
      await live.close();
      expect(received.map((m) => `${m.from}>${m.to}`)).toEqual([
        'connecting>connected',
        'connected>error',
      ]);
      expect(received[0]).toMatchObject({
        actorId: 'connection:c1',
        installationId: 'inst-a',
        events: ['HANDSHAKE'],
        version: 2,
      });
    } finally {
      await other.close();
    }
  });

  it("names a nested state by its path in kebab-case: a workspace's rollback ends in http.cooldown", async () => {
    await svc.api('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    const live = await openStream(svc, '/v1/actors/workspace:ws-1/transitions/stream');
    await svc.api('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
    });
    await svc.api('POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.0.0',
      negotiatedCapabilities: [],
    });
    const beat = await svc.api('POST', '/v1/connections/c1/heartbeats', hb(T0, 980, 20, [40]));
    expect(beat.body.status).toBe('rolled-back');
    const received = (await live.waitFor(3)).map((e) => e.data);
    await live.close();
    expect(received.map((m) => `${m.from}>${m.to}`)).toEqual([
      'http.idle>migrating',
      'migrating>acp',
      'acp>http.cooldown',
    ]);
  });

  it('refuses the installation stream to another tenant', async () => {
    expect(
      (await svc.api('GET', '/v1/installations/inst-a/transitions/stream', undefined, TOKEN_B))
        .status,
    ).toBe(404);
  });
});

describe('live streams in a browser', () => {
  it('accept the token as ?access_token= (EventSource cannot send headers), and only on streams', async () => {
    const svc = await startService({}, undefined, [inspectModule]);
    try {
      const controller = new AbortController();
      const res = await fetch(
        `${svc.url}/v1/installations/inst-a/transitions/stream?access_token=${OPERATOR}`,
        {
          signal: controller.signal,
        },
      );
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      controller.abort();
      const bad = await fetch(
        `${svc.url}/v1/installations/inst-a/transitions/stream?access_token=nope-nope-nope-nope`,
      );
      expect(bad.status).toBe(401);
      const notStream = await fetch(`${svc.url}/v1/machines?access_token=${OPERATOR}`);
      expect(notStream.status).toBe(401);
    } finally {
      await svc.close();
    }
  });

  it('name an access_token given twice, instead of calling the token missing', async () => {
    const svc = await startService({}, undefined, [inspectModule]);
    try {
      for (const path of ['/v1/installations/inst-a/transitions/stream', '/v1/inspect']) {
        const res = await fetch(
          `${svc.url}${path}?access_token=${OPERATOR}&access_token=${OPERATOR}`,
        );
        const body = (await res.json()) as any;
        expect(res.status, path).toBe(400);
        expect(body.error).toMatchObject({
          code: 'validation-failed',
          message: 'invalid query: access_token: is given more than once: send it once',
          details: { in: 'query', fields: [{ field: 'access_token' }] },
        });
      }
    } finally {
      await svc.close();
    }
  });
});

describe('following an actor that does not exist', () => {
  it('answers 404 on the transition stream, as /inspect does, for an id a refused registration left claimed', async () => {
    const svc = await startService({ CAPACITY_PER_WORKER: '1' });
    try {
      expect(
        (
          await svc.api('POST', '/v1/connections', {
            connectionId: 'c1',
            installationId: 'inst-a',
            workspaceId: 'ws-1',
          })
        ).status,
      ).toBe(201);
      // At 100%: refused by the capacity chart in the commit (the check before it switched off),
      // which keeps the id claimed for inst-a without a connection behind it.
      svc.connections.admissionChecks.length = 0;
      const refused = await svc.api('POST', '/v1/connections', {
        connectionId: 'c2',
        installationId: 'inst-a',
        workspaceId: 'ws-1',
      });
      expect(refused.status).toBe(503);
      for (const id of ['connection:c2', 'connection:nope', 'capacity:inst-none']) {
        const inspect = await svc.api('GET', `/v1/actors/${id}/inspect`);
        // A stream that opens answers 200 at once and stays open: read the status, then leave.
        const controller = new AbortController();
        const stream = await fetch(`${svc.url}/v1/actors/${id}/transitions/stream`, {
          headers: { authorization: `Bearer ${OPERATOR}` },
          signal: controller.signal,
        });
        const body = stream.status === 200 ? null : ((await stream.json()) as any);
        controller.abort();
        expect({ id, inspect: inspect.status, stream: stream.status }).toEqual({
          id,
          inspect: 404,
          stream: 404,
        });
        expect(body.error).toMatchObject({
          code: 'not-found',
          message: `actor ${id} not found`,
          details: { field: 'actorId' },
        });
      }
    } finally {
      await svc.close();
    }
  });
});
