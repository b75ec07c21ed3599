/**
 * Toasts over Server-Sent Events, read by a real HTTP client (fetch streaming) from the real
 * app: per installation and per session, across engine processes through Redis pub/sub, and
 * from the workspace `rollback` domain event.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { DEFAULT_STREAM_LIMITS } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { NotifyKeys } from '../../src/notifications/keys.ts';
import { openToastStreams } from '../../src/notifications/module.ts';
import { TOAST_MAX_CHARS } from '../../src/notifications/text.ts';
import { ToastHub } from '../../src/notifications/toasts.ts';
import { OPERATOR, T0, TOKEN_A, TOKEN_B, realRedis, testPrefix } from '../helpers.ts';
import {
  type NotifyService,
  WEBHOOK_SECRET,
  deliveries,
  expectError,
  expectNoSecrets,
  type SseEvent,
  openStream,
  putSettings,
  startReceiver,
  refusedStream,
  request,
  startNotify,
  useCleanup,
} from './support.ts';
import { AUTOMATION_SERVICES } from '../../src/automation/types.ts';

const cleanup = useCleanup();

async function service(env: Record<string, string> = {}): Promise<NotifyService> {
  const svc = await startNotify(env);
  cleanup.push(() => svc.close());
  return svc;
}

async function stream(svc: NotifyService, path: string, token = OPERATOR) {
  const s = await openStream(svc, path, token);
  cleanup.push(() => s.close());
  return s;
}

/** Registers the sessions directory another module provides in production. */
function sessions(svc: NotifyService, owners: Record<string, string>): void {
  svc.modules.services.provide(AUTOMATION_SERVICES.sessions, {
    owner: (sessionId: string) => Promise.resolve(owners[sessionId] ?? null),
  });
}

