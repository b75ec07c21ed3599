/**
 * A delivery whose last allowed attempt was interrupted (its process stopped mid-attempt) is
 * dead-lettered by the next process that claims it, and that process says so in its log, as
 * it does for a delivery whose last attempt failed. Real Redis, a real slow receiver.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { createLogger } from '../../src/logger.ts';
import { NotifyKeys } from '../../src/notifications/keys.ts';
import { NotificationService } from '../../src/notifications/service.ts';
import { INTERRUPTED } from '../../src/store/job-queue.ts';
import { T0 } from '../helpers.ts';
import {
  WEBHOOK_SECRET,
  deliveries,
  putSettings,
  request,
  startNotify,
  startReceiver,
  useCleanup,
} from './support.ts';

/** NotificationService's default lease on a claimed attempt. */
const LEASE_MS = 60_000;
const cleanup = useCleanup();

describe('an interrupted last attempt', () => {
  it('is logged as dead-lettered by the process that finds it, with its delivery id and the reason', async () => {
    const receiver = await startReceiver([200], 300);
    cleanup.push(() => receiver.close());
    const first = await startNotify({ WEBHOOK_SECRET, NOTIFY_MAX_ATTEMPTS: '1' });
    cleanup.push(() => first.close());
    await putSettings(first, { channels: { rollback: ['webhook'] }, webhookUrls: [receiver.url] });
    const n = request();
    await first.notifier.notify(n);
    const slow = first.notifier.processDue();
    while (receiver.received.length === 0) await new Promise((r) => setTimeout(r, 5));

    // Another process, after the lease of the first one's attempt.
    const lines: Record<string, unknown>[] = [];
    const second = new NotificationService({
      redis: first.redis,
      keys: new NotifyKeys(first.prefix),
      clock: new ManualClock(T0 + LEASE_MS),
      logger: createLogger('info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
      config: first.config.notifications,
      replayEvents: 100,
    });
    expect((await second.processDue()).attempted).toBe(0);
    const [delivery] = await deliveries(first, n.sourceId);
    expect(delivery).toMatchObject({ status: 'dead-lettered', lastError: INTERRUPTED });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'notification dead-lettered',
        installationId: 'inst-a',
        deliveryId: delivery.deliveryId,
        channel: 'webhook',
        attempt: 1,
        error: INTERRUPTED,
      }),
    );
    await second.stop();
    expect((await slow).attempted).toBe(0);
  });
});
