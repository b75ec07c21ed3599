/**
 * `lumilink_dead_letters{kind}`: the dead letters waiting for an operator, fleet-wide, by the
 * kinds of `POST /v1/installations/:id/dead-letters/:kind/:action`. Real service with every
 * module, real Redis under a per-test prefix, a real (closed) webhook receiver.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createConsoleModule } from '../../src/console/module.ts';
import { MODULES } from '../../src/modules.ts';
import type { NotificationService } from '../../src/notifications/service.ts';
import { SERVICES } from '../../src/notifications/types.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { EFFECT_QUEUE } from '../../src/store/keys.ts';
import { type TestService, startService } from '../helpers.ts';
import { WEBHOOK_SECRET, putSettings, request, startReceiver } from '../notifications/support.ts';
import { scrape, valueOf } from './support.ts';

const modules = [
  ...MODULES.filter((m) => m.name !== 'console'),
  createConsoleModule('/nonexistent/lumilink-console'),
];
const started: TestService[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.close();
});

const deadLetters = async (s: TestService) => {
  const { text } = await scrape(s);
  return Object.fromEntries(
    ['timers', 'effects', 'notifications'].map((kind) => [
      kind,
      valueOf(text, 'lumilink_dead_letters', { kind }),
    ]),
  );
};

describe('lumilink_dead_letters', () => {
  it('counts the dead timers, effects and notification deliveries of every installation, until an operator settles them', async () => {
    const s = await startService({ WEBHOOK_SECRET, NOTIFY_MAX_ATTEMPTS: '1' }, undefined, modules);
    started.push(s);
    expect(await deadLetters(s)).toEqual({ timers: 0, effects: 0, notifications: 0 });
    const now = s.clock.now();

    // inst-a, with a connection: a timer the poller could not apply, an effect out of attempts.
    const registered = await s.api('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    expect(registered.status).toBe(201);
    await s.store.deadLetterTimer('inst-a', 'workspace:ws-9|x', now, 'actor is gone');
    const effects = new JobQueue(s.redis, s.prefix, EFFECT_QUEUE, {
      maxAttempts: 1,
      baseDelayMs: 1000,
      leaseMs: 1000,
    });
    await effects.schedule('inst-a', [{ id: 'eff-1', due: 0, data: '{"type":"notifyUsers"}' }]);
    const [job] = await effects.claim('inst-a', now, 1);
    expect(await effects.fail('inst-a', job!, 'transport down', now)).toBe('dead-lettered');

    // inst-n: no connection at all, only a webhook whose receiver is gone.
    const closed = await startReceiver();
    await closed.close();
    await putSettings(
      s,
      { channels: { 'automation-skip': ['webhook'] }, webhookUrls: [closed.url] },
      'inst-n',
    );
    const notifier = s.modules.services.get(SERVICES.notifications) as NotificationService;
    await notifier.notify(request({ installationId: 'inst-n', kind: 'automation-skip' }));
    expect((await notifier.processDue()).deadLettered).toBe(1);

    expect(await deadLetters(s)).toEqual({ timers: 1, effects: 1, notifications: 1 });

    const [dead] = (await notifier.deadLetters('inst-n', { limit: 1 })).items;
    const discard = await s.api(
      'POST',
      '/v1/installations/inst-n/dead-letters/notifications/discard',
      { id: dead!.deliveryId },
    );
    expect(discard.status).toBe(200);
    const retry = await s.api('POST', '/v1/installations/inst-a/dead-letters/effects/retry', {
      id: 'eff-1',
    });
    expect(retry.status).toBe(200);
    expect(await deadLetters(s)).toEqual({ timers: 1, effects: 0, notifications: 0 });
  });
});