describe('GET /v1/installations/:installationId/toasts/stream', () => {
  it('streams a toast to an SSE client of the installation with the full payload', async () => {
    const svc = await service();
    const s = await stream(svc, '/v1/installations/inst-a/toasts/stream', TOKEN_A);
    expect(s.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(s.headers.get('cache-control')).toBe('no-cache, no-transform');

    const n = request({ kind: 'capacity-alert', sessionId: 'sess-1' });
    n.toast.severity = 'warning';
    expect(await svc.notifier.notify(n)).toEqual(['toast']);
    const [event] = await s.waitFor(1);
    expect(event).toEqual({
      event: 'toast',
      // The id of the toast in the installation's replay stream: what Last-Event-ID resumes after.
      id: expect.stringMatching(/^\d+-\d+$/),
      data: {
        id: n.id,
        kind: 'capacity-alert',
        title: n.toast.title,
        body: n.toast.body,
        severity: 'warning',
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        sessionId: 'sess-1',
        sourceId: n.sourceId,
        createdAt: new Date(T0).toISOString(),
      },
    });
    expect(await deliveries(svc, n.sourceId)).toEqual([
      {
        deliveryId: expect.stringMatching(/^dlv_[0-9a-f]{32}$/),
        notificationId: n.id,
        kind: 'capacity-alert',
        sourceId: n.sourceId,
        channel: 'toast',
        target: 'stream',
        status: 'delivered',
        attempts: 1,
        lastError: null,
        deliveredAt: new Date(T0).toISOString(),
        createdAt: new Date(T0).toISOString(),
        updatedAt: new Date(T0).toISOString(),
        deadLetteredAt: null,
      },
    ]);
  });

  it('streams toasts notified by a second engine process on the same keys (Redis pub/sub)', async () => {
    const first = await service();
    const second = await service({ KEY_PREFIX: first.prefix });
    const onFirst = await stream(first, '/v1/installations/inst-a/toasts/stream');
    const onSecond = await stream(second, '/v1/installations/inst-a/toasts/stream');

    const a = request();
    await second.notifier.notify(a);
    const b = request();
    await first.notifier.notify(b);
    for (const s of [onFirst, onSecond]) {
      expect((await s.waitFor(2)).map((e) => e.data.id)).toEqual([a.id, b.id]);
    }
    // One id per toast, the same on every process.
    expect(onFirst.events.map((e) => e.id)).toEqual(onSecond.events.map((e) => e.id));
  });

  it("never streams another installation's toasts, and answers 404 to a token without access", async () => {
    const svc = await service();
    const s = await stream(svc, '/v1/installations/inst-a/toasts/stream', TOKEN_A);
    const other = request({ installationId: 'inst-b' });
    await svc.notifier.notify(other);
    const mine = request();
    await svc.notifier.notify(mine);
    // Published in order on one connection: had the other toast been sent, it would be first.
    await s.waitFor(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.events.map((e) => e.data.id)).toEqual([mine.id]);

    expectError(
      await refusedStream(svc, '/v1/installations/inst-a/toasts/stream', TOKEN_B),
      404,
      'not-found',
      'installationId',
    );
    const anonymous = await fetch(`${svc.url}/v1/installations/inst-a/toasts/stream`);
    expect(anonymous.status).toBe(401);
    await anonymous.body?.cancel();
  });

  it('stops tracking a client as soon as it disconnects', async () => {
    const svc = await service();
    const s = await stream(svc, '/v1/installations/inst-a/toasts/stream');
    const t = await stream(svc, '/v1/installations/inst-a/toasts/stream');
    expect(openToastStreams(svc.modules)).toBe(2);
    await s.close();
    for (let i = 0; i < 100 && openToastStreams(svc.modules) > 1; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(openToastStreams(svc.modules)).toBe(1);
    // The remaining client still receives toasts.
    const n = request();
    await svc.notifier.notify(n);
    expect((await t.waitFor(1))[0]!.data.id).toBe(n.id);
  });

  it('shortens a toast whose title + body exceed 140 characters, in the stream and in every channel', async () => {
    const receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    const svc = await service({ WEBHOOK_SECRET });
    await putSettings(svc, {
      channels: { rollback: ['toast', 'webhook'] },
      webhookUrls: [receiver.url],
    });
    const s = await stream(svc, '/v1/installations/inst-a/toasts/stream');
    const n = request({
      toast: { title: 'T'.repeat(80), body: 'b'.repeat(300), severity: 'error' },
    });
    await svc.notifier.notify(n);
    const [{ data }] = (await s.waitFor(1)) as [SseEvent];
    expect(data.title).toBe(`${'T'.repeat(59)}…`);
    expect(data.body).toBe(`${'b'.repeat(TOAST_MAX_CHARS - 60 - 1)}…`);
    expect([...data.title].length + [...data.body].length).toBe(TOAST_MAX_CHARS);
    await svc.notifier.processDue();
    expect(JSON.parse(receiver.received[0]!.rawBody).toast).toEqual({
      title: data.title,
      body: data.body,
      severity: 'error',
    });

    // A toast within the limit is left alone.
    const short = request({ toast: { title: 'Hi', body: 'x'.repeat(138), severity: 'info' } });
    await svc.notifier.notify(short);
    const [, second] = await s.waitFor(2);
    expect(second!.data.body).toBe('x'.repeat(138));
  });
});

describe('GET /v1/sessions/:sessionId/toasts/stream', () => {
  it("streams only the toasts of that session, resolving the session's installation", async () => {
    const svc = await service();
    sessions(svc, { 'sess-1': 'inst-a', 'sess-2': 'inst-a' });
    const s = await stream(svc, '/v1/sessions/sess-1/toasts/stream', TOKEN_A);
    const all = await stream(svc, '/v1/installations/inst-a/toasts/stream', TOKEN_A);

    const other = request({ sessionId: 'sess-2' });
    const wide = request({ sessionId: null });
    const mine = request({ sessionId: 'sess-1' });
    const elsewhere = request({ installationId: 'inst-b', sessionId: 'sess-1' });
    for (const n of [other, wide, elsewhere, mine]) await svc.notifier.notify(n);

    await all.waitFor(3);
    expect(all.events.map((e) => e.data.id)).toEqual([other.id, wide.id, mine.id]);
    await s.waitFor(1);
    expect(s.events.map((e) => e.data.id)).toEqual([mine.id]);
  });

  it("answers 404 for an unknown session, another tenant's session, and when no sessions directory is registered", async () => {
    const svc = await service();
    const path = '/v1/sessions/sess-1/toasts/stream';
    expectError(await refusedStream(svc, path, OPERATOR), 404, 'not-found', 'sessionId');

    sessions(svc, { 'sess-1': 'inst-a' });
    expectError(await refusedStream(svc, path, TOKEN_B), 404, 'not-found', 'sessionId');
    expectError(
      await refusedStream(svc, '/v1/sessions/sess-9/toasts/stream', TOKEN_A),
      404,
      'not-found',
      'sessionId',
    );
    expectError(
      await refusedStream(svc, '/v1/sessions/bad%20id/toasts/stream', TOKEN_A),
      400,
      'validation-failed',
      'sessionId',
    );
    const ok = await stream(svc, path, TOKEN_A);
    expect(ok.comments).toContain('connected');
  });
});

describe('the workspace rollback domain event', () => {
  it('notifies a workspace rollback once: an error toast with a stable id, however often the event is delivered', async () => {
    const svc = await service({ WEBHOOK_SECRET });
    const s = await stream(svc, '/v1/installations/inst-a/toasts/stream', TOKEN_A);
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await svc.api(method, path, body);
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      return res.body;
    };
    const settle = async () => {
      await svc.engine.idle();
    };
    await call('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    await settle();
    await call('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
    });
    await settle();
    await call('POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    await settle();
    const { eventId } = await call('POST', '/v1/workspaces/ws-1/rollback', { reason: 'test' });
    await settle();

    const [event] = await s.waitFor(1);
    expect(event!.data).toMatchObject({
      id: `rollback:${eventId}`,
      kind: 'rollback',
      severity: 'error',
      title: 'Switched to HTTP',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      sessionId: null,
      sourceId: eventId,
    });
    expectNoSecrets(event);

    // At-least-once: the same event again changes nothing.
    await svc.modules.events.emit('rollback', {
      eventId,
      effectId: 'effect-again',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      kind: 'rollback',
      toast: { severity: 'error', title: 'Switched to HTTP', body: 'again' },
      transcriptNote: 'again',
      at: T0,
    });
    const marker = request();
    await svc.notifier.notify(marker);
    await s.waitFor(2);
    expect(s.events.map((e) => e.data.id)).toEqual([`rollback:${eventId}`, marker.id]);
    expect(await svc.notifier.deliveries('inst-a', eventId)).toEqual([
      expect.objectContaining({ channel: 'toast', status: 'delivered', attempts: 1 }),
    ]);
  });

  it('notifies a recovery with kind recovery and severity info', async () => {
    const svc = await service();
    const s = await stream(svc, '/v1/installations/inst-a/toasts/stream');
    await svc.modules.events.emit('rollback', {
      eventId: 'evt-recovered-1',
      effectId: 'e1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      kind: 'recovery',
      toast: { severity: 'error', title: 'Back on ACP', body: 'ACP is healthy again.' },
      transcriptNote: 'Recovered.',
      at: T0,
    });
    const [event] = await s.waitFor(1);
    expect(event!.data).toMatchObject({
      id: 'recovery:evt-recovered-1',
      kind: 'recovery',
      severity: 'info',
      sourceId: 'evt-recovered-1',
    });
  });
});

describe('ToastHub', () => {
  it('sends a comment heartbeat on an idle stream', async () => {
    const redis = realRedis();
    const hub = new ToastHub(redis, new NotifyKeys(testPrefix('hub')), silentLogger, {
      ...DEFAULT_STREAM_LIMITS,
      heartbeatMs: 30,
    });
    await hub.start();
    const app = express();
    app.get('/s', (req, res) =>
      hub.attach(req, res, { installationId: 'inst-a', sessionId: null }),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    cleanup.push(async () => {
      hub.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      redis.disconnect();
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const s = await openStream({ url }, '/s');
    cleanup.push(() => s.close());
    for (let i = 0; i < 100 && !s.comments.includes('heartbeat'); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(s.comments).toContain('heartbeat');
  });
});
