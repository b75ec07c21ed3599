/**
 * A realistic walk through the whole API over real HTTP: every route at least once, its success
 * and its main refusals. Returns the recorded answers (and the live-stream events seen) for the
 * document checks in walkthrough.test.ts.
 *
 * The service is started by the caller with WALKTHROUGH_ENV: a capacity of 4 per installation
 * (so that inst-b can be driven to 503 capacity-shed) and 4 streams per token (so that a fifth
 * stream is refused with 429).
 */
import { expect } from 'vitest';
import { TOKEN_A, TOKEN_B, type TestService, hb } from '../helpers.ts';
import { type Exchange, RecordingClient, sseData } from './client.ts';
import { walkModules } from './walkthrough-modules.ts';
import { walkOperator } from './walkthrough-operator.ts';
import { CONNECTION, INSTALLATION, WORKSPACE, ok } from './walkthrough-steps.ts';

const MIN = 60_000;

export const WALKTHROUGH_ENV = { CAPACITY_PER_WORKER: '4', STREAMS_PER_TOKEN: '4' };

export interface Walkthrough {
  exchanges: Exchange[];
  /** The JSON data of the SSE events received, by event name. */
  events: { toast: unknown[]; transition: unknown[] };
}

export async function walkthrough(s: TestService): Promise<Walkthrough> {
  const c = new RecordingClient(s.url);
  const now = () => s.clock.now();
  const a = { installationId: 'inst-a' };
  try {
    // Unauthenticated routes.
    for (const route of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs']) {
      ok(await c.send('GET', route, { token: null }), 200);
    }
    const asset = '/docs/assets/:file';
    ok(await c.send('GET', asset, { params: { file: 'docs.js' }, token: null }), 200);
    ok(await c.send('GET', asset, { params: { file: 'secrets.txt' }, token: null }), 404);

    // Installation settings: a flap limit of 1, so that one automatic rollback blocks.
    ok(await c.send('GET', `${INSTALLATION}/settings`, { params: a }), 200);
    const settings = { thresholds: { flapLimit: 1, minSamples: 100 } };
    ok(await c.send('PUT', `${INSTALLATION}/settings`, { params: a, body: settings }), 200);
    ok(
      await c.send('PUT', `${INSTALLATION}/settings`, {
        params: a,
        body: settings,
        token: TOKEN_A,
      }),
      403,
    );
    ok(
      await c.send('PUT', `${INSTALLATION}/settings`, {
        params: a,
        body: { thresholds: { flapLimit: 0 } },
      }),
      400,
    );
    ok(await c.send('GET', `${INSTALLATION}/settings/changes`, { params: a }), 200);
    ok(
      await c.send('GET', `${INSTALLATION}/settings`, {
        params: { installationId: 'inst-b' },
        token: TOKEN_A,
      }),
      404,
    );

    // Notification settings: rollbacks also go to a webhook (recorded as skipped: no secret).
    ok(await c.send('GET', `${INSTALLATION}/notifications/settings`, { params: a }), 200);
    const notify = {
      channels: { rollback: ['toast', 'webhook'] },
      webhookUrls: ['http://127.0.0.1:9/hook'],
    };
    ok(
      await c.send('PUT', `${INSTALLATION}/notifications/settings`, { params: a, body: notify }),
      200,
    );
    ok(
      await c.send('PUT', `${INSTALLATION}/notifications/settings`, {
        params: a,
        body: { webhookUrls: ['ftp://x'] },
      }),
      400,
    );

    // Live streams, opened before anything happens.
    const toasts = await c.stream(`${INSTALLATION}/toasts/stream`, { params: a });
    const transitions = await c.stream(`${INSTALLATION}/transitions/stream`, { params: a });
    expect(toasts.status).toBe(200);
    expect(transitions.status).toBe(200);
    await toasts.waitFor((t) => t.includes(': connected'), 'the toast stream');
    await transitions.waitFor((t) => t.includes(': connected'), 'the transition stream');

    // Registration and its refusals.
    const c1 = { connectionId: 'c1', installationId: 'inst-a', workspaceId: 'ws-1' };
    ok(await c.send('POST', '/v1/connections', { body: c1, token: null }), 401);
    ok(
      await c.send('POST', '/v1/connections', { body: c1, token: 'not-a-valid-token-at-all' }),
      401,
    );
    ok(await c.send('POST', '/v1/connections', { body: { ...c1, connectionId: 'a b' } }), 400);
    ok(
      await c.send('POST', '/v1/connections', {
        body: JSON.stringify(c1),
        headers: { 'content-type': 'text/plain' },
      }),
      415,
    );
    ok(
      await c.send('POST', '/v1/connections', {
        body: { ...c1, pad: 'x'.repeat(40_000) },
      }),
      413,
    );
    ok(
      await c.send('POST', '/v1/connections', {
        body: { ...c1, installationId: 'inst-b' },
        token: TOKEN_A,
      }),
      403,
    );
    ok(await c.send('POST', '/v1/connections', { body: c1 }), 201);
    ok(await c.send('POST', '/v1/connections', { body: c1 }), 409);

    // Migrate ws-1 to ACP, then connect c1 over ACP.
    const toAcp = { toProtocol: 'acp', initiatedBy: 'operator' };
    const ws1 = { workspaceId: 'ws-1' };
    ok(
      await c.send('POST', `${WORKSPACE}/migrations`, { params: ws1, body: { toProtocol: 'ftp' } }),
      400,
    );
    ok(
      await c.send('POST', `${WORKSPACE}/migrations`, { params: ws1, body: toAcp, token: TOKEN_A }),
      403,
    );
    ok(await c.send('POST', `${WORKSPACE}/migrations`, { params: ws1, body: toAcp }), 201);
    const handshake = { protocolVersion: '1.2.0', negotiatedCapabilities: ['fs'] };
    const p1 = { connectionId: 'c1' };
    ok(await c.send('POST', `${CONNECTION}/handshake`, { params: p1, body: handshake }), 200);
    ok(await c.send('POST', `${CONNECTION}/handshake`, { params: p1, body: handshake }), 409);
    ok(
      await c.send('POST', `${CONNECTION}/handshake`, {
        params: p1,
        body: { protocolVersion: 'x' },
      }),
      400,
    );
    ok(await c.send('GET', WORKSPACE, { params: ws1 }), 200);
    ok(await c.send('GET', WORKSPACE, { params: { workspaceId: 'ws-nope' } }), 404);

    // Heartbeats: healthy, refused, a batch, then a breach that rolls ws-1 back.
    s.clock.advance(MIN);
    ok(
      await c.send('POST', `${CONNECTION}/heartbeats`, {
        params: p1,
        body: hb(now(), 500, 0, [20]),
      }),
      200,
    );
    ok(
      await c.send('POST', `${CONNECTION}/heartbeats`, {
        params: p1,
        body: { ...hb(now(), 1), heartbeatId: 'hb-1' },
      }),
      200,
    );
    ok(
      await c.send('POST', `${CONNECTION}/heartbeats`, {
        params: p1,
        body: { ...hb(now(), 1), heartbeatId: 'hb-1' },
      }),
      200,
    );
    ok(await c.send('POST', `${CONNECTION}/heartbeats`, { params: p1, body: hb(0, 1) }), 400);
    ok(
      await c.send('POST', `${CONNECTION}/heartbeats`, {
        params: { connectionId: 'c-nope' },
        body: hb(now(), 1),
      }),
      404,
    );
    ok(
      await c.send('POST', '/v1/heartbeats', {
        body: { items: [{ connectionId: 'c1', ...hb(now(), 10) }, { connectionId: 'c1' }] },
      }),
      200,
    );
    ok(await c.send('POST', '/v1/heartbeats', { body: { items: [] } }), 400);
    s.clock.advance(MIN);
    const breach = ok(
      await c.send('POST', `${CONNECTION}/heartbeats`, {
        params: p1,
        body: hb(now(), 480, 20, [40]),
      }),
      200,
    );
    expect(breach.rollback?.eventId).toBeTypeOf('string');
    const eventId = breach.rollback.eventId as string;
    await toasts.waitFor((t) => t.includes('event: toast'), 'the rollback toast');
    await transitions.waitFor((t) => t.includes('event: transition'), 'a transition');

    // Why it rolled back.
    for (const audit of ['migrations', 'rollbacks', 'decisions']) {
      ok(
        await c.send('GET', `${WORKSPACE}/${audit}`, { params: ws1, query: { limit: '10' } }),
        200,
      );
    }
    ok(
      await c.send('GET', `${WORKSPACE}/rollbacks`, { params: ws1, query: { from: 'yesterday' } }),
      400,
    );

    // What a lower threshold would have decided over the same traffic (writes nothing).
    const whatIf = `${WORKSPACE}/what-if`;
    const lenient = { thresholds: { minSuccessRate: 0.5 } };
    const replay = ok(
      await c.send('POST', whatIf, {
        params: ws1,
        body: { from: new Date(0).toISOString(), settings: lenient },
      }),
      200,
    );
    expect(replay.summary.actual.rollback).toBe(1);
    expect(replay.summary.whatIf.rollback).toBe(0);
    ok(await c.send('POST', whatIf, { params: ws1, body: { from: 'x', settings: {} } }), 400);
    ok(
      await c.send('POST', whatIf, {
        params: { workspaceId: 'ws-nope' },
        body: { from: new Date(0).toISOString(), settings: {} },
      }),
      404,
    );

    // The flap limit (1) blocked automatic migration: an operator lifts it.
    const reenable = `${WORKSPACE}/auto-migration/reenable`;
    ok(await c.send('POST', reenable, { params: ws1, token: TOKEN_A }), 403);
    ok(await c.send('POST', reenable, { params: ws1 }), 200);
    const decisions = ok(await c.send('GET', `${WORKSPACE}/decisions`, { params: ws1 }), 200);
    expect(decisions.items[0]?.decision).toBe('auto-migration-reenabled');
    ok(await c.send('POST', reenable, { params: ws1, body: { requestId: 'again' } }), 409);

    // A second workspace: drop and recover, a connection rollback, a scheduled migration.
    const ws2 = { workspaceId: 'ws-2' };
    const p2 = { connectionId: 'c2' };
    ok(
      await c.send('POST', '/v1/connections', {
        body: { ...c1, connectionId: 'c2', workspaceId: 'ws-2' },
      }),
      201,
    );
    ok(await c.send('POST', `${CONNECTION}/handshake`, { params: p2, body: handshake }), 200);
    ok(await c.send('POST', `${CONNECTION}/recovered`, { params: p2 }), 409);
    ok(
      await c.send('POST', `${CONNECTION}/dropped`, {
        params: p2,
        body: { reason: 'container restarted' },
      }),
      200,
    );
    s.clock.advance(MIN);
    await s.engine.fireDueTimers();
    ok(await c.send('POST', `${CONNECTION}/recovered`, { params: p2 }), 200);
    const p3 = { connectionId: 'c3' };
    ok(
      await c.send('POST', '/v1/connections', {
        body: { ...c1, connectionId: 'c3', workspaceId: 'ws-2' },
      }),
      201,
    );
    ok(await c.send('POST', `${CONNECTION}/rollback`, { params: p3, body: {} }), 400);
    ok(
      await c.send('POST', `${CONNECTION}/rollback`, {
        params: p3,
        body: { reason: 'session moved to HTTP' },
      }),
      200,
    );
    ok(await c.send('POST', `${CONNECTION}/dropped`, { params: p3 }), 409);

    const later = { ...toAcp, scheduledAt: new Date(now() + 60 * MIN).toISOString() };
    ok(await c.send('POST', `${WORKSPACE}/migrations`, { params: ws2, body: later }), 201);
    ok(await c.send('POST', `${WORKSPACE}/migrations/cancel`, { params: ws2 }), 200);
    ok(await c.send('POST', `${WORKSPACE}/migrations/cancel`, { params: ws2 }), 409);
    ok(await c.send('POST', `${WORKSPACE}/migrations`, { params: ws2, body: toAcp }), 201);
    ok(
      await c.send('POST', `${WORKSPACE}/rollback`, {
        params: ws2,
        body: { reason: 'agent upgrade' },
      }),
      201,
    );
    ok(
      await c.send('POST', `${WORKSPACE}/rollback`, { params: ws2, body: { reason: 'again' } }),
      409,
    );

    // Reading connections.
    ok(
      await c.send('GET', '/v1/connections', { query: { installationId: 'inst-a', limit: '2' } }),
      200,
    );
    ok(await c.send('GET', '/v1/connections', { query: { status: 'sleeping' } }), 400);
    ok(
      await c.send('GET', '/v1/connections', {
        query: { installationId: 'inst-b' },
        token: TOKEN_A,
      }),
      403,
    );
    ok(await c.send('GET', CONNECTION, { params: p1 }), 200);
    ok(await c.send('GET', CONNECTION, { params: p1, token: TOKEN_B }), 404);

    const { sessionStream, actorStream } = await walkModules(c, eventId);
    await walkOperator(c, s);

    // Anything else.
    ok(await c.send('GET', '/v1/nothing-here'), 404);

    return {
      exchanges: c.exchanges,
      events: {
        toast: [...sseData(toasts.text(), 'toast'), ...sseData(sessionStream.text(), 'toast')],
        transition: [
          ...sseData(transitions.text(), 'transition'),
          ...sseData(actorStream.text(), 'transition'),
        ],
      },
    };
  } finally {
    c.closeStreams();
  }
}
