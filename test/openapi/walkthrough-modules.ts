/**
 * The second half of the walkthrough (./walkthrough.ts): the feature modules' routes
 * (automation, notifications, charts and actors, capacity, metrics) and the stream limits.
 */
import { expect } from 'vitest';
import { TOKEN_A, TOKEN_B } from '../helpers.ts';
import type { OpenStream, RecordingClient } from './client.ts';
import { INSTALLATION, SESSION, ok } from './walkthrough-steps.ts';

/** `eventId`: the rollback whose notifications are read back. */
export async function walkModules(
  c: RecordingClient,
  eventId: string,
): Promise<{ sessionStream: OpenStream; actorStream: OpenStream }> {
  const a = { installationId: 'inst-a' };
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
  expect((await c.stream(`${INSTALLATION}/toasts/stream`, { params: a, token: null })).status).toBe(
    401,
  );
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

  return { sessionStream, actorStream };
}
