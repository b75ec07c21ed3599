/**
 * Webhook signatures checked the way an integrator would: a plain node:http receiver written
 * from the README alone (node:crypto, no code of the service), verifying `X-LumiLink-Signature:
 * t=<unix>,v1=<hex>` over `<t>.<raw body>` and refusing a timestamp outside the 5-minute replay
 * window. Real deliveries go through the real service on real Redis.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
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

const cleanup = useCleanup();

const TOLERANCE_SECONDS = 5 * 60;

/** The receiver's check, as the README describes it. Returns null when valid, else why not. */
function verify(secret: string, headers: IncomingHttpHeaders, rawBody: string, nowMs: number) {
  const header = headers['x-lumilink-signature'];
  if (typeof header !== 'string') return 'no signature';
  const parts = new Map(
    header.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(v1)) return 'malformed signature';
  if (Math.abs(nowMs / 1000 - t) > TOLERANCE_SECONDS) return 'timestamp outside the window';
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex')) ? null : 'signature mismatch';
}

interface Received {
  headers: IncomingHttpHeaders;
  rawBody: string;
  verdict: string | null;
}

/** An independent receiver: 204 for a valid webhook, 401 with the reason otherwise. */
async function startVerifyingReceiver(now: () => number) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const verdict = verify(WEBHOOK_SECRET, req.headers, rawBody, now());
      received.push({ headers: req.headers, rawBody, verdict });
      res.writeHead(verdict === null ? 204 : 401).end(verdict ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  /** Sends a captured request again, as an attacker who recorded it would. */
  const replay = async (r: Received, body = r.rawBody) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-lumilink-signature': String(r.headers['x-lumilink-signature']),
      },
      body,
    });
    return { status: res.status, reason: await res.text() };
  };
  return { url, received, replay };
}

describe('webhook signatures (Stripe-style, timestamp.body)', () => {
  it('are verified by an independent receiver, which refuses a replay outside the window and a changed body', async () => {
    const svc = await startNotify({ WEBHOOK_SECRET });
    cleanup.push(() => svc.close());
    let receiverNow = T0;
    const receiver = await startVerifyingReceiver(() => receiverNow);
    await putSettings(svc, { channels: { rollback: ['webhook'] }, webhookUrls: [receiver.url] });

    const n = request();
    await svc.notifier.notify(n);
    expect(await svc.notifier.processDue()).toMatchObject({ attempted: 1, delivered: 1 });
    expect(receiver.received).toHaveLength(1);
    const [hook] = receiver.received;
    expect(hook!.verdict).toBeNull();
    expect(hook!.headers['x-lumilink-signature']).toMatch(
      new RegExp(`^t=${Math.floor(T0 / 1000)},v1=[0-9a-f]{64}$`),
    );
    expect(JSON.parse(hook!.rawBody)).toMatchObject({ notificationId: n.id });
    const [record] = await deliveries(svc, n.sourceId);
    expect(record).toMatchObject({ status: 'delivered', lastError: null });

    // Within the window the captured request still verifies (receivers dedupe on the
    // X-LumiLink-Delivery id); five minutes and a second later it no longer does.
    receiverNow = T0 + TOLERANCE_SECONDS * 1000;
    expect((await receiver.replay(hook!)).status).toBe(204);
    receiverNow = T0 + (TOLERANCE_SECONDS + 1) * 1000;
    expect(await receiver.replay(hook!)).toEqual({
      status: 401,
      reason: 'timestamp outside the window',
    });
    receiverNow = T0;
    expect(await receiver.replay(hook!, hook!.rawBody.replace(n.id, 'forged'))).toEqual({
      status: 401,
      reason: 'signature mismatch',
    });
  });

  it('signs each retry with its own time', async () => {
    const svc = await startNotify({ WEBHOOK_SECRET, NOTIFY_BASE_DELAY_MS: '60000' });
    cleanup.push(() => svc.close());
    const receiver = await startReceiver([500, 200]);
    cleanup.push(() => receiver.close());
    await putSettings(svc, { channels: { rollback: ['webhook'] }, webhookUrls: [receiver.url] });
    await svc.notifier.notify(request());
    await svc.notifier.processDue();
    svc.clock.advance(60_000);
    await svc.notifier.processDue();
    const ts = receiver.received.map(
      (r) => String(r.headers['x-lumilink-signature']).split(',')[0],
    );
    expect(ts).toEqual([`t=${T0 / 1000}`, `t=${T0 / 1000 + 60}`]);
    for (const r of receiver.received) {
      expect(verify(WEBHOOK_SECRET, r.headers, r.rawBody, svc.clock.now())).toBeNull();
    }
  });
});

describe('a delivery that failed, then succeeded', () => {
  it('shows no lastError once delivered', async () => {
    const svc = await startNotify({ WEBHOOK_SECRET, NOTIFY_BASE_DELAY_MS: '1000' });
    cleanup.push(() => svc.close());
    const receiver = await startReceiver([500, 200]);
    cleanup.push(() => receiver.close());
    await putSettings(svc, { channels: { rollback: ['webhook'] }, webhookUrls: [receiver.url] });
    const n = request();
    await svc.notifier.notify(n);
    expect((await svc.notifier.processDue()).retrying).toBe(1);
    expect((await deliveries(svc, n.sourceId))[0]).toMatchObject({
      status: 'failed',
      lastError: 'HTTP 500 Internal Server Error',
    });
    svc.clock.advance(1000);
    expect((await svc.notifier.processDue()).delivered).toBe(1);
    const [record] = await deliveries(svc, n.sourceId);
    expect(record).toMatchObject({
      status: 'delivered',
      attempts: 2,
      lastError: null,
      deliveredAt: new Date(T0 + 1000).toISOString(),
    });
    expect(await svc.notifier.deliveries('inst-a', n.sourceId)).toEqual([
      expect.objectContaining({ status: 'delivered', lastError: null }),
    ]);
  });
});
