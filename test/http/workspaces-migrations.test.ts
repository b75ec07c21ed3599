/**
 * Workspaces end to end: migrations that finish or fail, scheduled migrations, concurrent
 * processes and the audit streams, through the real app (test/http/workspaces-harness.ts: real
 * Redis, a manual clock).
 */
import { describe, it, expect } from 'vitest';
import { OPERATOR, T0, expectError, hb, startService } from '../helpers.ts';
import {
  SEC,
  MIN,
  HOUR,
  iso,
  service,
  others,
  call,
  settle,
  elapse,
  register,
  handshake,
  connect,
  migrate,
  workspace,
  connection,
  audit,
  acpWorkspace,
  useServices,
} from './workspaces-harness.ts';

useServices();

describe('migrations that finish or fail honestly', () => {
  it('migrates a workspace from ACP to HTTP: connections rolled back, log entry succeeded, no rollback event', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    service.clock.advance(MIN);
    const res = await migrate('ws-1', { toProtocol: 'http', initiatedBy: 'operator' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.workspace).toMatchObject({ state: 'http.idle', transport: 'http' });

    for (const id of ['c1', 'c2']) {
      expect(await connection(id)).toMatchObject({
        status: 'rolled-back',
        rollbackTriggered: true,
      });
    }
    const [newest] = await audit('migrations');
    expect(newest).toMatchObject({
      migrationId: res.body.migrationId,
      fromProtocol: 'acp',
      toProtocol: 'http',
      status: 'succeeded',
      initiatedBy: 'operator',
      completedAt: iso(T0 + MIN),
    });
    expect(await audit('rollbacks')).toEqual([]);
  });

  it('shows a partial migration and fails it after the 10-minute timeout with a failure reason', async () => {
    await register('c1');
    await register('c2');
    expect((await migrate('ws-1')).status).toBe(201);
    await handshake('c1'); // c2 never handshakes

    const partial = await workspace();
    expect(partial).toMatchObject({
      state: 'migrating',
      migration: { status: 'in-progress' },
      connections: {
        total: 2,
        active: 2,
        onAcp: 1,
        pending: 1,
        byStatus: { connected: 1, connecting: 1 },
      },
    });

    await elapse(10 * MIN - SEC);
    expect((await workspace()).state).toBe('migrating');
    await elapse(SEC);

    const ws = await workspace();
    expect(ws).toMatchObject({ state: 'http.idle', transport: 'http', migration: null });
    const log = await audit('migrations');
    expect(log.map((e) => e.status)).toEqual(['failed', 'in-progress']);
    expect(log[0]).toMatchObject({
      migrationId: log[1].migrationId,
      completedAt: iso(T0 + 10 * MIN),
    });
    expect(log[0].failureReason).toMatch(/timed out/);
    expect(await audit('rollbacks')).toEqual([]);
  });
});

