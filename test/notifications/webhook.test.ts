/**
 * Webhook delivery end to end: real Redis under a per-test prefix, a real local HTTP receiver,
 * and a manual clock. Attempts run only when a test calls `processDue()` (what AppModule.poll
 * does every NOTIFY_POLL_MS), so backoff is checked to the millisecond without sleeping.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createConsoleModule } from '../../src/console/module.ts';
import { MODULES } from '../../src/modules.ts';
import type { NotificationService } from '../../src/notifications/service.ts';
import { SERVICES } from '../../src/notifications/types.ts';
import { INTERRUPTED } from '../../src/store/job-queue.ts';
import { T0, TOKEN_A, TOKEN_B, startService } from '../helpers.ts';
import {
  type NotifyService,
  WEBHOOK_SECRET,
  deliveries,
  expectError,
  expectNoSecrets,
  putSettings,
  request,
  startNotify,
  startReceiver,
  useCleanup,
} from './support.ts';

const BASE = 1000;
/** NotificationService's default lease on a claimed attempt. */
const LEASE_MS = 60_000;
const cleanup = useCleanup();

async function setup(
  opts: {
    statuses?: number[];
    env?: Record<string, string>;
    delayMs?: number;
    secret?: boolean;
  } = {},
) {
  const receiver = await startReceiver(opts.statuses, opts.delayMs);
  cleanup.push(() => receiver.close());
  const svc = await startNotify({
    ...(opts.secret === false ? {} : { WEBHOOK_SECRET }),
    NOTIFY_BASE_DELAY_MS: String(BASE),
    NOTIFY_MAX_ATTEMPTS: '5',
    ...opts.env,
  });
  cleanup.push(() => svc.close());
  await putSettings(svc, { channels: { rollback: ['webhook'] }, webhookUrls: [receiver.url] });
  return { svc, receiver };
}

async function webhookRecord(svc: NotifyService, sourceId: string) {
  const items = await deliveries(svc, sourceId);
  expect(items).toHaveLength(1);
  return items[0];
}

