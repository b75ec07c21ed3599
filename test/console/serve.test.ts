/**
 * What the console module adds to the service without a browser: `/` when the console is not
 * built, and the operator-only dead-letter routes for timers and effects on real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleModule } from '../../src/console/module.ts';
import { MODULES } from '../../src/modules.ts';
import type { NotificationService } from '../../src/notifications/service.ts';
import { SERVICES } from '../../src/notifications/types.ts';
import { JobQueue } from '../../src/store/job-queue.ts';
import { EFFECT_QUEUE } from '../../src/store/keys.ts';
import { OPERATOR, TOKEN_A, type TestService, checkInvariants, startService } from '../helpers.ts';
import {
  WEBHOOK_SECRET,
  deliveries,
  putSettings,
  request,
  startReceiver,
} from '../notifications/support.ts';

let s: TestService;
const INST = 'inst-a';
const modules = [
  ...MODULES.filter((m) => m.name !== 'console'),
  createConsoleModule('/nonexistent/lumilink-console'),
];

beforeAll(async () => {
  s = await startService({}, undefined, modules);
});

afterAll(async () => {
  await s?.close();
});

async function api(method: string, path: string, body?: unknown, token: string | null = OPERATOR) {
  const res = await s.api(method, path, body, token);
  checkInvariants(res);
  return res;
}

describe('GET / without a built console', () => {
  it('answers 404 saying how to build it, and leaves the other routes alone', async () => {
    const res = await fetch(`${s.url}/`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('not-found');
    expect(body.error.message).toContain('npm run build:console');
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    const post = await api('POST', '/', {});
    expect(post.status).toBe(404);
    expect(post.body.error.message).toBe('no route for POST /');
  });
});

describe('dead letters of timers and effects', () => {
  const timer = 'workspace:ws-9|xstate.after.cooldownDelay.workspace.http.cooldown';
  const effect = 'eff-test-1';
  const keys = () => s.store.keys;

  it('lists nothing on a fresh installation and refuses installation tokens', async () => {
    const res = await api('GET', `/v1/installations/${INST}/dead-letters`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ installationId: INST, timers: [], effects: [] });
    const tenant = await api('GET', `/v1/installations/${INST}/dead-letters`, undefined, TOKEN_A);
    expect(tenant.status).toBe(403);
    const retry = await api(
      'POST',
      `/v1/installations/${INST}/dead-letters/timers/retry`,
      { id: timer },
      TOKEN_A,
    );
    expect(retry.status).toBe(403);
  });

  it('lists a dead timer, retries it (due now), and discards another', async () => {
    const now = s.clock.now();
    await s.redis.zadd(keys().timers(INST), now - 1000, timer);
    await s.store.deadLetterTimer(INST, timer, now - 1000, 'Error: actor workspace:ws-9 is gone');
    expect(await s.store.dueTimers(INST, now, 10)).toEqual([]);

    const list = await api('GET', `/v1/installations/${INST}/dead-letters`);
    expect(list.body.timers).toEqual([
      {
        id: timer,
        kind: 'workspace',
        actorId: 'workspace:ws-9',
        event: 'xstate.after.cooldownDelay.workspace.http.cooldown',
        dueAt: new Date(now - 1000).toISOString(),
        reason: 'Error: actor workspace:ws-9 is gone',
      },
    ]);

    const retry = await api('POST', `/v1/installations/${INST}/dead-letters/timers/retry`, {
      id: timer,
    });
    expect(retry.status).toBe(200);
    expect((await s.store.dueTimers(INST, now, 10)).map((t) => [t.member, t.due])).toEqual([
      [timer, now],
    ]);
    expect((await api('GET', `/v1/installations/${INST}/dead-letters`)).body.timers).toEqual([]);

    await s.redis.hset(keys().timerEvents(INST), timer, '{"type":"X"}');
    await s.store.deadLetterTimer(INST, timer, now, 'failed again');
    const discard = await api('POST', `/v1/installations/${INST}/dead-letters/timers/discard`, {
      id: timer,
    });
    expect(discard.status).toBe(200);
    expect(await s.redis.hexists(keys().deadTimers(INST), timer)).toBe(0);
    expect(await s.redis.hexists(keys().timerEvents(INST), timer)).toBe(0);
    expect(await s.store.dueTimers(INST, now, 10)).toEqual([]);
  });

  it('lists a dead effect with its data, retries it into the outbox, then discards it', async () => {
    const now = s.clock.now();
    const data = { id: effect, type: 'notifyUsers', actorId: 'ws-9', params: { kind: 'rollback' } };
    // maxAttempts 1: the first failure moves it to the dead letters, as the reaper does.
    const policy = { maxAttempts: 1, baseDelayMs: 1000, leaseMs: 1000 };
    const queue = new JobQueue(s.redis, s.prefix, EFFECT_QUEUE, policy);
    await queue.schedule(INST, [{ id: effect, due: 0, data: JSON.stringify(data) }]);
    const [job] = await queue.claim(INST, now, 10);
    expect(await queue.fail(INST, job!, 'transport down', now)).toBe('dead-lettered');

    const list = await api('GET', `/v1/installations/${INST}/dead-letters`);
    expect(list.body.effects).toEqual([
      {
        id: effect,
        deadAt: new Date(now).toISOString(),
        attempts: 1,
        lastError: 'transport down',
        effect: data,
      },
    ]);

    await api('POST', `/v1/installations/${INST}/dead-letters/effects/retry`, { id: effect });
    expect(await queue.dueAt(INST, effect)).toBe(now);
    expect((await queue.dead(INST, { limit: 10 })).items).toEqual([]);
    const claimed = await queue.claim(INST, now, 10);
    expect(claimed.map((c) => [c.id, c.attempt])).toEqual([[effect, 1]]);
    expect(await queue.fail(INST, claimed[0]!, 'transport down', now)).toBe('dead-lettered');

    // Dead again, then discarded: gone with its data.
    await api('POST', `/v1/installations/${INST}/dead-letters/effects/discard`, { id: effect });
    expect((await queue.dead(INST, { limit: 10 })).items).toEqual([]);
    expect(await s.redis.hexists(keys().jobQueue(INST, EFFECT_QUEUE).data, effect)).toBe(0);
    expect((await api('GET', `/v1/installations/${INST}/dead-letters`)).body.effects).toEqual([]);
    const again = await api('POST', `/v1/installations/${INST}/dead-letters/effects/discard`, {
      id: effect,
    });
    expect(again.status).toBe(404);
  });

  it('retries a dead notification (sent again at once) and discards another', async () => {
    // First attempt fails, the retry succeeds, the second notification fails.
    const receiver = await startReceiver([500, 200, 500]);
    const svc = await startService(
      { WEBHOOK_SECRET, NOTIFY_MAX_ATTEMPTS: '1' },
      undefined,
      modules,
    );
    try {
      const notifier = svc.modules.services.get(SERVICES.notifications) as NotificationService;
      await putSettings(svc, { channels: { rollback: ['webhook'] }, webhookUrls: [receiver.url] });
      const path = `/v1/installations/${INST}/notifications/dead-letters`;
      const kill = async () => {
        const n = request();
        await notifier.notify(n);
        expect((await notifier.processDue()).deadLettered).toBe(1);
        const dead = await svc.api('GET', path);
        expect(dead.body.items).toHaveLength(1);
        return { n, id: dead.body.items[0].deliveryId as string };
      };
      const action = (what: string, id: string, token = OPERATOR) =>
        svc.api(
          'POST',
          `/v1/installations/${INST}/dead-letters/notifications/${what}`,
          { id },
          token,
        );

      const first = await kill();
      expect((await action('retry', first.id, TOKEN_A)).status).toBe(403);
      expect((await action('retry', first.id)).status).toBe(200);
      expect((await svc.api('GET', path)).body.items).toEqual([]);
      expect(await notifier.processDue()).toMatchObject({ attempted: 1, delivered: 1 });
      expect((await deliveries(svc, first.n.sourceId))[0]).toMatchObject({
        status: 'delivered',
        attempts: 1,
      });
      expect(receiver.received).toHaveLength(2);
      // Delivered is not dead: nothing to retry.
      expect((await action('retry', first.id)).status).toBe(404);

      const second = await kill();
      expect((await action('discard', second.id)).status).toBe(200);
      expect((await svc.api('GET', path)).body.items).toEqual([]);
      expect((await deliveries(svc, second.n.sourceId))[0]).toMatchObject({
        status: 'dead-lettered',
      });
      expect((await notifier.processDue()).attempted).toBe(0);
      expect(receiver.received).toHaveLength(3);
    } finally {
      await svc.close();
      await receiver.close();
    }
  });

  it('answers 404 for an unknown dead letter and 400 naming a bad kind or body', async () => {
    const missing = await api('POST', `/v1/installations/${INST}/dead-letters/effects/retry`, {
      id: 'nope',
    });
    expect(missing.status).toBe(404);
    expect(missing.body.error.details).toMatchObject({ field: 'id' });
    const kind = await api('POST', `/v1/installations/${INST}/dead-letters/mail/retry`, {
      id: 'x',
    });
    expect(kind.status).toBe(400);
    expect(JSON.stringify(kind.body.error.details)).toContain('kind');
    const body = await api('POST', `/v1/installations/${INST}/dead-letters/timers/retry`, {});
    expect(body.status).toBe(400);
    expect(JSON.stringify(body.body.error.details)).toContain('id');
  });
});
