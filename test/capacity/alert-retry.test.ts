/**
 * A capacity alert's effect (`notifyCapacity`) run again after its lease expired (README "Retries
 * and dead letters": at least once) counts the alert change once in `lumilink_alerts_total`
 * summed over processes, writes its `capacity-percent` envelope once, and sends no second
 * notification; the alert is recorded once. Two real services on the same keys and one manual
 * clock: the first runs the effect and stops before it reports (a crash after the work), the
 * second's reaper reruns it once the lease is over.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CAPACITY_SERVICE } from '../../src/capacity/capacity.ts';
import { capacityModule } from '../../src/capacity/module.ts';
import { ManualClock } from '../../src/clock.ts';
import type { Effect } from '../../src/engine/engine.ts';
import { metricsModule } from '../../src/metrics/module.ts';
import { notificationsModule } from '../../src/notifications/module.ts';
import { T0, type TestService, startService } from '../helpers.ts';
import { envelopes, metricsOf, valueOf } from '../metrics/support.ts';

const MIN = 60_000;
const LEASE_MS = 1000;
/** 20 connections of capacity: 85% = 17 opens a warning, 95% = 19 escalates it. */
const ENV = {
  CAPACITY_PER_WORKER: '20',
  HANDSHAKE_TIMEOUT_MS: String(24 * 60 * MIN),
  HEARTBEAT_TIMEOUT_MS: String(24 * 60 * MIN),
  OUTBOX_LEASE_MS: String(LEASE_MS),
};
const MODULES = [capacityModule, notificationsModule, metricsModule];

describe('a capacity alert effect retried after its lease', () => {
  const started: TestService[] = [];
  /** Lets the first attempt of the effect finish (it waits for the test otherwise). */
  let release = () => {};
  afterEach(async () => {
    release();
    for (const s of started.splice(0)) await s.close();
  });

  async function alertsTotal(trigger: string): Promise<number> {
    let sum = 0;
    for (const s of started) {
      await metricsOf(s).idle();
      const text = await (await fetch(`${s.url}/metrics`)).text();
      sum += valueOf(text, 'lumilink_alerts_total', { trigger }) ?? 0;
    }
    return sum;
  }

  it('counts the alert change once over both runs, with one envelope, one record and one notification', async () => {
    const clock = new ManualClock(T0);
    const a = await startService({ ...ENV, INSTANCE_ID: 'a' }, clock, MODULES);
    started.push(a);
    const handler = a.modules.services.require(CAPACITY_SERVICE).notifyCapacity;
    // The first attempt does its work, then never reports while the test runs (a crash after
    // the work, before the acknowledgement); later ones run as usual.
    let ranFirst!: (e: Effect) => void;
    const firstRan = new Promise<Effect>((r) => (ranFirst = r));
    const stuck = new Promise<void>((r) => (release = r));
    let attempts = 0;
    a.engine.registerEffect('notifyCapacity', async (e) => {
      await handler(e);
      if (++attempts > 1) return;
      ranFirst(e);
      await stuck;
    });

    let n = 0;
    const register = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const res = await a.api('POST', '/v1/connections', {
          connectionId: `c${++n}`,
          installationId: 'inst-a',
          workspaceId: `ws-${n % 3}`,
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
    };
    await register(17);
    const first = await firstRan;
    expect(first.params).toMatchObject({ change: 'opened' });
    expect(await alertsTotal('warning')).toBe(1);

    // A second process over the same keys: its reaper leaves the effect to its writer for the
    // lease, then runs it again.
    const b = await startService(
      { ...ENV, KEY_PREFIX: a.prefix, INSTANCE_ID: 'b' },
      clock,
      MODULES,
    );
    started.push(b);
    clock.advance(LEASE_MS - 1);
    expect(await b.engine.reapOutbox()).toBe(0);
    clock.advance(1);
    expect(await b.engine.reapOutbox()).toBe(1);
    await b.engine.idle();

    expect(await alertsTotal('warning')).toBe(1);
    const percent = (await envelopes(b)).filter((e) => e.metricType === 'capacity-percent');
    expect(percent).toEqual([
      expect.objectContaining({ value: 0.85, thresholdBreached: true, workspaceId: null }),
    ]);
    const alerts = (await b.api('GET', '/v1/installations/inst-a/capacity/alerts')).body.items;
    expect(alerts).toHaveLength(1);
    const { alertId } = alerts[0];
    expect(alertId).toBe((first.params as { alertId: string }).alertId);
    const deliveries = async () =>
      (
        await b.api(
          'GET',
          `/v1/installations/inst-a/notifications/deliveries?sourceId=${String(alertId)}`,
        )
      ).body.items;
    expect(await deliveries()).toEqual([expect.objectContaining({ channel: 'toast' })]);

    // The first writer's late outcome changes nothing; the escalation is a change of its own
    // and counts once under critical.
    release();
    await a.engine.idle();
    await register(2);
    await a.engine.idle();
    expect(await alertsTotal('warning')).toBe(1);
    expect(await alertsTotal('critical')).toBe(1);
    expect(
      (await envelopes(b)).filter((e) => e.metricType === 'capacity-percent').map((e) => e.value),
    ).toEqual([0.85, 0.95]);
    expect(await deliveries()).toHaveLength(2);
    expect(
      (await b.api('GET', '/v1/installations/inst-a/capacity/alerts')).body.items,
    ).toMatchObject([{ alertId, trigger: 'critical' }]);
  });
});