describe('scheduled migration', () => {
  it('waits in http.scheduled and starts at its time in a restarted process', async () => {
    await connect('c1');
    const at = T0 + HOUR;
    const res = await migrate('ws-1', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
      scheduledAt: iso(at),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const scheduled = await workspace();
    expect(scheduled).toMatchObject({
      state: 'http.scheduled',
      transport: 'http',
      scheduledMigration: { scheduledAt: iso(at), initiatedBy: 'operator' },
    });

    // The process goes away; another one starts on the same keys with its own clock.
    await service.stopKeepingKeys();
    const next = await startService({ KEY_PREFIX: service.prefix });
    others.push(next);
    expect((await workspace('ws-1', OPERATOR, next)).state).toBe('http.scheduled');

    await elapse(HOUR - SEC, next);
    expect((await workspace('ws-1', OPERATOR, next)).state).toBe('http.scheduled');
    await elapse(SEC, next);
    expect((await workspace('ws-1', OPERATOR, next)).state).toBe('migrating');
    const [started] = await audit('migrations', 'ws-1', '', next);
    expect(started).toMatchObject({
      status: 'in-progress',
      initiatedBy: 'operator',
      scheduledAt: iso(at),
      startedAt: iso(at),
    });
  });

  it('answers 400 naming scheduledAt for a time in the past', async () => {
    await connect('c1');
    const res = await migrate('ws-1', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
      scheduledAt: iso(T0 - MIN),
    });
    expectError(res, 400, 'validation-failed', 'scheduledAt');
    expect((await workspace()).state).toBe('http.idle');
  });

  it('cancels a scheduled migration when the settings stop allowing it, and keeps it when they still do', async () => {
    await connect('c1');
    const at = T0 + HOUR;
    const res = await migrate('ws-1', {
      toProtocol: 'acp',
      initiatedBy: 'user',
      scheduledAt: iso(at),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const put = (body: unknown) => call('PUT', '/v1/installations/inst-a/settings', body);

    // A change that still allows a user's migration leaves the schedule as it was.
    expect((await put({ thresholds: { cooldownMinutes: 10 } })).status).toBe(200);
    await settle();
    expect(await workspace()).toMatchObject({
      state: 'http.scheduled',
      scheduledMigration: { migrationId: res.body.migrationId },
    });

    // Operators-only rollout: a user's scheduled migration is no longer allowed.
    service.clock.advance(MIN);
    expect((await put({ rolloutMode: 'scheduled' })).status).toBe(200);
    await settle();
    expect(await workspace()).toMatchObject({ state: 'http.idle', scheduledMigration: null });
    const [cancelled] = await audit('migrations');
    expect(cancelled).toMatchObject({
      migrationId: res.body.migrationId,
      status: 'failed',
      failureReason: expect.stringContaining('settings no longer allow it'),
      completedAt: iso(T0 + MIN),
    });
    await elapse(HOUR);
    expect((await workspace()).state).toBe('http.idle');
  });

  it('does not start a scheduled migration after migrationEnabled was turned off', async () => {
    await connect('c1');
    const at = T0 + HOUR;
    expect(
      (await migrate('ws-1', { toProtocol: 'acp', initiatedBy: 'operator', scheduledAt: iso(at) }))
        .status,
    ).toBe(201);
    const off = await call('PUT', '/v1/installations/inst-a/settings', { migrationEnabled: false });
    expect(off.status).toBe(200);
    await elapse(HOUR);
    expect(await workspace()).toMatchObject({
      state: 'http.idle',
      migration: null,
      scheduledMigration: null,
    });
    expect((await audit('migrations')).map((e) => e.status)).toEqual(['failed']);
  });

  it('refuses a migration to HTTP with scheduledAt (400 naming it) instead of moving at once', async () => {
    await acpWorkspace('ws-1', ['c1']);
    const before = await audit('migrations');
    const res = await migrate('ws-1', {
      toProtocol: 'http',
      initiatedBy: 'operator',
      scheduledAt: iso(T0 + HOUR),
    });
    expectError(res, 400, 'validation-failed', 'scheduledAt');
    expect(res.body.error.message).toContain('only a migration to ACP can be scheduled');
    expect((await workspace()).state).toBe('acp');
    expect(await connection('c1')).toMatchObject({ status: 'connected' });
    expect(await audit('migrations')).toEqual(before);
  });
});

describe('concurrency', () => {
  it('produces exactly one rollback from concurrent failing heartbeats of 10 connections sent to two processes', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `c${i}`);
    await acpWorkspace('ws-1', ids);
    const second = await startService({ KEY_PREFIX: service.prefix });
    others.push(second);

    const batch = call('POST', '/v1/heartbeats', {
      items: ids.map((connectionId) => ({ connectionId, ...hb(T0, 90, 10) })),
    });
    const singles = ids.map((id) =>
      call('POST', `/v1/connections/${id}/heartbeats`, hb(T0 + 1, 90, 10), OPERATOR, second),
    );
    const [batchRes, ...singleRes] = await Promise.all([batch, ...singles]);
    expect(batchRes.status).toBe(200);
    for (const r of singleRes) expect([200, 409]).toContain(r.status);
    await settle(service, second);
    await settle(service, second);

    const rollbacks = await audit('rollbacks');
    expect(rollbacks).toHaveLength(1);
    expect([...rollbacks[0].connectionIds].sort()).toEqual([...ids].sort());
    expect((await audit('migrations')).filter((e) => e.status === 'rolled-back')).toHaveLength(1);
    const ws = await workspace();
    expect(ws).toMatchObject({
      state: 'http.cooldown',
      autoRollbacksInFlapWindow: 1,
      connections: { active: 0, onHttp: 10 },
    });
  });
});

