/**
 * The poller's installation set (`<p>:notify:installations`): an installation whose deliveries
 * all finished is taken out of it, so the poller no longer runs a claim for it on every pass,
 * and a later delivery puts it back. Real Redis, a real webhook receiver, the manual clock.
 */
import { describe, expect, it, vi } from 'vitest';
import { deliveryQueue } from '../../src/notifications/deliveries.ts';
import { NotifyKeys } from '../../src/notifications/keys.ts';
import { Keys, NOTIFY_QUEUE } from '../../src/store/keys.ts';
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

const cleanup = useCleanup();

async function setup(statuses: number[], env: Record<string, string> = {}) {
  const receiver = await startReceiver(statuses);
  cleanup.push(() => receiver.close());
  const svc = await startNotify({ WEBHOOK_SECRET, NOTIFY_BASE_DELAY_MS: '1000', ...env });
  cleanup.push(() => svc.close());
  await putSettings(svc, { channels: { rollback: ['webhook'] }, webhookUrls: [receiver.url] });
  return { svc, receiver };
}

/** The due zsets of the queues the poller claimed from during `fn`. */
async function claimedFrom(svc: NotifyService, fn: () => Promise<unknown>): Promise<string[]> {
  const client = svc.redis as unknown as Record<string, (...a: string[]) => Promise<unknown>>;
  const spy = vi.spyOn(client, 'claimJobs');
  try {
    await fn();
    return spy.mock.calls.map((c) => c[0]!);
  } finally {
    spy.mockRestore();
  }
}

const member = (svc: NotifyService, inst = 'inst-a') =>
  svc.redis.sismember(new NotifyKeys(svc.prefix).installations(), inst);

describe("the notification poller's installation set", () => {
  it('stops visiting an installation whose deliveries all finished, and visits it again for a new one', async () => {
    const { svc, receiver } = await setup([200]);
    const due = new Keys(svc.prefix).jobQueue('inst-a', NOTIFY_QUEUE).due;
    const first = request();
    await svc.notifier.notify(first);
    expect(await member(svc)).toBe(1);
    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 1, delivered: 1 });

    // The pass that finds the queue empty takes the installation out; later passes skip it.
    await svc.notifier.processDue();
    expect(await member(svc)).toBe(0);
    expect(await claimedFrom(svc, () => svc.notifier.processDue())).not.toContain(due);

    const second = request();
    await svc.notifier.notify(second);
    expect(await member(svc)).toBe(1);
    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(receiver.received).toHaveLength(2);
    expect((await deliveries(svc, second.sourceId))[0]).toMatchObject({ status: 'delivered' });
  });

  it('keeps an installation while a delivery waits for its retry or is dead-lettered', async () => {
    const { svc, receiver } = await setup([500, 500, 200], { NOTIFY_MAX_ATTEMPTS: '2' });
    const n = request();
    await svc.notifier.notify(n);
    expect(await svc.notifier.processDue()).toMatchObject({ retrying: 1 });
    // Not due yet: nothing to claim, but the job is there.
    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 0 });
    expect(await member(svc)).toBe(1);
    svc.clock.advance(1000);
    expect(await svc.notifier.processDue()).toMatchObject({ deadLettered: 1 });
    await svc.notifier.processDue();
    // A dead letter keeps its installation in the set (the fleet gauges count it from there),
    // and an operator's retry makes it due at once for the poller.
    expect(await member(svc)).toBe(1);
    const [dead] = (await deliveries(svc, n.sourceId)) as { deliveryId: string }[];
    const queue = deliveryQueue(svc.redis, new NotifyKeys(svc.prefix), svc.config.notifications, 0);
    expect(await queue.retryDead('inst-a', dead!.deliveryId, svc.clock.now())).toBe(true);
    expect(await svc.notifier.processDue()).toMatchObject({ delivered: 1 });
    expect(receiver.received).toHaveLength(3);
    await svc.notifier.processDue();
    expect(await member(svc)).toBe(0);
  });
});
