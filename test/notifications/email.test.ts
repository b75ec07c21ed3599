/**
 * Email delivery through nodemailer to a real SMTP server started by the test (port 0, AUTH
 * accepted for the test user), with the same durable jobs and retries as webhooks.
 */
import { describe, expect, it } from 'vitest';
import { T0, TOKEN_A } from '../helpers.ts';
import {
  SMTP_PASSWORD,
  decodeQuotedPrintable,
  deliveries,
  expectNoSecrets,
  putSettings,
  request,
  startNotify,
  startSmtp,
  useCleanup,
} from './support.ts';

const cleanup = useCleanup();

async function setup(reject = 0) {
  const smtp = await startSmtp(reject);
  cleanup.push(() => smtp.close());
  const svc = await startNotify({
    SMTP_URL: smtp.url,
    EMAIL_FROM: 'LumiLink <alerts@lumilink.test>',
    NOTIFY_BASE_DELAY_MS: '1000',
  });
  cleanup.push(() => svc.close());
  await putSettings(svc, {
    channels: { rollback: ['toast', 'email'] },
    emailTo: ['ops@example.com', 'oncall@example.com'],
  });
  return { svc, smtp };
}

describe('email delivery', () => {
  it('emails the toast through the SMTP server of SMTP_URL, one message per recipient, never revealing the SMTP password', async () => {
    const { svc, smtp } = await setup();
    const n = request({
      toast: {
        title: 'Switched to HTTP',
        body: 'ACP success rate fell to 97.0%.',
        severity: 'error',
      },
      details: { transcriptNote: 'Rolled back after 1000 operations.' },
    });
    expect(await svc.notifier.notify(n)).toEqual(['toast', 'email']);
    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 2, delivered: 2 });

    expect(smtp.messages.map((m) => m.to).sort()).toEqual([
      ['oncall@example.com'],
      ['ops@example.com'],
    ]);
    const records = await deliveries(svc, n.sourceId, TOKEN_A);
    for (const m of smtp.messages) {
      expect(m.user).toBe('notify');
      expect(m.from).toBe('alerts@lumilink.test');
      const raw = decodeQuotedPrintable(m.raw);
      expect(raw).toContain('Subject: [LumiLink] Switched to HTTP');
      expect(raw).toContain('ACP success rate fell to 97.0%.');
      expect(raw).toContain('Rolled back after 1000 operations.');
      const record = records.find((r) => r.target === m.to[0]);
      expect(raw.toLowerCase()).toContain(`x-lumilink-delivery: ${record.deliveryId}`);
      expect(raw).toContain('Date: Wed, 25 Nov 2026 12:00:00 +0000');
      expect(raw).toContain(`Message-ID: <${record.deliveryId}@notifications.lumilink>`);
      expect(raw).not.toContain(SMTP_PASSWORD);
    }
    expect(records).toEqual([
      expect.objectContaining({ channel: 'toast', status: 'delivered' }),
      expect.objectContaining({
        channel: 'email',
        target: 'ops@example.com',
        status: 'delivered',
        attempts: 1,
        lastError: null,
        deliveredAt: new Date(T0).toISOString(),
      }),
      expect.objectContaining({
        channel: 'email',
        target: 'oncall@example.com',
        status: 'delivered',
      }),
    ]);
    expectNoSecrets(records, [smtp.url]);
    expectNoSecrets(await svc.api('GET', '/v1/installations/inst-a/notifications/settings'), [
      smtp.url,
    ]);
  });

  it('retries an email the SMTP server rejects temporarily and delivers it on the next attempt', async () => {
    const { svc, smtp } = await setup(1);
    await putSettings(svc, { channels: { rollback: ['email'] }, emailTo: ['ops@example.com'] });
    const n = request();
    await svc.notifier.notify(n);
    expect((await svc.notifier.processDue()).retrying).toBe(1);
    const [failed] = await deliveries(svc, n.sourceId);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
    expect(failed.lastError).toContain('mailbox busy');
    expect(smtp.messages).toHaveLength(0);

    svc.clock.advance(1000);
    expect((await svc.notifier.processDue()).delivered).toBe(1);
    expect(smtp.messages).toHaveLength(1);
    expect((await deliveries(svc, n.sourceId))[0]).toMatchObject({
      status: 'delivered',
      attempts: 2,
    });
  });

  it('never stores the SMTP password in an error: a rejected login is recorded redacted', async () => {
    const smtp = await startSmtp();
    cleanup.push(() => smtp.close());
    const wrong = smtp.url.replace(SMTP_PASSWORD, 'wrong-password-77');
    const svc = await startNotify({ SMTP_URL: wrong, NOTIFY_MAX_ATTEMPTS: '1' });
    cleanup.push(() => svc.close());
    await putSettings(svc, { channels: { rollback: ['email'] }, emailTo: ['ops@example.com'] });
    const n = request();
    await svc.notifier.notify(n);
    expect((await svc.notifier.processDue()).deadLettered).toBe(1);
    const [record] = await deliveries(svc, n.sourceId);
    expect(record.status).toBe('dead-lettered');
    expect(record.lastError).toMatch(/login|auth/i);
    expectNoSecrets(record, ['wrong-password-77', wrong]);
    expect(smtp.messages).toHaveLength(0);
  });

  it('records email as skipped with the reason when SMTP_URL is not configured', async () => {
    const svc = await startNotify();
    cleanup.push(() => svc.close());
    await putSettings(svc, { channels: { rollback: ['email'] }, emailTo: ['ops@example.com'] });
    const n = request();
    expect(await svc.notifier.notify(n)).toEqual([]);
    expect(await deliveries(svc, n.sourceId)).toEqual([
      expect.objectContaining({
        channel: 'email',
        target: 'ops@example.com',
        status: 'skipped',
        lastError: 'SMTP_URL is not configured: email is not sent',
      }),
    ]);
    expect((await svc.notifier.processDue()).attempted).toBe(0);
  });
});
