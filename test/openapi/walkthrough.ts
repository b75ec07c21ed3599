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

export const WALKTHROUGH_ENV = { CAPACITY_PER_WORKER: '4', STREAMS_PER_TOKEN: '4' };

export interface Walkthrough {
  exchanges: Exchange[];
  /** The JSON data of the SSE events received, by event name. */
  events: { toast: unknown[]; transition: unknown[] };
}

const MIN = 60_000;
const CONNECTION = '/v1/connections/:connectionId';
const WORKSPACE = '/v1/workspaces/:workspaceId';
const INSTALLATION = '/v1/installations/:installationId';
const SESSION = '/v1/sessions/:sessionId';

/** Expects `status` and returns the body (fails with the answer when it differs). */
function ok(e: Exchange, status: number): any {
  expect(e.status, `${e.method} ${e.url}: ${JSON.stringify(e.body)}`).toBe(status);
  return e.body;
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

    // Automation summaries and transcripts.
    const s1 = { sessionId: 's1' };
    const summary = {
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      runId: 'run-1',
      status: 'skipped',
      skipReason: 'rate-limited',
      toastMessage: 'Automation skipped: GitHub rate limit',
      transcriptNote: 'The GitHub API rate limit was reached; the run will be retried.',
      logs: [{ message: 'rate limited', level: 'warn' }],
    };
    ok(await c.send('POST', `${SESSION}/automation`, { params: s1, body: summary }), 201);
    ok(await c.send('POST', `${SESSION}/automation`, { params: s1, body: summary }), 200);
    ok(
      await c.send('POST', `${SESSION}/automation`, {
        params: s1,
        body: { ...summary, runId: 'run-2', transcriptNote: `token ghp_${'a'.repeat(36)}` },
      }),
      400,
    );
    ok(
      await c.send('GET', `${SESSION}/automation`, {
        params: s1,
        query: { order: 'newest-first' },
      }),
      200,
    );
    ok(await c.send('GET', `${SESSION}/transcript`, { params: s1 }), 200);
    ok(
      await c.send('GET', `${SESSION}/transcript`, { params: s1, query: { order: 'sideways' } }),
      400,
    );
    ok(await c.send('GET', `${SESSION}/automation`, { params: s1, token: TOKEN_B }), 404);

    // Notification records.
    ok(
      await c.send('GET', `${INSTALLATION}/notifications/deliveries`, {
        params: a,
        query: { sourceId: eventId },
      }),
      200,
    );
    ok(await c.send('GET', `${INSTALLATION}/notifications/deliveries`, { params: a }), 400);
    ok(await c.send('GET', `${INSTALLATION}/notifications/dead-letters`, { params: a }), 200);

    // Charts and actors.
    ok(await c.send('GET', '/v1/machines'), 200);
    ok(await c.send('GET', '/v1/machines/:id', { params: { id: 'connection' } }), 200);
    ok(await c.send('GET', '/v1/machines/:id', { params: { id: 'nope' } }), 404);
    const actor = '/v1/actors/:actorId';
    ok(await c.send('GET', `${actor}/inspect`, { params: { actorId: 'connection:c1' } }), 200);
    ok(await c.send('GET', `${actor}/inspect`, { params: { actorId: 'workspace:ws-1' } }), 200);
    ok(await c.send('GET', `${actor}/inspect`, { params: { actorId: 'robot:c1' } }), 400);
    ok(
      await c.send('GET', `${actor}/inspect`, {
        params: { actorId: 'connection:c1' },
        token: TOKEN_B,
      }),
      404,
    );

    // Two more streams: the fourth open one reaches STREAMS_PER_TOKEN, the fifth is refused.
    const actorStream = await c.stream(`${actor}/transitions/stream`, {
      params: { actorId: 'connection:c2' },
    });
    expect(actorStream.status).toBe(200);
    const sessionStream = await c.stream(`${SESSION}/toasts/stream`, { params: s1 });
    expect(sessionStream.status).toBe(200);
    expect((await c.stream(`${SESSION}/toasts/stream`, { params: s1 })).status).toBe(429);
    expect(
      (await c.stream(`${SESSION}/toasts/stream`, { params: { sessionId: 's-nope' } })).status,
    ).toBe(404);
    expect(
      (await c.stream(`${INSTALLATION}/toasts/stream`, { params: a, token: null })).status,
    ).toBe(401);
    expect(
      (
        await c.stream(`${INSTALLATION}/transitions/stream`, {
          params: { installationId: 'inst-b' },
          token: TOKEN_A,
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await c.stream(`${actor}/transitions/stream`, {
          params: { actorId: 'connection:c2' },
          token: TOKEN_B,
        })
      ).status,
    ).toBe(404);

    // Capacity: inst-b fills its 4 places; the fifth registration is shed.
    const b = { installationId: 'inst-b' };
    for (const id of ['b1', 'b2', 'b3', 'b4']) {
      ok(
        await c.send('POST', '/v1/connections', {
          body: { connectionId: id, installationId: 'inst-b', workspaceId: 'ws-b' },
          token: TOKEN_B,
        }),
        201,
      );
    }
    ok(
      await c.send('POST', '/v1/connections', {
        body: { connectionId: 'b5', installationId: 'inst-b', workspaceId: 'ws-b' },
        token: TOKEN_B,
      }),
      503,
    );
    ok(await c.send('GET', `${INSTALLATION}/capacity`, { params: b, token: TOKEN_B }), 200);
    ok(await c.send('GET', `${INSTALLATION}/capacity/alerts`, { params: b, token: TOKEN_B }), 200);
    ok(await c.send('GET', `${INSTALLATION}/capacity`, { params: b, token: TOKEN_A }), 404);

    // Metric envelopes.
    ok(
      await c.send('GET', '/v1/metrics/envelopes', {
        query: { installationId: 'inst-a', limit: '5' },
      }),
      200,
    );
    ok(await c.send('GET', '/v1/metrics/envelopes', { query: { after: 'not-a-cursor' } }), 400);

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
