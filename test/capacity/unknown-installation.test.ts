/**
 * `GET /v1/installations/:id/capacity` of an installation nothing in Redis knows answers 404
 * naming it, for any token and from any process, instead of a record of zeros that reads as an
 * installation with no connections; an installation that exists (a connection registered, even
 * if none is active any more, or only its settings) answers its record. Real HTTP, real Redis.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  OPERATOR,
  TOKEN_A,
  TOKEN_B,
  type TestService,
  checkInvariants,
  expectError,
  startService,
} from '../helpers.ts';
import { skipped } from '../automation/support.ts';
import { sendAndDiff } from '../hostile/support.ts';

const services: TestService[] = [];

afterEach(async () => {
  // The first service started owns the prefix: closing it last deletes the keys.
  for (const s of services.splice(0).reverse()) await s.close();
});

async function service(env: Record<string, string> = {}) {
  const s = await startService(env);
  services.push(s);
  return s;
}

const capacityOf = (installationId: string) => `/v1/installations/${installationId}/capacity`;

/**
 * Asks for the capacity of `installationId` (or its `route` under it, e.g. `/alerts`) and
 * returns the answer with the keys it wrote.
 */
async function ask(s: TestService, installationId: string, token = OPERATOR, route = '') {
  const res = await sendAndDiff(s, {
    method: 'GET',
    path: `${capacityOf(installationId)}${route}`,
    headers: { authorization: `Bearer ${token}` },
  });
  checkInvariants(res);
  return res;
}

function expectUnknown(res: Awaited<ReturnType<typeof ask>>, installationId: string) {
  expectError(res, 404, 'not-found');
  expect(res.body.error.message).toBe(`installation ${installationId} not found`);
  expect(res.body.error.details).toEqual({ field: 'installationId' });
  expect(res.written).toEqual([]);
}

describe('GET /v1/installations/:id/capacity of an unknown installation', () => {
  it('answers 404 naming the installation, writes nothing, and tells a tenant nothing more than it tells of another tenant', async () => {
    const s = await service();
    expectUnknown(await ask(s, 'inst-nowhere'), 'inst-nowhere');
    // Its alerts likewise: not an empty list that reads as an installation without alerts.
    expectUnknown(await ask(s, 'inst-nowhere', OPERATOR, '/alerts'), 'inst-nowhere');

    // A tenant asking its own installation before anything of it exists gets the same 404 as
    // for an installation of another tenant (which exists): the two cannot be told apart.
    expect(
      (
        await s.api('POST', '/v1/connections', {
          connectionId: 'b1',
          installationId: 'inst-b',
          workspaceId: 'ws-b',
        })
      ).status,
    ).toBe(201);
    const own = await ask(s, 'inst-a', TOKEN_A);
    expectUnknown(own, 'inst-a');
    const other = await ask(s, 'inst-b', TOKEN_A);
    expectUnknown(other, 'inst-b');
    expect(other.headers['content-type']).toBe(own.headers['content-type']);
    expect((await ask(s, 'inst-b', TOKEN_B)).status).toBe(200);
  });

  it('answers the real record of an installation whose connections are all gone, and of one with only settings or notifications', async () => {
    const s = await service();
    for (const connectionId of ['c1', 'c2']) {
      const reg = await s.api('POST', '/v1/connections', {
        connectionId,
        installationId: 'inst-a',
        workspaceId: 'ws-1',
      });
      expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    }
    for (const connectionId of ['c1', 'c2']) {
      const rb = await s.api('POST', `/v1/connections/${connectionId}/rollback`, {
        reason: 'test',
      });
      expect(rb.status, JSON.stringify(rb.body)).toBe(200);
    }
    await s.engine.idle();
    const drained = await ask(s, 'inst-a', TOKEN_A);
    expect(drained.status, JSON.stringify(drained.body)).toBe(200);
    expect(drained.body).toMatchObject({
      installationId: 'inst-a',
      state: 'normal',
      activeConnections: 0,
      capacityPercent: 0,
      shedding: false,
    });
    // Its chart has counted (up to 2 and back to 0): not the record of an unknown id.
    expect(drained.body.lastEvaluated).toBe(new Date(s.clock.now()).toISOString());

    // Settings alone make an installation: its record, before its first connection.
    const put = await s.api('PUT', '/v1/installations/inst-s/settings', {
      thresholds: { minSuccessRate: 0.95 },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const settingsOnly = await ask(s, 'inst-s');
    expect(settingsOnly.status, JSON.stringify(settingsOnly.body)).toBe(200);
    const noAlerts = await ask(s, 'inst-s', OPERATOR, '/alerts');
    expect(noAlerts.status, JSON.stringify(noAlerts.body)).toBe(200);
    expect(noAlerts.body).toEqual({ items: [], nextCursor: null });
    expect(settingsOnly.body).toMatchObject({
      installationId: 'inst-s',
      state: 'normal',
      activeConnections: 0,
      lastEvaluated: null,
      refusedConnections: 0,
      openAlert: null,
    });

    // So do notification settings alone, and a notification alone (a skipped run's toast).
    const notify = await s.api('PUT', '/v1/installations/inst-n/notifications/settings', {
      channels: { rollback: ['toast'] },
    });
    expect(notify.status, JSON.stringify(notify.body)).toBe(200);
    expect((await ask(s, 'inst-n')).body).toMatchObject({
      installationId: 'inst-n',
      state: 'normal',
    });
    const run = await s.api(
      'POST',
      '/v1/sessions/s-t/automation',
      skipped({ installationId: 'inst-t', workspaceId: 'ws-t' }),
    );
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    await s.engine.idle();
    expect((await ask(s, 'inst-t')).body).toMatchObject({
      installationId: 'inst-t',
      state: 'normal',
    });
  });

  it('is decided in Redis: a process that saw nothing of the installation answers as the one that registered it', async () => {
    const a = await service();
    // Started before the installation exists, over the same keys: it has nothing of it in memory.
    const b = await service({ KEY_PREFIX: a.prefix });
    expectUnknown(await ask(a, 'inst-x'), 'inst-x');
    expectUnknown(await ask(b, 'inst-x'), 'inst-x');

    const reg = await a.api('POST', '/v1/connections', {
      connectionId: 'x1',
      installationId: 'inst-x',
      workspaceId: 'ws-x',
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    await a.engine.idle();

    const fromA = await ask(a, 'inst-x');
    const fromB = await ask(b, 'inst-x');
    expect(fromA.status).toBe(200);
    expect(fromB.status).toBe(200);
    expect(fromB.body).toEqual(fromA.body);
    expect(fromB.body.activeConnections).toBe(1);
    // Still unknown on both: another id.
    expectUnknown(await ask(b, 'inst-y'), 'inst-y');
  });
});
