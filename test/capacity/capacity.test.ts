import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CAPACITY_SERVICE } from '../../src/capacity/capacity.ts';
import { capacityModule } from '../../src/capacity/module.ts';
import { inspectModule } from '../../src/inspect/module.ts';
import { notificationsModule } from '../../src/notifications/module.ts';
import { OPERATOR, TOKEN_A, TOKEN_B, type TestService, startService } from '../helpers.ts';
import { openStream } from '../notifications/support.ts';

const MIN = 60_000;
/** 20 connections of capacity: 85% = 17, 95% = 19, 70% = 14. */
const ENV = {
  CAPACITY_PER_WORKER: '20',
  // Keep registered connections active for the whole test: no handshake or heartbeat timeouts.
  HANDSHAKE_TIMEOUT_MS: String(24 * 60 * MIN),
  HEARTBEAT_TIMEOUT_MS: String(24 * 60 * MIN),
};

describe('capacity alerts and load shedding', () => {
  let svc: TestService;
  let n = 0;
  let live: string[] = [];
  const settle = async () => {
    await svc.engine.idle();
  };
  const register = (id = `c${++n}`, ws = `ws-${n % 3}`) =>
    svc.api('POST', '/v1/connections', {
      connectionId: id,
      installationId: 'inst-a',
      workspaceId: ws,
    });
  async function registerMany(count: number) {
    for (let i = 0; i < count; i++) {
      expect((await register()).status).toBe(201);
      live.push(`c${n}`);
    }
    await settle();
  }
  async function release(count: number) {
    for (const id of live.splice(live.length - count, count)) {
      expect(
        (await svc.api('POST', `/v1/connections/${id}/rollback`, { reason: 'test' })).status,
      ).toBe(200);
    }
    await settle();
  }
  /** The next repair's read returns, then a registration commits, then the repair goes on. */
  function registerAfterRepairRead() {
    const store = svc.engine.store;
    const read = store.loadWithIndexSizes.bind(store);
    store.loadWithIndexSizes = async (...args) => {
      const result = await read(...args);
      store.loadWithIndexSizes = read;
      expect((await register()).status).toBe(201);
      return result;
    };
  }
  const state = async () => (await svc.api('GET', '/v1/installations/inst-a/capacity')).body;
  const alerts = async () =>
    (await svc.api('GET', '/v1/installations/inst-a/capacity/alerts')).body.items;

  beforeEach(async () => {
    n = 0;
    live = [];
    svc = await startService(ENV, undefined, [capacityModule, inspectModule]);
  });
  afterEach(async () => {
    await svc.close();
  });

  it('counts active connections exactly as they enter and leave active states', async () => {
    await registerMany(5);
    expect(await state()).toMatchObject({
      activeConnections: 5,
      capacity: 20,
      capacityPercent: 0.25,
      state: 'normal',
    });
    await release(2);
    expect((await state()).activeConnections).toBe(3);
  });

  it('opens no alert at 80% and a warning exactly at 85%', async () => {
    await registerMany(16);
    expect((await state()).state).toBe('normal');
    expect(await alerts()).toEqual([]);
    await registerMany(1);
    const s = await state();
    expect(s.state).toBe('warning');
    expect(s.openAlert).toMatchObject({
      trigger: 'warning',
      activeConnections: 17,
      capacityPercent: 0.85,
      resolvedAt: null,
    });
    expect(s.openAlert.workspaceIds).toEqual(['ws-0', 'ws-1', 'ws-2']);
    expect(s.openAlert.alertId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers exactly the fields the README lists, for the installation and for an alert', async () => {
    await registerMany(17);
    expect(Object.keys(await state()).sort()).toEqual(
      [
        'installationId',
        'state',
        'activeConnections',
        'capacity',
        'capacityPercent',
        'lastEvaluated',
        'thresholds',
        'shedding',
        'refusedConnections',
        'openAlert',
      ].sort(),
    );
    const [alert] = await alerts();
    expect(Object.keys(alert).sort()).toEqual(
      [
        // The seed's CapacityAlert...
        'alertId',
        'installationId',
        'workspaceIds',
        'trigger',
        'activeConnections',
        'capacityPercent',
        'timestamp',
        'notified',
        'notificationChannels',
        'resolvedAt',
        // ...and the engine's own.
        'peakPercent',
        'escalatedAt',
        'deliveries',
      ].sort(),
    );
  });

  it('shows the open alert as the chart holds it now: its current usage and its peak', async () => {
    await registerMany(18); // the warning opened at 17 (85 %); 18 is 90 %
    expect((await state()).openAlert).toMatchObject({
      trigger: 'warning',
      activeConnections: 18,
      capacityPercent: 0.9,
      peakPercent: 0.9,
      resolvedAt: null,
    });
    await release(2); // 80 %: still open, the peak stays
    expect((await state()).openAlert).toMatchObject({
      activeConnections: 16,
      capacityPercent: 0.8,
      peakPercent: 0.9,
    });
    // The list keeps the alert as recorded when it opened (the README says which is which).
    expect(await alerts()).toMatchObject([
      { trigger: 'warning', activeConnections: 17, capacityPercent: 0.85, peakPercent: 0.85 },
    ]);
  });

  it('escalates the same alert to critical exactly at 95% instead of opening another', async () => {
    await registerMany(17);
    const warning = (await state()).openAlert;
    await registerMany(1);
    expect((await state()).state).toBe('warning');
    await registerMany(1);
    const s = await state();
    expect(s.state).toBe('critical');
    expect(s.openAlert).toMatchObject({
      alertId: warning.alertId,
      trigger: 'critical',
      capacityPercent: 0.95,
    });
    expect(await alerts()).toHaveLength(1);
  });

  it('sheds new connections at critical: the answer says to use HTTP and why, and counts the refusal', async () => {
    await registerMany(19);
    const refused = await register('late');
    expect(refused.status).toBe(503);
    expect(refused.body.error).toMatchObject({
      code: 'capacity-shed',
      details: { useTransport: 'http', reason: 'capacity-critical' },
    });
    expect(refused.body.error.message).toContain('HTTP');
    expect((await svc.api('GET', '/v1/connections/late')).status).toBe(404);
    // Not the 1 s of an outage: a client honouring Retry-After would ask for ACP every second
    // instead of starting this session on HTTP.
    const again = await fetch(`${svc.url}/v1/connections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: JSON.stringify({ connectionId: 'late', installationId: 'inst-a', workspaceId: 'ws-0' }),
    });
    expect(again.status).toBe(503);
    expect(again.headers.get('retry-after')).toBe('60');
    expect(await state()).toMatchObject({
      shedding: true,
      refusedConnections: 2,
      activeConnections: 19,
    });
    // Existing connections keep working.
    expect(
      (
        await svc.api('POST', '/v1/connections/c1/handshake', {
          protocolVersion: '1.0.0',
          negotiatedCapabilities: [],
        })
      ).status,
    ).toBe(200);
  });

  it('says it sheds exactly when a registration is shed: both ask the chart, not the indexes', async () => {
    await registerMany(19);
    // The status indexes drift from the chart's count (an old backup restored, say): the route
    // still answers what the chart decides, and so does the next registration.
    const connecting = svc.engine.store.keys.index('inst-a', 'connection:status:connecting');
    expect(await svc.redis.zrem(connecting, 'c1', 'c2', 'c3')).toBe(3);
    expect(await state()).toMatchObject({ activeConnections: 19, shedding: true });
    expect((await register('late')).status).toBe(503);
  });

  it('answers with the capacity the chart sheds at, until the repair gives it a new one', async () => {
    await registerMany(19); // 95 % of 20: shedding
    // Restarted with twice the capacity per worker: until the repair sends it, the chart still
    // counts against 20 and sheds; the refusal and the route say so in the chart's numbers.
    await svc.stopKeepingKeys();
    svc = await startService(
      { ...ENV, CAPACITY_PER_WORKER: '40', KEY_PREFIX: svc.prefix },
      undefined,
      [capacityModule],
    );
    const refused = await register('late');
    expect(refused.status).toBe(503);
    expect(refused.body.error.message).toContain('at 95.0%');
    expect(refused.body.error.details).toMatchObject({
      activeConnections: 19,
      capacity: 20,
      capacityPercent: 0.95,
    });
    expect(await state()).toMatchObject({
      activeConnections: 19,
      capacity: 20,
      capacityPercent: 0.95,
      shedding: true,
    });
    await svc.modules.services.require(CAPACITY_SERVICE).repair('inst-a');
    expect(await state()).toMatchObject({
      activeConnections: 19,
      capacity: 40,
      capacityPercent: 0.475,
      shedding: false,
    });
    expect((await register('later')).status).toBe(201);
  });

  it('repairs a real drift, and takes a registration committed during the repair for none', async () => {
    const repair = () => svc.modules.services.require(CAPACITY_SERVICE).repair('inst-a');
    await registerMany(5);
    // A registration commits right after the repair has read: the count it read and the
    // indexes it read are one atomic read, so the registration is in both or in neither.
    const store = svc.engine.store;
    registerAfterRepairRead();
    await repair();
    await settle();
    expect(await state()).toMatchObject({ activeConnections: 6 });

    // A real drift (the indexes lost two members, as from an old backup) is repaired to them.
    const connecting = store.keys.index('inst-a', 'connection:status:connecting');
    expect(await svc.redis.zrem(connecting, 'c1', 'c2')).toBe(2);
    await repair();
    await settle();
    expect(await state()).toMatchObject({ activeConnections: 4 });
  });

  it("keeps the slot of a registration committed between a repair's read and its correction", async () => {
    const repair = () => svc.modules.services.require(CAPACITY_SERVICE).repair('inst-a');
    await registerMany(5);
    // A real drift: the indexes lost two members (5 counted, 3 indexed).
    const store = svc.engine.store;
    const connecting = store.keys.index('inst-a', 'connection:status:connecting');
    expect(await svc.redis.zrem(connecting, 'c1', 'c2')).toBe(2);
    // A registration commits after the repair has read both figures and before its correction:
    // the correction is the drift (-2) applied to the count as it is then (6), not the 3 read.
    registerAfterRepairRead();
    await repair();
    await settle();
    expect(await state()).toMatchObject({ activeConnections: 4 });
    // The indexes now hold 4 as well: the next repair finds nothing to correct.
    const version = (await svc.api('GET', '/v1/actors/capacity:inst-a/inspect')).body.version;
    await repair();
    await settle();
    expect((await svc.api('GET', '/v1/actors/capacity:inst-a/inspect')).body.version).toBe(version);
    // The correction is in the actor's event log with both figures the repair read.
    const inspected = await svc.api('GET', '/v1/actors/capacity:inst-a/inspect');
    expect(inspected.status, JSON.stringify(inspected.body)).toBe(200);
    expect(inspected.body.lastEvents[0]).toMatchObject({ type: 'RECOUNT', counted: 5, indexed: 3 });
  });

  it('resolves only after usage stayed below 70% for 5 minutes', async () => {
    await registerMany(17);
    await release(3); // 14 = 70%: not below
    expect((await state()).state).toBe('warning');
    await release(1); // 13 = 65%
    expect((await state()).state).toBe('resolving');
    svc.clock.advance(5 * MIN - 1);
    expect(await svc.engine.fireDueTimers()).toBe(0);
    expect((await state()).openAlert).not.toBeNull();
    svc.clock.advance(1);
    expect(await svc.engine.fireDueTimers()).toBe(1);
    await svc.engine.idle();
    const s = await state();
    expect(s.state).toBe('normal');
    expect(s.openAlert).toBeNull();
    const [alert] = await alerts();
    expect(alert.resolvedAt).toBe(new Date(svc.clock.now()).toISOString());
  });

  it('pages through alerts newest first, an alert never cut in two by the cursor', async () => {
    /** One alert: up to `peak` active, down to 13, resolved 5 minutes later. */
    const cycle = async (peak: number) => {
      await registerMany(peak - live.length);
      await release(live.length - 13);
      svc.clock.advance(5 * MIN);
      expect(await svc.engine.fireDueTimers()).toBe(1);
      await settle();
    };
    await cycle(17); // warning: opened, resolved
    await cycle(19); // critical: opened, resolved
    await registerMany(4); // 17: warning
    await registerMany(2); // 19: escalated, then resolved: 3 records
    await release(6);
    svc.clock.advance(5 * MIN);
    expect(await svc.engine.fireDueTimers()).toBe(1);
    await settle();
    await cycle(17);
    await registerMany(4); // 17: a fifth alert, still open
    const all = await alerts();
    expect(all.map((a: any) => [a.trigger, a.resolvedAt === null])).toEqual([
      ['warning', true],
      ['warning', false],
      ['critical', false],
      ['critical', false],
      ['warning', false],
    ]);
    const walk = async (limit: number) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const q = `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res = await svc.api('GET', `/v1/installations/inst-a/capacity/alerts?${q}`);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.items.length).toBeLessThanOrEqual(limit);
        seen.push(...res.body.items.map((a: any) => a.alertId));
        // Each alert as it is now, whichever page it is on.
        for (const a of res.body.items)
          expect(all.find((b: any) => b.alertId === a.alertId)).toEqual(a);
        cursor = res.body.nextCursor;
        if (cursor === null) return seen;
      }
      throw new Error('more pages than alerts');
    };
    const ids = all.map((a: any) => a.alertId);
    for (const limit of [1, 2, 3, 5, 50]) expect(await walk(limit), `limit ${limit}`).toEqual(ids);
    // A cursor that no page gave is named.
    const bad = await svc.api('GET', '/v1/installations/inst-a/capacity/alerts?cursor=abc');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual({
      in: 'query',
      fields: [{ field: 'cursor', message: 'is not valid; pass back nextCursor unchanged' }],
    });
    // So is one shaped like a page's but that no page gave: edited, before or after every
    // record, or another installation's. Each answered an empty or a wrong page before.
    const given = (await svc.api('GET', '/v1/installations/inst-a/capacity/alerts?limit=1')).body
      .nextCursor as string;
    expect(given).toEqual(expect.any(String));
    const other = await svc.api('POST', '/v1/connections', {
      connectionId: 'other-1',
      installationId: 'inst-other',
      workspaceId: 'ws-other',
    });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
    for (const [installationId, cursor] of [
      ['inst-a', `${given}x`],
      ['inst-a', `999999999999999:${given.slice(16)}`],
      ['inst-a', `000000000000000:${given.slice(16)}`],
      ['inst-other', given],
    ]) {
      const res = await svc.api(
        'GET',
        `/v1/installations/${installationId}/capacity/alerts?cursor=${encodeURIComponent(cursor!)}`,
      );
      expect(res.status, `${installationId} ${cursor} ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.details.fields).toEqual([
        { field: 'cursor', message: 'is not valid; pass back nextCursor unchanged' },
      ]);
    }
  });

  it('cancels the resolution when usage rises above 70% again', async () => {
    await registerMany(17);
    await release(4);
    expect((await state()).state).toBe('resolving');
    svc.clock.advance(4 * MIN);
    await registerMany(2); // 15 = 75%
    expect((await state()).state).toBe('warning');
    svc.clock.advance(2 * MIN);
    expect(await svc.engine.fireDueTimers()).toBe(0);
    expect((await state()).openAlert).toMatchObject({ trigger: 'warning', resolvedAt: null });
  });

  it('opens exactly one alert under concurrent connects', async () => {
    const results = await Promise.all(
      Array.from({ length: 18 }, (_, i) => register(`k${i}`, 'ws-k')),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(18);
    await settle();
    expect(await alerts()).toHaveLength(1);
    expect((await state()).state).toBe('warning');
  });

  it('holds the critical limit exactly under a burst: the chart refuses in the commit what the check before it let through', async () => {
    // 25 at once all pass the check of the count before their commit (0 active): the capacity
    // chart vetoes every one that would take a slot at 95 % or beyond, in the commit itself.
    const ids = Array.from({ length: 25 }, (_, i) => `b${i}`);
    const results = await Promise.all(ids.map((id) => register(id, 'ws-b')));
    await settle();
    const admitted = ids.filter((_, i) => results[i]!.status === 201);
    const refused = results.filter((r) => r.status !== 201);
    expect(admitted).toHaveLength(19);
    expect(refused).toHaveLength(6);
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.body.error).toMatchObject({
        code: 'capacity-shed',
        details: {
          useTransport: 'http',
          reason: 'capacity-critical',
          activeConnections: 19,
          capacity: 20,
          capacityPercent: 0.95,
        },
      });
    }
    expect(await state()).toMatchObject({
      activeConnections: 19,
      state: 'critical',
      shedding: true,
      refusedConnections: 6,
    });
    // Nothing of a refused registration was written: no record, no member of its workspace.
    for (const id of ids.filter((id) => !admitted.includes(id)))
      expect((await svc.api('GET', `/v1/connections/${id}`)).status).toBe(404);
    const ws = (await svc.api('GET', '/v1/workspaces/ws-b')).body;
    expect(ws.connections.total).toBe(19);
    // The count stays exact: a connection leaving makes room for exactly one more.
    expect(
      (await svc.api('POST', `/v1/connections/${admitted[0]}/rollback`, { reason: 'test' })).status,
    ).toBe(200);
    await settle();
    // A refused id registers again later (its installation's claim of it is kept).
    const again = ids.find((id) => !admitted.includes(id))!;
    const next = await Promise.all([register(again, 'ws-b'), register('after', 'ws-b')]);
    expect(next.map((r) => r.status).sort()).toEqual([201, 503]);
  });

  it('keeps tenants apart on every capacity route', async () => {
    await registerMany(1);
    expect(
      (await svc.api('GET', '/v1/installations/inst-a/capacity', undefined, TOKEN_B)).status,
    ).toBe(404);
    expect(
      (await svc.api('GET', '/v1/installations/inst-a/capacity/alerts', undefined, TOKEN_B)).status,
    ).toBe(404);
    expect(
      (await svc.api('GET', '/v1/installations/inst-a/capacity', undefined, TOKEN_A)).status,
    ).toBe(200);
  });
});

describe('the capacity toasts', () => {
  let svc: TestService;
  afterEach(async () => {
    await svc.close();
  });

  it('says a resolve delay that is not a whole number of minutes readably', async () => {
    svc = await startService({ ...ENV, CAPACITY_RESOLVE_AFTER_MS: '5000' }, undefined, [
      notificationsModule,
      capacityModule,
    ]);
    const toasts = await openStream(svc, '/v1/installations/inst-a/toasts/stream');
    try {
      for (let i = 0; i < 17; i++) {
        const res = await svc.api('POST', '/v1/connections', {
          connectionId: `c${i}`,
          installationId: 'inst-a',
          workspaceId: 'ws-1',
        });
        expect(res.status).toBe(201);
      }
      await svc.engine.idle();
      for (const id of ['c0', 'c1', 'c2', 'c3']) {
        const res = await svc.api('POST', `/v1/connections/${id}/rollback`, { reason: 'test' });
        expect(res.status).toBe(200);
      }
      await svc.engine.idle();
      svc.clock.advance(5000);
      expect(await svc.engine.fireDueTimers()).toBe(1);
      await svc.engine.idle();
      const resolved = await toasts.waitUntil(
        (e) => e.data.title === 'ACP capacity back to normal',
      );
      expect(resolved.data.body).toBe('ACP usage stayed below 70% for 5 s; the alert is resolved.');
    } finally {
      await toasts.close();
    }
  });
});
