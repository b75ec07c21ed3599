/**
 * NOTIFY_RETENTION_MS on real Redis: what reaches a final state (delivered, skipped, discarded
 * from the dead letters) gets the retention as its expiry in the script that writes that state;
 * what is pending or dead-lettered has none; a request's idempotency record is its own key with
 * the retention; requests recorded in the older `requests` hash still answer. Expiry is Redis's
 * own clock, so the tests read each key's PTTL rather than wait for it.
 */
import { describe, expect, it } from 'vitest';
import { deliveryQueue } from '../../src/notifications/deliveries.ts';
import { NotifyKeys } from '../../src/notifications/keys.ts';
import {
  type NotifyService,
  WEBHOOK_SECRET,
  deliveries,
  putSettings,
  request,
  startNotify,
  startReceiver,
  useCleanup,
} from './support.ts';

const RETENTION = 600_000;
const cleanup = useCleanup();

async function setup(statuses: number[], env: Record<string, string> = {}) {
  const receiver = await startReceiver(statuses);
  cleanup.push(() => receiver.close());
  const svc = await startNotify({
    WEBHOOK_SECRET,
    NOTIFY_RETENTION_MS: String(RETENTION),
    ...env,
  });
  cleanup.push(() => svc.close());
  await putSettings(svc, {
    channels: { rollback: ['toast', 'webhook', 'email'] },
    webhookUrls: [receiver.url],
    emailTo: ['ops@example.com'],
  });
  const keys = new NotifyKeys(svc.prefix);
  const queue = deliveryQueue(svc.redis, keys, svc.config.notifications, 0);
  return { svc, receiver, keys, queue };
}

/** The deliveries of a source by channel. */
async function byChannel(svc: NotifyService, sourceId: string) {
  return Object.fromEntries((await deliveries(svc, sourceId)).map((d) => [d.channel, d]));
}

/** Expect a key to expire within the retention (and not to have expired yet). */
async function expectExpiring(svc: NotifyService, key: string) {
  const ttl = await svc.redis.pttl(key);
  expect(ttl, key).toBeGreaterThan(0);
  expect(ttl, key).toBeLessThanOrEqual(RETENTION);
}

describe('notification retention (NOTIFY_RETENTION_MS)', () => {
  it('expires final deliveries, the source list and the request record, not a pending delivery', async () => {
    const { svc, keys } = await setup([200]);
    const n = request();
    await svc.notifier.notify(n);
    const d = await byChannel(svc, n.sourceId);
    expect(d.toast).toMatchObject({ status: 'delivered' });
    expect(d.email).toMatchObject({ status: 'skipped' });
    expect(d.webhook).toMatchObject({ status: 'pending' });
    const key = (c: string) => keys.delivery('inst-a', d[c].deliveryId);

    await expectExpiring(svc, key('toast'));
    await expectExpiring(svc, key('email'));
    expect(await svc.redis.pttl(key('webhook'))).toBe(-1);
    await expectExpiring(svc, keys.source('inst-a', n.sourceId));
    await expectExpiring(svc, keys.request('inst-a', n.id));
    // Nothing is written to the hash requests used to be kept in.
    expect(await svc.redis.exists(keys.requests('inst-a'))).toBe(0);

    expect(await svc.notifier.processDue()).toMatchObject({ delivered: 1 });
    await expectExpiring(svc, key('webhook'));
    expect((await byChannel(svc, n.sourceId)).webhook).toMatchObject({ status: 'delivered' });
  });

  it('keeps a dead-lettered delivery until it is discarded, and a retried one while it waits', async () => {
    const { svc, keys, queue } = await setup([500], { NOTIFY_MAX_ATTEMPTS: '1' });
    const path = '/v1/installations/inst-a/notifications/dead-letters';
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const n = request();
      await svc.notifier.notify(n);
      expect(await svc.notifier.processDue()).toMatchObject({ deadLettered: 1 });
      ids.push((await byChannel(svc, n.sourceId)).webhook.deliveryId);
    }
    const [discarded, retried] = ids.map((id) => keys.delivery('inst-a', id)) as [string, string];
    for (const key of [discarded, retried]) expect(await svc.redis.pttl(key)).toBe(-1);
    expect((await svc.api('GET', path)).body.items).toHaveLength(2);

    const now = svc.clock.now();
    expect(await queue.discardDead('inst-a', ids[0]!, now)).toBe(true);
    await expectExpiring(svc, discarded);
    expect(await svc.redis.hget(discarded, 'status')).toBe('dead-lettered');
    expect(await queue.retryDead('inst-a', ids[1]!, now)).toBe(true);
    expect(await svc.redis.pttl(retried)).toBe(-1);
    expect((await svc.api('GET', path)).body.items).toHaveLength(0);
    // Dead again after its retry: still kept, listed again.
    expect(await svc.notifier.processDue()).toMatchObject({ deadLettered: 1 });
    expect(await svc.redis.pttl(retried)).toBe(-1);
    expect((await svc.api('GET', path)).body.items.map((d: any) => d.deliveryId)).toEqual([ids[1]]);
  });

  it('stays idempotent by request id, and leaves deliveries alone once the request record expired', async () => {
    const { svc, keys, receiver } = await setup([200]);
    const n = request();
    const channels = await svc.notifier.notify(n);
    expect(await svc.notifier.processDue()).toMatchObject({ delivered: 1 });
    const source = keys.source('inst-a', n.sourceId);
    const before = await deliveries(svc, n.sourceId);

    expect(await svc.notifier.notify(n)).toEqual(channels);
    // As once the retention ran out for the request record but not yet for its deliveries.
    await svc.redis.del(keys.request('inst-a', n.id));
    await svc.notifier.notify(n);
    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 0 });
    expect(receiver.received).toHaveLength(1);
    expect(await svc.redis.llen(source)).toBe(3);
    expect(await deliveries(svc, n.sourceId)).toEqual(before);
  });

  it('still answers a request recorded in the older requests hash, which then expires', async () => {
    const { svc, keys } = await setup([200]);
    const n = request();
    const summary = {
      id: n.id,
      kind: n.kind,
      sourceId: n.sourceId,
      workspaceId: n.workspaceId,
      sessionId: null,
      channels: ['toast'],
      createdAt: new Date(svc.clock.now()).toISOString(),
    };
    await svc.redis.hset(keys.requests('inst-a'), n.id, JSON.stringify(summary));
    expect(await svc.notifier.notify(n)).toEqual(['toast']);
    expect(await svc.redis.exists(keys.source('inst-a', n.sourceId))).toBe(0);
    expect(await svc.redis.exists(keys.request('inst-a', n.id))).toBe(0);
    expect(await svc.redis.pttl(keys.requests('inst-a'))).toBe(-1);

    // A new request gives the old hash the retention; its entries answer until then.
    await svc.notifier.notify(request());
    await expectExpiring(svc, keys.requests('inst-a'));
    expect(await svc.notifier.notify(n)).toEqual(['toast']);
  });
});