describe('audit streams', () => {
  /** Two migrations to ACP, each rolled back by the operator, at known times. */
  async function history() {
    await register('c1');
    await migrate('ws-1'); // T0: in-progress
    service.clock.advance(SEC);
    await handshake('c1'); // T0+1s: succeeded
    service.clock.advance(2 * MIN - SEC);
    await call('POST', '/v1/workspaces/ws-1/rollback', { reason: 'first' }); // T0+2m
    service.clock.advance(2 * MIN);
    await register('c2');
    await migrate('ws-1'); // T0+4m: in-progress
    service.clock.advance(SEC);
    await handshake('c2'); // T0+4m+1s: succeeded
    service.clock.advance(2 * MIN - SEC);
    await call('POST', '/v1/workspaces/ws-1/rollback', { reason: 'second' }); // T0+6m
  }

  it('lists migrations newest first and walks them with limit=1, each entry exactly once', async () => {
    await history();
    const all = await audit('migrations');
    expect(all.map((e) => [e.recordedAt, e.status])).toEqual([
      [iso(T0 + 6 * MIN), 'rolled-back'],
      [iso(T0 + 4 * MIN + SEC), 'succeeded'],
      [iso(T0 + 4 * MIN), 'in-progress'],
      [iso(T0 + 2 * MIN), 'rolled-back'],
      [iso(T0 + SEC), 'succeeded'],
      [iso(T0), 'in-progress'],
    ]);

    const walked: any[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const q: string = cursor ? `?limit=1&cursor=${encodeURIComponent(cursor)}` : '?limit=1';
      const res = await call('GET', `/v1/workspaces/ws-1/migrations${q}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(1);
      walked.push(...res.body.items);
      cursor = res.body.nextCursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(walked).toEqual(all);
  });

  it('filters migrations and rollbacks by an inclusive from/to time range', async () => {
    await history();
    const range = `?from=${iso(T0 + 2 * MIN)}&to=${iso(T0 + 4 * MIN)}`;
    expect((await audit('migrations', 'ws-1', range)).map((e) => e.recordedAt)).toEqual([
      iso(T0 + 4 * MIN),
      iso(T0 + 2 * MIN),
    ]);
    const since = await audit('migrations', 'ws-1', `?from=${iso(T0 + 4 * MIN + 1)}`);
    expect(since.map((e) => e.status)).toEqual(['rolled-back', 'succeeded']);

    const rollbacks = await audit('rollbacks');
    expect(rollbacks.map((e) => e.reason)).toEqual(['second', 'first']);
    expect(
      (await audit('rollbacks', 'ws-1', `?to=${iso(T0 + 5 * MIN)}`)).map((e) => e.reason),
    ).toEqual(['first']);
    expect(
      (await audit('rollbacks', 'ws-1', `?from=${iso(T0 + 3 * MIN)}`)).map((e) => e.reason),
    ).toEqual(['second']);

    const first = await call('GET', '/v1/workspaces/ws-1/rollbacks?limit=1');
    expect(first.body.items.map((e: any) => e.reason)).toEqual(['second']);
    const rest = await call(
      'GET',
      `/v1/workspaces/ws-1/rollbacks?limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    expect(rest.body.items.map((e: any) => e.reason)).toEqual(['first']);

    // A cursor of the right shape that no page gave (edited, another stream's or workspace's)
    // is refused naming it; each answered an empty or a wrong page before.
    const given = first.body.nextCursor as string;
    await register('c9', 'ws-2');
    for (const [path, cursor] of [
      ['/v1/workspaces/ws-1/rollbacks', `${given}x`],
      ['/v1/workspaces/ws-1/rollbacks', `999999999999999:${given.slice(16)}`],
      ['/v1/workspaces/ws-1/migrations', given],
      ['/v1/workspaces/ws-2/rollbacks', given],
      ['/v1/installations/inst-a/settings/changes', given],
    ]) {
      const res = await call('GET', `${path}?cursor=${encodeURIComponent(cursor!)}`);
      expectError(res, 400, 'validation-failed', 'cursor');
      expect(res.body.error.details.fields).toEqual([
        { field: 'cursor', message: 'is not valid; pass back nextCursor unchanged' },
      ]);
    }
  });

  it('answers 400 naming cursor for a cursor it did not issue, and naming from for a non-UTC time', async () => {
    await connect('c1');
    for (const stream of ['migrations', 'rollbacks', 'decisions']) {
      expectError(
        await call('GET', `/v1/workspaces/ws-1/${stream}?cursor=not-a-cursor`),
        400,
        'validation-failed',
        'cursor',
      );
    }
    expectError(
      await call('GET', '/v1/workspaces/ws-1/migrations?from=yesterday'),
      400,
      'validation-failed',
      'from',
    );
  });

  it('answers 400 naming to when from is after to, on every audit list, as what-if does; from = to is one instant', async () => {
    await history();
    const reversed = `?from=${iso(T0 + 4 * MIN)}&to=${iso(T0 + 2 * MIN)}`;
    for (const path of [
      '/v1/workspaces/ws-1/migrations',
      '/v1/workspaces/ws-1/rollbacks',
      '/v1/workspaces/ws-1/decisions',
      '/v1/installations/inst-a/settings/changes',
    ]) {
      const res = await call('GET', `${path}${reversed}`);
      expectError(res, 400, 'validation-failed', 'to');
      expect(res.body.error.details).toMatchObject({
        in: 'query',
        fields: [{ field: 'to', message: 'must not be before from' }],
      });
    }
    // The what-if route refuses a reversed range the same way (its `to` must even be later).
    expectError(
      await call('POST', '/v1/workspaces/ws-1/what-if', {
        from: iso(T0 + 4 * MIN),
        to: iso(T0 + 2 * MIN),
        settings: {},
      }),
      400,
      'validation-failed',
      'to',
    );
    // Both bounds are inclusive: from = to is the records of that instant.
    const instant = `?from=${iso(T0 + 2 * MIN)}&to=${iso(T0 + 2 * MIN)}`;
    expect((await audit('migrations', 'ws-1', instant)).map((e) => e.recordedAt)).toEqual([
      iso(T0 + 2 * MIN),
    ]);
  });
});

describe('recovery after a rollback', () => {
  /** What was sent for a source (an alert, a rollback, a recovery). */
  const sent = async (sourceId: string) => {
    const res = await call(
      'GET',
      `/v1/installations/inst-a/notifications/deliveries?sourceId=${encodeURIComponent(sourceId)}`,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.items as { kind: string; channel: string; status: string }[];
  };

  it('tells users once when a rolled-back workspace is on ACP again, not after a first migration or a requested move to HTTP', async () => {
    await register('c1');
    const first = await migrate('ws-1');
    service.clock.advance(SEC);
    await handshake('c1');
    await settle();
    expect((await workspace()).state).toBe('acp');
    expect(await sent(`${first.body.migrationId}-recovered`)).toEqual([]);

    service.clock.advance(MIN);
    expect((await call('POST', '/v1/workspaces/ws-1/rollback', { reason: 'flaky' })).status).toBe(
      201,
    );
    service.clock.advance(2 * MIN);
    const back = await migrate('ws-1');
    expect(back.status, JSON.stringify(back.body)).toBe(201);
    // c1 stays rolled back: with no active connection the migration waits for one, and the
    // workspace has not recovered yet.
    await settle();
    expect((await workspace()).state).toBe('migrating');
    expect(await sent(`${back.body.migrationId}-recovered`)).toEqual([]);
    await register('c2');
    service.clock.advance(SEC);
    await handshake('c2');
    await settle();
    expect((await workspace()).state).toBe('acp');
    expect(await sent(`${back.body.migrationId}-recovered`)).toMatchObject([
      { kind: 'recovery', channel: 'toast', status: 'delivered' },
    ]);

    // Moved to HTTP by request, then back: not a recovery (no rollback put it on HTTP).
    service.clock.advance(MIN);
    const toHttp = await migrate('ws-1', { toProtocol: 'http', initiatedBy: 'operator' });
    expect(toHttp.status, JSON.stringify(toHttp.body)).toBe(201);
    service.clock.advance(MIN);
    await register('c3');
    const again = await migrate('ws-1');
    service.clock.advance(SEC);
    await handshake('c3');
    await settle();
    expect((await workspace()).state).toBe('acp');
    expect(await sent(`${again.body.migrationId}-recovered`)).toEqual([]);
  });
});