describe('webhook delivery', () => {
  it('retries a failing webhook with backoff and delivers it once the server recovers', async () => {
    const { svc, receiver } = await setup({ statuses: [500, 503, 200] });
    const n = request();
    expect(await svc.notifier.notify(n)).toEqual(['webhook']);
    expect(await webhookRecord(svc, n.sourceId)).toMatchObject({
      channel: 'webhook',
      target: receiver.url,
      status: 'pending',
      attempts: 0,
    });

    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 1, retrying: 1 });
    expect(await webhookRecord(svc, n.sourceId)).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: 'HTTP 500 Internal Server Error',
      deliveredAt: null,
    });

    // First retry after baseDelayMs * 2^0, not a millisecond earlier.
    svc.clock.advance(BASE - 1);
    expect((await svc.notifier.processDue()).attempted).toBe(0);
    svc.clock.advance(1);
    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 1, retrying: 1 });
    expect(await webhookRecord(svc, n.sourceId)).toMatchObject({ status: 'failed', attempts: 2 });

    // Second retry after baseDelayMs * 2^1.
    svc.clock.advance(2 * BASE - 1);
    expect((await svc.notifier.processDue()).attempted).toBe(0);
    svc.clock.advance(1);
    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 1, delivered: 1 });

    const record = await webhookRecord(svc, n.sourceId);
    expect(record).toMatchObject({
      status: 'delivered',
      attempts: 3,
      deliveredAt: new Date(T0 + 3 * BASE).toISOString(),
    });
    // Delivered once, never again.
    svc.clock.advance(60 * BASE);
    expect((await svc.notifier.processDue()).attempted).toBe(0);
    expect(receiver.received).toHaveLength(3);

    // One delivery id and one body across attempts: the receiver can deduplicate.
    const ids = new Set(receiver.received.map((r) => r.headers['x-lumilink-delivery']));
    expect([...ids]).toEqual([record.deliveryId]);
    expect(new Set(receiver.received.map((r) => r.rawBody)).size).toBe(1);
    expect(receiver.received.map((r) => r.headers['x-lumilink-attempt'])).toEqual(['1', '2', '3']);
    expect(receiver.received.map((r) => r.headers['x-lumilink-timestamp'])).toEqual([
      new Date(T0).toISOString(),
      new Date(T0 + BASE).toISOString(),
      new Date(T0 + 3 * BASE).toISOString(),
    ]);
  });

  it('signs the attempt time and the exact raw body with HMAC-SHA256 of WEBHOOK_SECRET in X-LumiLink-Signature', async () => {
    const { svc, receiver } = await setup();
    const n = request({ details: { note: 'ünïcode ✓', nested: { a: [1, 2] } } });
    await svc.notifier.notify(n);
    await svc.notifier.processDue();

    expect(receiver.received).toHaveLength(1);
    const [hook] = receiver.received;
    expect(hook!.method).toBe('POST');
    expect(hook!.path).toBe('/hooks/lumilink');
    expect(hook!.headers['content-type']).toBe('application/json');
    const header = String(hook!.headers['x-lumilink-signature']);
    const t = Math.floor(T0 / 1000);
    expect(header).toMatch(new RegExp(`^t=${t},v1=[0-9a-f]{64}$`));
    const signed = `${t}.${hook!.rawBody}`;
    const expected = createHmac('sha256', WEBHOOK_SECRET).update(signed).digest();
    expect(timingSafeEqual(Buffer.from(header.split('v1=')[1]!, 'hex'), expected)).toBe(true);
    // Another key, or the body alone, does not verify.
    const forged = createHmac('sha256', 'another-secret-0000').update(signed).digest('hex');
    expect(header).not.toContain(forged);
    const bodyOnly = createHmac('sha256', WEBHOOK_SECRET).update(hook!.rawBody).digest('hex');
    expect(header).not.toContain(bodyOnly);

    const body = JSON.parse(hook!.rawBody);
    expect(body).toEqual({
      deliveryId: hook!.headers['x-lumilink-delivery'],
      notificationId: n.id,
      kind: 'rollback',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      sessionId: null,
      sourceId: n.sourceId,
      createdAt: new Date(T0).toISOString(),
      toast: n.toast,
      details: n.details,
    });
    expectNoSecrets(hook!.rawBody);
  });

  it('dead-letters a delivery after NOTIFY_MAX_ATTEMPTS failures and lists it through the API', async () => {
    const { svc, receiver } = await setup({ statuses: [500], env: { NOTIFY_MAX_ATTEMPTS: '3' } });
    const n = request();
    await svc.notifier.notify(n);
    expect((await svc.notifier.processDue()).retrying).toBe(1);
    svc.clock.advance(BASE);
    expect((await svc.notifier.processDue()).retrying).toBe(1);
    svc.clock.advance(2 * BASE);
    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 1, deadLettered: 1 });

    const record = await webhookRecord(svc, n.sourceId);
    expect(record).toMatchObject({
      status: 'dead-lettered',
      attempts: 3,
      lastError: 'HTTP 500 Internal Server Error',
      deadLetteredAt: new Date(T0 + 3 * BASE).toISOString(),
    });
    svc.clock.advance(3600 * BASE);
    expect((await svc.notifier.processDue()).attempted).toBe(0);
    expect(receiver.received).toHaveLength(3);

    for (const token of [undefined, TOKEN_A]) {
      const res = await svc.api(
        'GET',
        '/v1/installations/inst-a/notifications/dead-letters',
        undefined,
        token,
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ items: [record], nextCursor: null });
      expectNoSecrets(res.body);
    }
    expectError(
      await svc.api(
        'GET',
        '/v1/installations/inst-a/notifications/dead-letters',
        undefined,
        TOKEN_B,
      ),
      404,
      'not-found',
      'installationId',
    );
  });

  it('pages dead letters newest first with a cursor', async () => {
    const { svc } = await setup({ statuses: [500], env: { NOTIFY_MAX_ATTEMPTS: '1' } });
    const sources: string[] = [];
    for (let i = 0; i < 3; i++) {
      const n = request();
      sources.push(n.sourceId);
      await svc.notifier.notify(n);
      expect((await svc.notifier.processDue()).deadLettered).toBe(1);
      svc.clock.advance(BASE);
    }
    const path = '/v1/installations/inst-a/notifications/dead-letters';
    const first = await svc.api('GET', `${path}?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.items.map((d: any) => d.sourceId)).toEqual([sources[2], sources[1]]);
    expect(first.body.nextCursor).toBeTypeOf('string');
    const second = await svc.api(
      'GET',
      `${path}?limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    expect(second.body).toMatchObject({ nextCursor: null });
    expect(second.body.items.map((d: any) => d.sourceId)).toEqual([sources[0]]);

    expectError(await svc.api('GET', `${path}?cursor=nope`), 400, 'validation-failed', 'cursor');
    expectError(await svc.api('GET', `${path}?limit=0`), 400, 'validation-failed', 'limit');
    expectError(await svc.api('GET', `${path}?page=2`), 400, 'validation-failed', 'page');
  });

  it('refuses a well-formed cursor no page gave (400 naming cursor), and pages on from one whose dead letter was discarded or retried since', async () => {
    const receiver = await startReceiver([500]);
    cleanup.push(() => receiver.close());
    // With the console module: its routes retry and discard a notification dead letter.
    const modules = [
      ...MODULES.filter((m) => m.name !== 'console'),
      createConsoleModule('/nonexistent/lumilink-console'),
    ];
    const svc = await startService(
      { WEBHOOK_SECRET, NOTIFY_MAX_ATTEMPTS: '1' },
      undefined,
      modules,
    );
    cleanup.push(() => svc.close());
    const notifier = svc.modules.services.get(SERVICES.notifications) as NotificationService;
    const settings = { channels: { rollback: ['webhook'] }, webhookUrls: [receiver.url] };
    for (const inst of ['inst-a', 'inst-b']) await putSettings(svc, settings, inst);
    const sources: string[] = [];
    for (let i = 0; i < 4; i++) {
      const n = request();
      sources.push(n.sourceId);
      await notifier.notify(n);
      expect((await notifier.processDue()).deadLettered).toBe(1);
      svc.clock.advance(BASE);
    }
    await notifier.notify(request({ installationId: 'inst-b' }));
    expect((await notifier.processDue()).deadLettered).toBe(1);
    const page = (inst: string, cursor: string | null, limit = 1) =>
      svc.api(
        'GET',
        `/v1/installations/${inst}/notifications/dead-letters?limit=${limit}` +
          (cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`),
      );
    const first = await page('inst-a', null);
    expect(first.body.items.map((d: any) => d.sourceId)).toEqual([sources[3]]);
    const cursor = first.body.nextCursor as string;
    const [at, id] = cursor.split(':') as [string, string];

    // Edited (a millisecond earlier, another delivery id) or another installation's: refused.
    const foreign = (await page('inst-b', null)).body.nextCursor as string;
    expect(foreign).toMatch(/^\d{15}:dlv_/);
    for (const bad of [
      `${String(Number(at) - 1).padStart(15, '0')}:${id}`,
      `${at}:dlv_${'0'.repeat(32)}`,
      foreign,
    ]) {
      expectError(await page('inst-a', bad), 400, 'validation-failed', 'cursor');
    }

    // The page's last dead letter discarded, the next one retried: their cursors still page on.
    const settle = (action: string, deliveryId: string) =>
      svc.api('POST', `/v1/installations/inst-a/dead-letters/notifications/${action}`, {
        id: deliveryId,
      });
    expect((await settle('discard', first.body.items[0].deliveryId)).status).toBe(200);
    const second = await page('inst-a', cursor);
    expect(second.status).toBe(200);
    expect(second.body.items.map((d: any) => d.sourceId)).toEqual([sources[2]]);
    expect((await settle('retry', second.body.items[0].deliveryId)).status).toBe(200);
    const third = await page('inst-a', second.body.nextCursor, 2);
    expect(third.status).toBe(200);
    expect(third.body.items.map((d: any) => d.sourceId)).toEqual([sources[1], sources[0]]);
  });

  it('continues a pending delivery in a second engine started on the same keys after the first stopped', async () => {
    const { svc: first, receiver } = await setup({ statuses: [500, 200] });
    const n = request();
    await first.notifier.notify(n);
    expect((await first.notifier.processDue()).retrying).toBe(1);
    await first.stopKeepingKeys();

    const second = await startNotify({
      KEY_PREFIX: first.prefix,
      WEBHOOK_SECRET,
      NOTIFY_BASE_DELAY_MS: String(BASE),
    });
    cleanup.push(() => second.close());
    second.clock.set(T0 + BASE);
    expect(await second.notifier.processDue()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(await webhookRecord(second, n.sourceId)).toMatchObject({
      status: 'delivered',
      attempts: 2,
    });
    expect(receiver.received.map((r) => r.headers['x-lumilink-attempt'])).toEqual(['1', '2']);
  });

  it('sends each attempt once when two engine processes process the same due jobs at once', async () => {
    const { svc: first, receiver } = await setup({ delayMs: 100 });
    const second = await startNotify({ KEY_PREFIX: first.prefix, WEBHOOK_SECRET });
    cleanup.push(() => second.close());
    for (let i = 0; i < 5; i++) await first.notifier.notify(request());

    const [a, b] = await Promise.all([first.notifier.processDue(), second.notifier.processDue()]);
    expect(a.attempted + b.attempted).toBe(5);
    expect(a.delivered + b.delivered).toBe(5);
    expect(receiver.received).toHaveLength(5);
    expect(new Set(receiver.received.map((r) => r.headers['x-lumilink-delivery'])).size).toBe(5);
  });

  it('lets another process retry an attempt whose lease expired, and ignores the late outcome of the first', async () => {
    const { svc: first, receiver } = await setup({ delayMs: 300 });
    const second = await startNotify({ KEY_PREFIX: first.prefix, WEBHOOK_SECRET });
    cleanup.push(() => second.close());
    const n = request();
    await first.notifier.notify(n);

    const slow = first.notifier.processDue();
    while (receiver.received.length === 0) await new Promise((r) => setTimeout(r, 5));
    // Still inside the first attempt's lease: the job is not due for anyone else.
    second.clock.set(T0 + LEASE_MS - 1);
    expect((await second.notifier.processDue()).attempted).toBe(0);
    second.clock.set(T0 + LEASE_MS);
    expect(await second.notifier.processDue()).toMatchObject({ attempted: 1, delivered: 1 });
    expect((await slow).attempted).toBe(0);

    expect(await webhookRecord(second, n.sourceId)).toMatchObject({
      status: 'delivered',
      attempts: 2,
      deliveredAt: new Date(T0 + LEASE_MS).toISOString(),
    });
    expect(receiver.received.map((r) => r.headers['x-lumilink-attempt'])).toEqual(['1', '2']);
    expect(new Set(receiver.received.map((r) => r.headers['x-lumilink-delivery'])).size).toBe(1);
  });

  it('dead-letters a delivery whose last allowed attempt was interrupted, once its lease expired', async () => {
    const { svc: first, receiver } = await setup({
      delayMs: 300,
      env: { NOTIFY_MAX_ATTEMPTS: '1' },
    });
    const second = await startNotify({
      KEY_PREFIX: first.prefix,
      WEBHOOK_SECRET,
      NOTIFY_MAX_ATTEMPTS: '1',
    });
    cleanup.push(() => second.close());
    const n = request();
    await first.notifier.notify(n);

    const slow = first.notifier.processDue();
    while (receiver.received.length === 0) await new Promise((r) => setTimeout(r, 5));
    // The running attempt is counted while it runs.
    expect(await webhookRecord(second, n.sourceId)).toMatchObject({
      status: 'pending',
      attempts: 1,
    });
    // Its process "stopped": after the lease, no attempt is left, so it is dead-lettered.
    second.clock.set(T0 + LEASE_MS);
    expect((await second.notifier.processDue()).attempted).toBe(0);
    const dead = {
      status: 'dead-lettered',
      attempts: 1,
      lastError: INTERRUPTED,
      deadLetteredAt: new Date(T0 + LEASE_MS).toISOString(),
    };
    expect(await webhookRecord(second, n.sourceId)).toMatchObject(dead);
    // The late outcome of the first attempt changes nothing.
    expect((await slow).attempted).toBe(0);
    expect(await webhookRecord(second, n.sourceId)).toMatchObject(dead);
    const list = await second.api('GET', '/v1/installations/inst-a/notifications/dead-letters');
    expect(list.body.items.map((d: any) => d.sourceId)).toEqual([n.sourceId]);
    expect(receiver.received).toHaveLength(1);
  });

  it('records an unreachable URL as failed with the reason, storing its target without the query', async () => {
    const closed = await startReceiver();
    await closed.close();
    const svc = await startNotify({ WEBHOOK_SECRET });
    cleanup.push(() => svc.close());
    const url = `http://127.0.0.1:${closed.port}/hook?token=query-secret-123`;
    await putSettings(svc, { channels: { rollback: ['webhook'] }, webhookUrls: [url] });
    const n = request();
    await svc.notifier.notify(n);
    await svc.notifier.processDue();
    const [record] = await deliveries(svc, n.sourceId);
    expect(record).toMatchObject({
      target: `http://127.0.0.1:${closed.port}/hook`,
      status: 'failed',
      attempts: 1,
    });
    expect(record.lastError).toContain('ECONNREFUSED');
    expect(JSON.stringify(record)).not.toContain('query-secret-123');
  });

  it('records webhook deliveries as skipped with the reason when WEBHOOK_SECRET is not configured', async () => {
    const { svc, receiver } = await setup({ secret: false });
    const n = request();
    expect(await svc.notifier.notify(n)).toEqual([]);
    expect(await webhookRecord(svc, n.sourceId)).toMatchObject({
      channel: 'webhook',
      target: receiver.url,
      status: 'skipped',
      attempts: 0,
      lastError: 'WEBHOOK_SECRET is not configured: webhooks are not sent',
    });
    expect((await svc.notifier.processDue()).attempted).toBe(0);
    expect(receiver.received).toHaveLength(0);
  });
});
