/**
 * Workspaces end to end: installation settings and tenant isolation, through the real app
 * (test/http/workspaces-harness.ts: real Redis, a manual clock).
 */
import { describe, it, expect } from 'vitest';
import { OPERATOR, T0, TOKEN_A, TOKEN_B, expectError, hb } from '../helpers.ts';
import {
  SEC,
  MIN,
  UUID,
  iso,
  type Res,
  service,
  call,
  settle,
  beat,
  workspace,
  connection,
  audit,
  acpWorkspace,
  useServices,
} from './workspaces-harness.ts';

useServices();

describe('installation settings', () => {
  const DEFAULTS = {
    defaultProtocol: 'http',
    migrationEnabled: true,
    rolloutMode: 'opt-in',
    autoRollout: false,
    thresholds: {
      minSuccessRate: 0.99,
      windowMinutes: 60,
      minSamples: 100,
      cooldownMinutes: 30,
      flapLimit: 3,
      flapWindowHours: 24,
      autoMigrateAfterMinutes: 15,
      migrationTimeoutMinutes: 10,
    },
  };

  it('writes and audits nothing for a change that changes nothing', async () => {
    const path = '/v1/installations/inst-a/settings';
    const set = await call('PUT', path, { rolloutMode: 'optIn', thresholds: { flapLimit: 3 } });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toEqual({ settings: DEFAULTS, change: null });
    expect((await call('GET', `${path}/changes`)).body.items).toEqual([]);

    const changed = await call('PUT', path, { thresholds: { flapLimit: 4 } });
    expect(changed.body.change.changes).toEqual({ 'thresholds.flapLimit': { from: 3, to: 4 } });
    const again = await call('PUT', path, { thresholds: { flapLimit: 4 } });
    expect(again.body.change).toBeNull();
    expect((await call('GET', `${path}/changes`)).body.items).toHaveLength(1);
  });

  it('returns the defaults, with rolloutMode in kebab-case', async () => {
    for (const token of [OPERATOR, TOKEN_A]) {
      const res = await call('GET', '/v1/installations/inst-a/settings', undefined, token);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(DEFAULTS);
    }
  });

  it('answers 403 to a tenant token changing settings and changes nothing', async () => {
    const res = await call(
      'PUT',
      '/v1/installations/inst-a/settings',
      { thresholds: { minSuccessRate: 0.5 } },
      TOKEN_A,
    );
    expectError(res, 403, 'forbidden');
    expect((await call('GET', '/v1/installations/inst-a/settings')).body).toEqual(DEFAULTS);
    expect((await call('GET', '/v1/installations/inst-a/settings/changes')).body.items).toEqual([]);
  });

  it('validates a change: 400 naming thresholds.minSuccessRate for 1.5, and 400 for unknown fields', async () => {
    const path = '/v1/installations/inst-a/settings';
    expectError(
      await call('PUT', path, { thresholds: { minSuccessRate: 1.5 } }),
      400,
      'validation-failed',
      'thresholds.minSuccessRate',
    );
    expectError(await call('PUT', path, { colour: 'blue' }), 400, 'validation-failed', 'colour');
    expectError(
      await call('PUT', path, { thresholds: { minSucessRate: 0.9 } }),
      400,
      'validation-failed',
      'thresholds.minSucessRate',
    );
    expectError(
      await call('PUT', path, { rolloutMode: 'sometimes' }),
      400,
      'validation-failed',
      'rolloutMode',
    );
    expect((await call('GET', path)).body).toEqual(DEFAULTS);
    expect((await call('GET', `${path}/changes`)).body.items).toEqual([]);
  });

  it('audits a change with who (the token name, never the token) and each field from/to', async () => {
    service.clock.advance(3 * SEC);
    const res = await call('PUT', '/v1/installations/inst-a/settings', {
      rolloutMode: 'automatic',
      thresholds: { minSuccessRate: 0.95 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.settings).toMatchObject({
      rolloutMode: 'automatic',
      thresholds: { minSuccessRate: 0.95, minSamples: 100 },
    });
    expect(
      (await call('GET', '/v1/installations/inst-a/settings', undefined, TOKEN_A)).body,
    ).toEqual(res.body.settings);

    const changes = await call(
      'GET',
      '/v1/installations/inst-a/settings/changes',
      undefined,
      TOKEN_A,
    );
    expect(changes.status).toBe(200);
    expect(changes.body.items).toHaveLength(1);
    expect(changes.body.items[0]).toEqual({
      changeId: expect.stringMatching(UUID),
      installationId: 'inst-a',
      changedBy: 'operator-1',
      changedAt: iso(T0 + 3 * SEC),
      changes: {
        rolloutMode: { from: 'opt-in', to: 'automatic' },
        'thresholds.minSuccessRate': { from: 0.99, to: 0.95 },
      },
    });
  });

  it('uses a changed minSuccessRate for the next decision', async () => {
    await call('PUT', '/v1/installations/inst-a/settings', {
      thresholds: { minSuccessRate: 0.95 },
    });
    await acpWorkspace('ws-1', ['c1', 'c2']);
    await beat('c1', hb(T0, 480, 20));
    await beat('c2', hb(T0, 480, 20));
    await settle();
    // 96% would breach the default 99% but not 95%.
    expect((await workspace()).state).toBe('acp');
    expect((await workspace()).health).toMatchObject({ minSuccessRate: 0.95, verdict: 'healthy' });

    service.clock.advance(MIN);
    const res = await call('PUT', '/v1/installations/inst-a/settings', {
      thresholds: { minSuccessRate: 0.97 },
    });
    expect(res.status).toBe(200);
    await settle();
    expect((await workspace()).state).toBe('http.cooldown');
    const [event] = await audit('rollbacks');
    expect(event).toMatchObject({
      trigger: 'auto-threshold',
      thresholds: { minSuccessRate: 0.97 },
      metricsSnapshot: { successRate: 0.96, sampleSize: 1000 },
    });
    expect(event.notification.toast.body).toContain('97.0%');
  });
});

describe('tenant isolation', () => {
  const leaks = (res: Res) => {
    const text = JSON.stringify(res.body);
    for (const secret of ['inst-a', 'c1', '"acp"', 'settings']) expect(text).not.toContain(secret);
  };

  it('answers TOKEN_B 404 on every workspace route of an inst-a workspace, exactly as for an unknown one, and changes nothing', async () => {
    await acpWorkspace('ws-1', ['c1']);
    const routes = (ws: string): [string, string, unknown][] => [
      ['GET', `/v1/workspaces/${ws}`, undefined],
      ['POST', `/v1/workspaces/${ws}/migrations`, { toProtocol: 'http', initiatedBy: 'user' }],
      ['POST', `/v1/workspaces/${ws}/migrations/cancel`, {}],
      ['POST', `/v1/workspaces/${ws}/rollback`, { reason: 'not mine' }],
      ['GET', `/v1/workspaces/${ws}/migrations`, undefined],
      ['GET', `/v1/workspaces/${ws}/rollbacks`, undefined],
      ['GET', `/v1/workspaces/${ws}/decisions`, undefined],
    ];
    const unknown = routes('ws-nope');
    for (const [i, [method, path, body]] of routes('ws-1').entries()) {
      const res = await call(method, path, body, TOKEN_B);
      expectError(res, 404, 'not-found');
      leaks(res);
      const [m, p, b] = unknown[i]!;
      const other = await call(m, p, b, TOKEN_B);
      expect(JSON.stringify(res.body).replaceAll('ws-1', 'ws-nope')).toBe(
        JSON.stringify(other.body),
      );
    }
    await settle();
    expect(await workspace()).toMatchObject({ state: 'acp', lastRollback: null });
    expect(await audit('rollbacks')).toEqual([]);
    expect((await connection('c1')).status).toBe('connected');
  });

  it('answers TOKEN_B 404 for inst-a settings and their changes, also for changing them', async () => {
    await call('PUT', '/v1/installations/inst-a/settings', { thresholds: { minSamples: 500 } });
    for (const path of [
      '/v1/installations/inst-a/settings',
      '/v1/installations/inst-a/settings/changes',
    ]) {
      const res = await call('GET', path, undefined, TOKEN_B);
      expectError(res, 404, 'not-found');
      expect(JSON.stringify(res.body)).not.toContain('500');
      expect(JSON.stringify(res.body)).not.toContain('operator-1');
    }
    // A path naming an installation the token cannot see is not found, whatever the method, as
    // for a workspace of it: 403 (not an operator) would be the answer for its own installation.
    const put = await call(
      'PUT',
      '/v1/installations/inst-a/settings',
      { thresholds: { minSamples: 1 } },
      TOKEN_B,
    );
    expectError(put, 404, 'not-found');
    expect(put.body.error.message).toBe('installation inst-a not found');
    expectError(
      await call(
        'PUT',
        '/v1/installations/inst-a/settings',
        { thresholds: { minSamples: 1 } },
        TOKEN_A,
      ),
      403,
      'forbidden',
    );
    expect(
      (await call('GET', '/v1/installations/inst-a/settings')).body.thresholds.minSamples,
    ).toBe(500);
  });

  it('answers TOKEN_B 404 for changing inst-a settings of either kind, as for an unknown installation', async () => {
    const routes: [string, string, unknown][] = [
      ['PUT', '/v1/installations/%s/settings', { autoRollout: true }],
      ['PUT', '/v1/installations/%s/notifications/settings', {}],
    ];
    for (const [method, path, body] of routes) {
      const res = await call(method, path.replace('%s', 'inst-a'), body, TOKEN_B);
      expectError(res, 404, 'not-found');
      expect(res.body.error.details).toEqual({ field: 'installationId' });
      const unknown = await call(method, path.replace('%s', 'inst-zz'), body, TOKEN_B);
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.message).toBe(res.body.error.message.replace('inst-a', 'inst-zz'));
      // Its own installation's route refuses the role instead.
      const own = await call(method, path.replace('%s', 'inst-a'), body, TOKEN_A);
      expectError(own, 403, 'forbidden');
    }
    expect((await call('GET', '/v1/installations/inst-a/settings')).body.autoRollout).toBe(false);
  });

  // A regression test: the issue lists re-enable among the routes where TOKEN_B gets 404 for an
  // inst-a workspace; reenableAutoMigration used to check for an operator before resolving the
  // workspace, so every tenant token got 403 instead.
  it('answers TOKEN_B 404 for re-enabling automatic migration of an inst-a workspace', async () => {
    await acpWorkspace('ws-1', ['c1']);
    const res = await call('POST', '/v1/workspaces/ws-1/auto-migration/reenable', {}, TOKEN_B);
    leaks(res);
    expectError(res, 404, 'not-found');
  });

  it('answers TOKEN_B the same for re-enabling an inst-a workspace as for an unknown one (no existence leak)', async () => {
    await acpWorkspace('ws-1', ['c1']);
    const res = await call('POST', '/v1/workspaces/ws-1/auto-migration/reenable', {}, TOKEN_B);
    const other = await call('POST', '/v1/workspaces/ws-nope/auto-migration/reenable', {}, TOKEN_B);
    expect(res.status).toBeGreaterThanOrEqual(400);
    leaks(res);
    expect(res.status).toBe(other.status);
    expect(JSON.stringify(res.body).replaceAll('ws-1', 'ws-nope')).toBe(JSON.stringify(other.body));
  });
});
