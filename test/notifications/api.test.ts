/**
 * The notification API and the Notifier contract: settings (operator-only writes, strict
 * validation), tenant isolation on every route, idempotent notify, and secrets kept out of
 * every response and stored record.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { OPERATOR, TOKEN_A, TOKEN_B } from '../helpers.ts';
import {
  type NotifyService,
  WEBHOOK_SECRET,
  deliveries,
  expectError,
  expectNoSecrets,
  openStream,
  refusedStream,
  putSettings,
  request,
  startNotify,
  startReceiver,
  useCleanup,
} from './support.ts';

const cleanup = useCleanup();

async function service(env: Record<string, string> = {}): Promise<NotifyService> {
  const svc = await startNotify(env);
  cleanup.push(() => svc.close());
  return svc;
}

const SETTINGS = '/v1/installations/inst-a/notifications/settings';
const DEFAULTS = {
  installationId: 'inst-a',
  channels: {
    'capacity-alert': ['toast'],
    rollback: ['toast'],
    recovery: ['toast'],
    'automation-skip': ['toast'],
  },
  webhookUrls: [],
  emailTo: [],
  updatedAt: null,
  updatedBy: null,
};

describe('GET/PUT /v1/installations/:installationId/notifications/settings', () => {
  it('serves the defaults, lets an operator replace them, and shows the result to the tenant', async () => {
    const svc = await service();
    for (const token of [OPERATOR, TOKEN_A]) {
      const res = await svc.api('GET', SETTINGS, undefined, token);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(DEFAULTS);
    }
    const saved = await putSettings(svc, {
      channels: { rollback: ['toast', 'webhook'], 'capacity-alert': ['email'] },
      webhookUrls: ['https://hooks.example.com/lumilink'],
      emailTo: ['ops@example.com'],
    });
    const expected = {
      ...DEFAULTS,
      channels: {
        ...DEFAULTS.channels,
        rollback: ['toast', 'webhook'],
        'capacity-alert': ['email'],
      },
      webhookUrls: ['https://hooks.example.com/lumilink'],
      emailTo: ['ops@example.com'],
      updatedAt: '2026-11-25T12:00:00.000Z',
      updatedBy: 'operator-1',
    };
    expect(saved).toEqual(expected);
    expect((await svc.api('GET', SETTINGS, undefined, TOKEN_A)).body).toEqual(expected);

    // PUT replaces: omitted fields return to their defaults.
    expect(await putSettings(svc, { channels: { recovery: [] } })).toMatchObject({
      channels: { ...DEFAULTS.channels, recovery: [] },
      webhookUrls: [],
      emailTo: [],
    });
  });

  it('answers 403 to a tenant token on PUT and 404 to another tenant on GET and PUT, changing nothing', async () => {
    const svc = await service();
    const body = { webhookUrls: ['https://evil.example.com'] };
    expectError(await svc.api('PUT', SETTINGS, body, TOKEN_A), 403, 'forbidden');
    // Another tenant's installation is not found, whatever the method (README, Auth and tenancy).
    expectError(await svc.api('PUT', SETTINGS, body, TOKEN_B), 404, 'not-found', 'installationId');
    expectError(
      await svc.api('GET', SETTINGS, undefined, TOKEN_B),
      404,
      'not-found',
      'installationId',
    );
    expect((await svc.api('GET', SETTINGS)).body).toEqual(DEFAULTS);
    expect((await svc.api('GET', SETTINGS, undefined, null)).status).toBe(401);
  });

  it.each([
    [{ channels: { rollback: ['sms'] } }, 'channels.rollback.0'],
    [{ channels: { rollback: ['toast', 'toast'] } }, 'channels.rollback'],
    [{ channels: { reboot: ['toast'] } }, 'channels.reboot'],
    [{ channels: { rollback: 'toast' } }, 'channels.rollback'],
    [{ webhookUrls: ['ftp://example.com/x'] }, 'webhookUrls.0'],
    [{ webhookUrls: ['not a url'] }, 'webhookUrls.0'],
    [{ webhookUrls: ['https://user:pw@example.com/x'] }, 'webhookUrls.0'],
    [{ webhookUrls: Array.from({ length: 11 }, (_, i) => `https://e.com/${i}`) }, 'webhookUrls'],
    [{ webhookUrls: ['https://e.com/a', 'https://e.com/a'] }, 'webhookUrls'],
    [{ emailTo: ['not-an-email'] }, 'emailTo.0'],
    // One mailbox in practice: it would get every email twice.
    [{ emailTo: ['Ops@example.com', 'ops@EXAMPLE.com'] }, 'emailTo'],
    [{ emailTo: Array.from({ length: 21 }, (_, i) => `u${i}@example.com`) }, 'emailTo'],
    [{ secret: 'x' }, 'secret'],
  ])('answers 400 naming the field for %j', async (body, field) => {
    const svc = await service();
    expectError(await svc.api('PUT', SETTINGS, body), 400, 'validation-failed', field);
    expect((await svc.api('GET', SETTINGS)).body).toEqual(DEFAULTS);
  });
});

describe('a value of the wrong type', () => {
  it.each([
    [{ emailTo: 'abcdefghijklmnopqrstuvwxyz@example.com' }, 'emailTo', 'array', 'string'],
    [{ webhookUrls: 'https://hooks.example.com/lumilink' }, 'webhookUrls', 'array', 'string'],
    [{ channels: { rollback: 'toast,email' } }, 'channels.rollback', 'array', 'string'],
  ])('%j is named once, for its type', async (body, field, expected, received) => {
    const svc = await service();
    const res = await svc.api('PUT', SETTINGS, body);
    expectError(res, 400, 'validation-failed', field);
    expect(res.body.error.details.fields).toEqual([
      { field, message: `Invalid input: expected ${expected}, received ${received}` },
    ]);
    expect((await svc.api('GET', SETTINGS)).body).toEqual(DEFAULTS);
  });
});

describe('chat incoming-webhook URLs in webhookUrls', () => {
  const secret = 'hunter2'.repeat(4);
  // Each reaches the same Slack, Discord or Teams channel as the plain spelling (refused
  // already): the host as a resolver takes it, the path as the server decodes it.
  it.each([
    `https://hooks.slack.com./services/T0AB12CD/B0EF34GH/${secret}`,
    `https://hooks.slack.com:443/services/T0AB12CD/B0EF34GH/${secret}`,
    `https://%68ooks.slack.com/services/T0AB12CD/B0EF34GH/${secret}`,
    `https://\uFF48ooks.slack.com/services/T0AB12CD/B0EF34GH/${secret}`,
    `https://hooks.slack.com/%73ervices/T0AB12CD/B0EF34GH/${secret}`,
    `https://hooks.slack.com/services%2FT0AB12CD/B0EF34GH/${secret}`,
    `https://discord.com./api/webhooks/123456789/${secret}`,
    `https://acme.webhook.office.com./webhookb2/a1b2c3d4@e5f6/IncomingWebhook/${secret}`,
  ])('refuses %s as webhook-url, naming the field and storing nothing', async (url) => {
    const svc = await service();
    const res = await svc.api('PUT', SETTINGS, {
      webhookUrls: ['https://hooks.example.com/ok', url],
    });
    expectError(res, 400, 'validation-failed', 'webhookUrls.1');
    expect(res.body.error.message).toContain('(webhook-url)');
    expect(JSON.stringify(res.body)).not.toContain(secret);
    expect((await svc.api('GET', SETTINGS)).body).toEqual(DEFAULTS);
  });

  it('refuses a token hidden by percent-escapes in a query, and keeps ordinary URLs', async () => {
    const svc = await service();
    const token = `ghp_${'a1B2'.repeat(9)}`;
    const escaped = `https://x.example.com/h?t=%67${token.slice(1)}`;
    const res = await svc.api('PUT', SETTINGS, { webhookUrls: [escaped] });
    expectError(res, 400, 'validation-failed', 'webhookUrls.0');
    expect(res.body.error.message).toContain('github-token');
    const urls = [
      'https://hooks.example.com./lumilink/%7Eops',
      'http://slack.example.com:8080/x%zz',
    ];
    const ok = await svc.api('PUT', SETTINGS, { webhookUrls: urls });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.webhookUrls).toEqual(urls);
  });
});

describe('tenant isolation', () => {
  it('answers 404 to TOKEN_B on every inst-a notification route, and 401 without a token', async () => {
    const svc = await service();
    const paths = [
      SETTINGS,
      '/v1/installations/inst-a/notifications/deliveries?sourceId=s',
      '/v1/installations/inst-a/notifications/dead-letters',
      '/v1/installations/inst-a/toasts/stream',
    ];
    for (const path of paths) {
      const res = path.endsWith('/stream')
        ? await refusedStream(svc, path, TOKEN_B)
        : await svc.api('GET', path, undefined, TOKEN_B);
      expectError(res, 404, 'not-found', 'installationId');
      expect((await svc.api('GET', path, undefined, null)).status).toBe(401);
    }
  });

  it("never shows one installation's deliveries under another", async () => {
    const svc = await service();
    const n = request({ installationId: 'inst-b', sourceId: 'shared-source' });
    await svc.notifier.notify(n);
    expect(await deliveries(svc, 'shared-source')).toEqual([]);
    expect(await svc.notifier.deliveries('inst-b', 'shared-source')).toHaveLength(1);
  });
});

describe('GET /v1/installations/:installationId/notifications/deliveries', () => {
  it('lists what was sent for a source to its tenant, and answers 400 naming sourceId without one', async () => {
    const svc = await service();
    const n = request();
    await svc.notifier.notify(n);
    const items = await deliveries(svc, n.sourceId, TOKEN_A);
    expect(items).toEqual([expect.objectContaining({ channel: 'toast', status: 'delivered' })]);
    const path = '/v1/installations/inst-a/notifications/deliveries';
    expectError(await svc.api('GET', path), 400, 'validation-failed', 'sourceId');
    expectError(await svc.api('GET', `${path}?sourceId=a&x=1`), 400, 'validation-failed', 'x');
    expect(await deliveries(svc, 'never-notified')).toEqual([]);
  });
});

describe('NotificationService.notify', () => {
  it('is idempotent by request id: a repeated request sends one toast and one webhook', async () => {
    const receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    const svc = await service({ WEBHOOK_SECRET });
    await putSettings(svc, {
      channels: { rollback: ['toast', 'webhook'] },
      webhookUrls: [receiver.url],
    });
    const s = await openStream(svc, '/v1/installations/inst-a/toasts/stream');
    cleanup.push(() => s.close());

    const n = request();
    expect(await svc.notifier.notify(n)).toEqual(['toast', 'webhook']);
    // A retry after the settings changed still reports (and changes) nothing new.
    await putSettings(svc, { channels: { rollback: ['toast'] } });
    expect(await svc.notifier.notify({ ...n, toast: { ...n.toast, body: 'changed' } })).toEqual([
      'toast',
      'webhook',
    ]);
    await Promise.all([svc.notifier.notify(n), svc.notifier.notify(n)]);
    const marker = request();
    await svc.notifier.notify(marker);
    await s.waitFor(2);
    expect(s.events.map((e) => e.data.id)).toEqual([n.id, marker.id]);
    expect(s.events[0]!.data.body).toBe(n.toast.body);

    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(receiver.received).toHaveLength(1);
    expect(await svc.notifier.deliveries('inst-a', n.sourceId)).toEqual([
      expect.objectContaining({ channel: 'toast', status: 'delivered' }),
      expect.objectContaining({ channel: 'webhook', status: 'delivered', attempts: 1 }),
    ]);
  });

  it('rejects a malformed request with a ValidationError naming the field', async () => {
    const svc = await service();
    const bad = request({ toast: { title: '', body: 'x', severity: 'error' } });
    await expect(svc.notifier.notify(bad)).rejects.toThrow(ValidationError);
    await expect(svc.notifier.notify(bad)).rejects.toThrow(/toast\.title/);
    await expect(svc.notifier.notify(request({ id: 'has space' }))).rejects.toThrow(/id:/);
    await expect(
      svc.notifier.notify(request({ details: { blob: 'x'.repeat(20_000) } })),
    ).rejects.toThrow(/details/);
  });

  it('keeps WEBHOOK_SECRET out of toasts, webhook bodies, stored records and responses', async () => {
    const receiver = await startReceiver([500, 200]);
    cleanup.push(() => receiver.close());
    const svc = await service({ WEBHOOK_SECRET, NOTIFY_MAX_ATTEMPTS: '2' });
    await putSettings(svc, {
      channels: { rollback: ['toast', 'webhook'] },
      webhookUrls: [receiver.url],
    });
    const s = await openStream(svc, '/v1/installations/inst-a/toasts/stream');
    cleanup.push(() => s.close());
    const n = request({
      toast: { title: 'Leak?', body: `key ${WEBHOOK_SECRET}`, severity: 'error' },
      details: { [WEBHOOK_SECRET]: [WEBHOOK_SECRET] },
    });
    await svc.notifier.notify(n);
    await svc.notifier.processDue();
    svc.clock.advance(1000);
    await svc.notifier.processDue();

    const [toast] = await s.waitFor(1);
    expect(toast!.data.body).toBe('key [redacted]');
    expectNoSecrets(toast);
    for (const r of receiver.received) expectNoSecrets(r.rawBody);
    expectNoSecrets(await deliveries(svc, n.sourceId));
    expectNoSecrets(await svc.api('GET', SETTINGS));
    expectNoSecrets(await svc.api('GET', '/v1/installations/inst-a/notifications/dead-letters'));
    // Stored records, read straight from Redis.
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await svc.redis.scan(cursor, 'MATCH', `${svc.prefix}:*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch.filter((k) => k.includes(':notify')));
    } while (cursor !== '0');
    expect(keys.length).toBeGreaterThan(4);
    const readers: Record<string, (key: string) => Promise<unknown>> = {
      hash: (k) => svc.redis.hgetall(k),
      string: (k) => svc.redis.get(k),
      list: (k) => svc.redis.lrange(k, 0, -1),
      set: (k) => svc.redis.smembers(k),
      zset: (k) => svc.redis.zrange(k, 0, -1),
    };
    for (const key of keys) expectNoSecrets(await readers[await svc.redis.type(key)]!(key));
  });
});
