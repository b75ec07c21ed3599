/**
 * A receiver that answers late (up to the attempt's timeout) holds back no other delivery: while
 * its attempt runs, the notification pass keeps claiming the jobs that come due. Real Redis, real
 * local HTTP receivers, a manual clock.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import {
  WEBHOOK_SECRET,
  deliveries,
  putSettings,
  request,
  startNotify,
  startReceiver,
  useCleanup,
} from './support.ts';

const BASE = 1000;
const cleanup = useCleanup();

/** A receiver that answers nothing until `release()`, then 200 to every held request. */
async function startHeldReceiver() {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => held.push(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/slow`,
    held,
    release: () => {
      for (const res of held.splice(0)) res.writeHead(200).end('ok');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('a slow webhook receiver', () => {
  it('does not delay the retry of another delivery while its own attempt waits for an answer', async () => {
    const slow = await startHeldReceiver();
    cleanup.push(() => slow.close());
    const flaky = await startReceiver([500, 200]);
    cleanup.push(() => flaky.close());
    const svc = await startNotify({
      WEBHOOK_SECRET,
      NOTIFY_BASE_DELAY_MS: String(BASE),
      NOTIFY_POLL_MS: '10',
    });
    cleanup.push(async () => {
      slow.release();
      await svc.close();
    });
    await putSettings(svc, {
      channels: { rollback: ['webhook'] },
      webhookUrls: [slow.url, flaky.url],
    });
    const n = request();
    await svc.notifier.notify(n);

    const pass = svc.notifier.processDue();
    // Waits for the receivers' signals, with room for a loaded CI machine (1 s by default).
    await vi.waitFor(
      () => {
        expect(slow.held).toHaveLength(1);
        expect(flaky.received).toHaveLength(1);
      },
      { timeout: 10_000 },
    );
    // The 500's retry comes due while the slow receiver still holds its attempt.
    svc.clock.advance(BASE);
    await vi.waitFor(() => expect(flaky.received).toHaveLength(2), { timeout: 10_000 });
    expect(slow.held).toHaveLength(1);
    const byTarget = Object.fromEntries(
      (await deliveries(svc, n.sourceId)).map((d) => [d.target, d]),
    );
    expect(byTarget[flaky.url]).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(byTarget[slow.url]).toMatchObject({ status: 'pending', attempts: 1 });

    slow.release();
    expect(await pass).toEqual({ attempted: 3, delivered: 2, retrying: 1, deadLettered: 0 });
    expect((await deliveries(svc, n.sourceId)).map((d) => d.status)).toEqual([
      'delivered',
      'delivered',
    ]);
  });
});
