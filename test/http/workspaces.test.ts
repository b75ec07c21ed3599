/**
 * Workspaces end to end: migrations between HTTP and ACP, automatic and manual rollback,
 * cooldown, flap protection, audit streams and installation settings, through the real app on
 * port 0, real Redis under a per-test key prefix and a manual clock at T0.
 *
 * Evaluations run asynchronously after each connection commit, so every step that may decide
 * something is followed by `settle()` before anything is asserted. Durable timers fire only when
 * a test says so (`elapse`). Every response is checked for the same invariants as in
 * connections.test.ts: no bearer token in any body, errors in one shape.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import {
  OPERATOR,
  T0,
  TOKEN_A,
  TOKEN_B,
  type TestService,
  checkInvariants,
  expectError,
  hb,
  startService,
} from '../helpers.ts';

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const iso = (ms: number) => new Date(ms).toISOString();

interface Res {
  status: number;
  body: any;
}

let service: TestService;
/** Further processes on the same keys, closed after the test. */
let others: TestService[] = [];

beforeEach(async () => {
  service = await startService();
  others = [];
});

afterEach(async () => {
  for (const s of others) await s.close();
  await service.close();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = OPERATOR,
  svc: TestService = service,
): Promise<Res> {
  const res = await svc.api(method, path, body, token);
  checkInvariants(res);
  return res;
}

/** Waits for every pending workspace evaluation and effect of the given processes. */
async function settle(...svcs: TestService[]): Promise<void> {
  for (const s of svcs.length ? svcs : [service]) {
    await s.engine.idle();
  }
}

/** Moves the clock, fires every durable timer now due, and lets evaluations finish. */
async function elapse(ms: number, svc: TestService = service): Promise<void> {
  svc.clock.advance(ms);
  await svc.engine.fireDueTimers();
  await settle(svc);
}

async function register(connectionId: string, workspaceId = 'ws-1', token = OPERATOR) {
  const res = await call(
    'POST',
    '/v1/connections',
    { connectionId, installationId: 'inst-a', workspaceId },
    token,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function handshake(connectionId: string) {
  const res = await call('POST', `/v1/connections/${connectionId}/handshake`, {
    protocolVersion: '1.2.0',
    negotiatedCapabilities: ['fs'],
  });
  expect(res.body.status).toBe('connected');
  await settle();
  return res.body;
}

async function connect(connectionId: string, workspaceId = 'ws-1') {
  await register(connectionId, workspaceId);
  return handshake(connectionId);
}

async function beat(connectionId: string, body: unknown, svc: TestService = service) {
  const res = await call('POST', `/v1/connections/${connectionId}/heartbeats`, body, OPERATOR, svc);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function migrate(
  workspaceId: string,
  body: Record<string, unknown> = { toProtocol: 'acp', initiatedBy: 'operator' },
  token = OPERATOR,
) {
  const res = await call('POST', `/v1/workspaces/${workspaceId}/migrations`, body, token);
  await settle();
  return res;
}

async function workspace(workspaceId = 'ws-1', token = OPERATOR, svc: TestService = service) {
  const res = await call('GET', `/v1/workspaces/${workspaceId}`, undefined, token, svc);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function connection(connectionId: string) {
  const res = await call('GET', `/v1/connections/${connectionId}`);
  expect(res.status).toBe(200);
  return res.body;
}

type Stream = 'migrations' | 'rollbacks' | 'decisions';

async function audit(
  stream: Stream,
  workspaceId = 'ws-1',
  query = '',
  svc: TestService = service,
): Promise<any[]> {
  const res = await call(
    'GET',
    `/v1/workspaces/${workspaceId}/${stream}${query}`,
    undefined,
    OPERATOR,
    svc,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items;
}

/** A workspace on ACP: its connections registered, migrated by the operator, handshaken. */
async function acpWorkspace(workspaceId: string, connectionIds: string[]) {
  for (const id of connectionIds) await register(id, workspaceId);
  expect((await migrate(workspaceId)).status).toBe(201);
  for (const id of connectionIds) await handshake(id);
  expect((await workspace(workspaceId)).state).toBe('acp');
}

/**
 * One automatic rollback cycle on a workspace that is on HTTP: a new connection, an operator
 * migration back to ACP, then 90% success over 100 operations. The failures are stamped in the
 * minute the workspace went to ACP and decided a minute later, so the health window after the
 * rollback starts clean (see the same-minute test below for why that matters).
 */
async function autoRollbackCycle(workspaceId: string, connectionId: string) {
  service.clock.advance(2 * MIN);
  const onAcpAt = service.clock.now();
  await connect(connectionId, workspaceId);
  expect((await migrate(workspaceId)).status).toBe(201);
  expect((await workspace(workspaceId)).state).toBe('acp');
  service.clock.advance(MIN);
  await beat(connectionId, hb(onAcpAt, 90, 10));
  await settle();
  expect((await workspace(workspaceId)).state).toBe('http.cooldown');
}

describe('a newcomer migrating a workspace to ACP', () => {
  it('registers on HTTP, migrates, and is on ACP once its connection has handshaken, logging in-progress then succeeded', async () => {
    await register('c1', 'ws-1', TOKEN_A);
    const before = await workspace('ws-1', TOKEN_A);
    expect(before).toMatchObject({
      workspaceId: 'ws-1',
      installationId: 'inst-a',
      transport: 'http',
      state: 'http.idle',
      migration: null,
      connections: { total: 1, active: 1, onAcp: 0, pending: 1 },
    });

    const started = await migrate('ws-1', { toProtocol: 'acp', initiatedBy: 'user' }, TOKEN_A);
    expect(started.status).toBe(201);
    expect(started.body.migrationId).toMatch(UUID);
    expect(started.body.workspace).toMatchObject({
      state: 'migrating',
      transport: 'http',
      migration: { migrationId: started.body.migrationId, status: 'in-progress' },
    });
    expect((await workspace('ws-1', TOKEN_A)).state).toBe('migrating');

    service.clock.advance(5 * SEC);
    await handshake('c1');
    const after = await workspace('ws-1', TOKEN_A);
    expect(after).toMatchObject({
      transport: 'acp',
      state: 'acp',
      migration: null,
      transportSince: iso(T0 + 5 * SEC),
      connections: { total: 1, active: 1, onAcp: 1, pending: 0, byStatus: { connected: 1 } },
    });

    const log = await audit('migrations');
    expect(log.map((e) => e.status)).toEqual(['succeeded', 'in-progress']);
    for (const entry of log) {
      expect(entry).toMatchObject({
        migrationId: started.body.migrationId,
        workspaceId: 'ws-1',
        installationId: 'inst-a',
        fromProtocol: 'http',
        toProtocol: 'acp',
        initiatedBy: 'user',
        requestedBy: 'api-token-1',
        startedAt: iso(T0),
      });
    }
    expect(log[0]).toMatchObject({ completedAt: iso(T0 + 5 * SEC), recordedAt: iso(T0 + 5 * SEC) });
    expect(log[1]).toMatchObject({ completedAt: null, recordedAt: iso(T0) });
    expect(await audit('rollbacks')).toEqual([]);
  });

  it('answers 409 for a migration to ACP of a workspace already on ACP, and to HTTP of one on HTTP', async () => {
    await register('c1');
    expectError(
      await migrate('ws-1', { toProtocol: 'http', initiatedBy: 'operator' }),
      409,
      'migration-refused',
    );
    await acpWorkspace('ws-2', ['c2']);
    expectError(await migrate('ws-2'), 409, 'migration-refused');
    expect((await workspace('ws-2')).state).toBe('acp');
  });
});

describe('automatic rollback at the success-rate threshold', () => {
  it('keeps a workspace at exactly 99.0% (990 ok / 10 failed over two connections) on ACP', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    await beat('c1', hb(T0, 495, 5));
    await beat('c2', hb(T0, 495, 5));
    await settle();

    const ws = await workspace();
    expect(ws.state).toBe('acp');
    expect(ws.health).toMatchObject({ sampleSize: 1000, successRate: 0.99, verdict: 'healthy' });
    expect(await audit('rollbacks')).toEqual([]);
    expect(await audit('decisions')).toEqual([]);
    expect((await connection('c1')).rollbackTriggered).toBe(false);
  });

  it('rolls a workspace just below 99.0% (989 ok / 11 failed over two connections) back to HTTP with all its connections', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    service.clock.advance(SEC);
    await beat('c1', hb(T0, 495, 5));
    await beat('c2', hb(T0, 494, 6));
    await settle();

    const ws = await workspace();
    expect(ws).toMatchObject({
      state: 'http.cooldown',
      transport: 'http',
      connections: { total: 2, active: 0, onHttp: 2, byStatus: { 'rolled-back': 2 } },
      lastRollback: { trigger: 'auto-threshold', reasonCode: 'success-rate-below-threshold' },
    });
    const rollbacks = await audit('rollbacks');
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0].metricsSnapshot).toMatchObject({ sampleSize: 1000, successRate: 0.989 });
    for (const id of ['c1', 'c2']) {
      expect(await connection(id)).toMatchObject({
        status: 'rolled-back',
        rollbackTriggered: true,
      });
    }
    const [newest] = await audit('migrations');
    expect(newest).toMatchObject({
      fromProtocol: 'acp',
      toProtocol: 'http',
      status: 'rolled-back',
      initiatedBy: 'system',
      rollbackReason: 'success-rate-below-threshold',
      rollbackEventId: rollbacks[0].eventId,
    });
  });

  it('names every connection in a rollback decided inside one batch, before the others report back rolled back', async () => {
    // One request, one chain: the workspace takes c1's and c2's reports (the breach, at c2), c3's,
    // and then the rolled-back reports its own ROLLBACK caused. Those come after the decision.
    await acpWorkspace('ws-1', ['c1', 'c2', 'c3']);
    service.clock.advance(SEC);
    const items = [
      { connectionId: 'c1', ...hb(T0, 500, 0) },
      { connectionId: 'c2', ...hb(T0, 480, 20) },
      { connectionId: 'c3', ...hb(T0, 100, 0) },
    ];
    const res = await call('POST', '/v1/heartbeats', { items });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const [rollback] = await audit('rollbacks');
    expect([...rollback.connectionIds].sort()).toEqual(['c1', 'c2', 'c3']);
    expect(rollback.metricsSnapshot).toMatchObject({ sampleSize: 1000, successRate: 0.98 });
    for (const id of ['c1', 'c2', 'c3'])
      expect(await connection(id)).toMatchObject({ status: 'rolled-back' });
  });

  it('never rolls back on too few samples (50 ok / 49 failed), recording one rollback-held decision, then rolls back at the 100th operation', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    const beats: [string, number, number][] = [
      ['c1', 10, 10],
      ['c2', 10, 10],
      ['c1', 10, 10],
      ['c2', 10, 9],
      ['c1', 10, 10],
    ];
    for (const [id, ok, ko] of beats) {
      await beat(id, hb(T0, ok, ko));
      await settle();
      expect((await workspace()).state).toBe('acp');
    }

    const ws = await workspace();
    expect(ws.health).toMatchObject({ sampleSize: 99, verdict: 'held' });
    expect(ws.health.successRate).toBeCloseTo(50 / 99, 10);
    expect(await audit('rollbacks')).toEqual([]);
    const decisions = await audit('decisions');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({
      decision: 'rollback-held',
      workspaceId: 'ws-1',
      installationId: 'inst-a',
    });
    expect(decisions[0].reason).toContain('100');

    await beat('c2', hb(T0, 0, 1));
    await settle();
    expect((await workspace()).state).toBe('http.cooldown');
    expect(await audit('rollbacks')).toHaveLength(1);
    expect(await audit('decisions')).toHaveLength(1);
  });

  it('lets old failures leave the window as event time passes: failures at T0 do not count 61 minutes later', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    await beat('c1', hb(T0, 90, 9));
    await settle();
    expect((await workspace()).health).toMatchObject({ sampleSize: 99, verdict: 'held' });

    service.clock.advance(61 * MIN);
    // 200/201 is healthy alone; with the 99 from T0 it would be 290/300 = 96.7%, a breach.
    await beat('c2', hb(T0 + 61 * MIN, 200, 1));
    await settle();

    const ws = await workspace();
    expect(ws.state).toBe('acp');
    expect(ws.health).toMatchObject({ sampleSize: 201, verdict: 'healthy', windowMinutes: 60 });
    expect(ws.health.successRate).toBeCloseTo(200 / 201, 10);
    expect(await audit('rollbacks')).toEqual([]);
  });

  it('still counts failures from 59 minutes ago: the same traffic inside the hour rolls back', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    await beat('c1', hb(T0, 90, 9));
    await settle();
    service.clock.advance(59 * MIN);
    await beat('c2', hb(T0 + 59 * MIN, 200, 1));
    await settle();

    expect((await workspace()).state).toBe('http.cooldown');
    const [rollback] = await audit('rollbacks');
    expect(rollback.metricsSnapshot).toMatchObject({ sampleSize: 300 });
    expect(rollback.metricsSnapshot.successRate).toBeCloseTo(290 / 300, 10);
  });

  it('records a complete RollbackEvent: ids, trigger, protocols, follow-ups, metrics, a short error toast and the connections moved', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2', 'c3']);
    service.clock.advance(7 * SEC);
    const latencies = [...Array<number>(95).fill(40), ...Array<number>(5).fill(900)];
    await beat('c1', hb(T0, 495, 5, latencies));
    await beat('c2', hb(T0, 494, 6, latencies));
    await settle();

    const rollbacks = await audit('rollbacks');
    expect(rollbacks).toHaveLength(1);
    const event = rollbacks[0];
    expect(event.eventId).toMatch(UUID);
    expect(event).toMatchObject({
      workspaceId: 'ws-1',
      installationId: 'inst-a',
      trigger: 'auto-threshold',
      reasonCode: 'success-rate-below-threshold',
      previousProtocol: 'acp',
      newProtocol: 'http',
      requestedBy: null,
      initiatedAt: iso(T0 + 7 * SEC),
      thresholds: { minSuccessRate: 0.99, minSamples: 100, windowMinutes: 60 },
      cooldownUntil: iso(T0 + 7 * SEC + 30 * MIN),
    });
    expect(event.initiatedAt).toMatch(ISO_UTC);
    expect(event.followUpActions).toEqual(
      expect.arrayContaining(['notify-users', 'schedule-review']),
    );
    expect(event.metricsSnapshot).toMatchObject({
      successRate: 0.989,
      sampleSize: 1000,
      windowMinutes: 60,
      activeConnections: 3,
      capacityPercent: null, // the workspace knows its own connections, not the installation's capacity
    });
    expect(event.metricsSnapshot.latencyP95).toBeTypeOf('number');
    expect(event.metricsSnapshot.latencyP95).toBeGreaterThanOrEqual(40);
    expect(event.notification.toast.severity).toBe('error');
    expect(event.notification.toast.body.length).toBeGreaterThan(0);
    expect(event.notification.toast.body.length).toBeLessThanOrEqual(140);
    expect(event.notification.toast.body).toContain('98.9%');
    expect([...event.connectionIds].sort()).toEqual(['c1', 'c2', 'c3']);

    const ws = await workspace();
    expect(ws.lastRollback).toMatchObject({ eventId: event.eventId, at: event.initiatedAt });
    expect(ws.cooldownUntil).toBe(event.cooldownUntil);
    const c3 = await connection('c3');
    expect(c3).toMatchObject({ status: 'rolled-back', rollbackTriggered: true });
  });
});

describe('cooldown and automatic migration', () => {
  it('does not migrate automatically before the cooldown has passed, then migrates as system after autoMigrateAfter', async () => {
    const put = await call('PUT', '/v1/installations/inst-a/settings', {
      rolloutMode: 'automatic',
      autoRollout: true,
      thresholds: { autoMigrateAfterMinutes: 1, cooldownMinutes: 30 },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    await acpWorkspace('ws-1', ['c1', 'c2']);
    // The failures happened in the minute the workspace went to ACP; the rollback is decided a
    // minute later, so the health window after the rollback starts clean.
    service.clock.advance(MIN);
    // The breaching heartbeat is answered after the rollback it caused, with its id.
    const breach = await beat('c1', hb(T0, 90, 10));
    expect(breach.status).toBe('rolled-back');
    expect(breach.rollback.eventId).toMatch(UUID);
    // c2 went back with its workspace, in the same transaction.
    expectError(
      await call('POST', '/v1/connections/c2/heartbeats', hb(T0, 90, 10)),
      409,
      'invalid-transition',
    );
    const rolledBackAt = T0 + MIN;
    const cooling = await workspace();
    expect(cooling).toMatchObject({
      state: 'http.cooldown',
      cooldownUntil: iso(rolledBackAt + 30 * MIN),
    });

    // A probe connection registered in the HTTP workspace sends healthy traffic.
    await connect('probe');
    await beat('probe', hb(rolledBackAt, 300, 0));
    await settle();
    expect((await workspace()).health).toMatchObject({ verdict: 'healthy', sampleSize: 300 });

    await elapse(10 * MIN);
    expect((await workspace()).state).toBe('http.cooldown');
    expect((await audit('migrations')).filter((e) => e.initiatedBy === 'system')).toHaveLength(
      1, // only the rollback itself
    );

    await elapse(20 * MIN); // rolledBackAt + 30 min: the cooldown ends
    const warm = await workspace();
    expect(warm.state).not.toBe('http.cooldown');
    expect(warm.state).toBe('http.warming');
    expect(warm.cooldownUntil).toBeNull();
    expect(warm.transport).toBe('http');

    await elapse(MIN); // autoMigrateAfter
    const moving = await workspace();
    expect(['migrating', 'acp']).toContain(moving.state);
    const [started] = await audit('migrations');
    expect(started).toMatchObject({
      initiatedBy: 'system',
      requestedBy: null,
      fromProtocol: 'http',
      toProtocol: 'acp',
      status: 'in-progress',
      startedAt: iso(rolledBackAt + 31 * MIN),
    });
    expect(started.migrationId).toMatch(UUID);
  });

  it('lets an operator migrate back to ACP by hand during the cooldown', async () => {
    await acpWorkspace('ws-1', ['c1']);
    await beat('c1', hb(T0, 50, 50));
    await settle();
    expect((await workspace()).state).toBe('http.cooldown');

    service.clock.advance(2 * MIN);
    const res = await migrate('ws-1');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.workspace.state).toBe('migrating');
    await connect('c2');

    const ws = await workspace();
    expect(ws).toMatchObject({ state: 'acp', transport: 'acp' });
    const log = await audit('migrations');
    expect(log.slice(0, 2).map((e) => [e.status, e.initiatedBy])).toEqual([
      ['succeeded', 'operator'],
      ['in-progress', 'operator'],
    ]);
  });
});

describe('flap protection', () => {
  it('blocks automatic migration after 3 automatic rollbacks in 24 h until an operator re-enables it', async () => {
    await autoRollbackCycle('ws-1', 'c1');
    await autoRollbackCycle('ws-1', 'c2');
    expect(await workspace()).toMatchObject({
      autoMigrationBlocked: false,
      autoRollbacksInFlapWindow: 2,
    });
    await autoRollbackCycle('ws-1', 'c3');
    expect(await workspace()).toMatchObject({
      autoMigrationBlocked: true,
      autoRollbacksInFlapWindow: 3,
    });
    expect(await audit('rollbacks')).toHaveLength(3);

    const path = '/v1/workspaces/ws-1/auto-migration/reenable';
    expectError(await call('POST', path, {}, TOKEN_A), 403, 'forbidden');
    expect((await workspace()).autoMigrationBlocked).toBe(true);

    const res = await call('POST', path, {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.autoMigrationBlocked).toBe(false);
    expect(await workspace()).toMatchObject({
      autoMigrationBlocked: false,
      autoRollbacksInFlapWindow: 0,
    });
    const decisions = await audit('decisions');
    const reenabled = decisions.filter((d) => d.decision === 'auto-migration-reenabled');
    expect(reenabled).toHaveLength(1);
    expect(reenabled[0]).toMatchObject({ requestedBy: 'operator-1', at: iso(service.clock.now()) });

    expectError(await call('POST', path, {}), 409, 'migration-refused');
  });

  it('keeps a blocked workspace on HTTP after the cooldown despite healthy traffic, and warms up again once re-enabled', async () => {
    const put = await call('PUT', '/v1/installations/inst-a/settings', {
      rolloutMode: 'automatic',
      autoRollout: true,
      thresholds: { autoMigrateAfterMinutes: 1, cooldownMinutes: 5 },
    });
    expect(put.status).toBe(200);
    for (const id of ['c1', 'c2', 'c3']) await autoRollbackCycle('ws-1', id);
    expect((await workspace()).autoMigrationBlocked).toBe(true);

    await connect('probe');
    await beat('probe', hb(service.clock.now(), 300, 0));
    await settle();
    expect((await workspace()).health.verdict).toBe('healthy');

    await elapse(5 * MIN); // the cooldown is over
    expect((await workspace()).state).toBe('http.idle');
    await elapse(5 * MIN);
    expect((await workspace()).state).toBe('http.idle');
    const systemStarts = async () =>
      (await audit('migrations')).filter(
        (e) => e.initiatedBy === 'system' && e.status === 'in-progress',
      );
    expect(await systemStarts()).toEqual([]);

    const res = await call('POST', '/v1/workspaces/ws-1/auto-migration/reenable', {});
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('http.warming');
    await elapse(MIN);
    expect((await workspace()).state).toBe('migrating');
    expect(await systemStarts()).toHaveLength(1);
  });
});

describe('the health window after a transport change', () => {
  // BUG: the window's start (`#since`) is rounded down to the minute of the per-minute counters
  // (src/workspaces/workspaces.ts:199), so the operations that caused a rollback still count after
  // it for the rest of that minute's hour. An operator migration back in the same minute is then
  // rolled back automatically before a single operation ran on it, as an auto-threshold rollback
  // (counting towards the flap limit) with 100 samples and no connections.
  it('does not roll back an operator migration back to ACP made in the same minute as the rollback', async () => {
    await acpWorkspace('ws-1', ['c1']);
    service.clock.advance(5 * SEC);
    await beat('c1', hb(T0 + 5 * SEC, 90, 10));
    await settle();
    expect((await workspace()).state).toBe('http.cooldown');

    service.clock.advance(30 * SEC);
    expect((await migrate('ws-1')).status).toBe(201);
    await connect('c2');

    expect(await audit('rollbacks')).toHaveLength(1);
    const ws = await workspace();
    expect(ws.state).toBe('acp');
    expect(ws.health).toMatchObject({ sampleSize: 0, verdict: 'insufficient-data' });
  });
});

describe('manual rollback', () => {
  it('records trigger manual-operator for the operator token', async () => {
    await acpWorkspace('ws-1', ['c1']);
    service.clock.advance(SEC);
    const res = await call('POST', '/v1/workspaces/ws-1/rollback', { reason: 'agent upgrade' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.eventId).toMatch(UUID);
    expect(res.body.workspace.state).toBe('http.cooldown');

    const [event] = await audit('rollbacks');
    expect(event).toMatchObject({
      eventId: res.body.eventId,
      trigger: 'manual-operator',
      reason: 'agent upgrade',
      requestedBy: 'operator-1',
      previousProtocol: 'acp',
      newProtocol: 'http',
      connectionIds: ['c1'],
    });
    expect(event.followUpActions).toContain('notify-users');
    expect(event.notification.toast.body.length).toBeLessThanOrEqual(140);
    expect(await connection('c1')).toMatchObject({
      status: 'rolled-back',
      rollbackTriggered: true,
    });
    const [logged] = await audit('migrations');
    expect(logged).toMatchObject({
      status: 'rolled-back',
      initiatedBy: 'operator',
      rollbackReason: 'agent upgrade',
    });
  });

  it('records trigger manual-user for a tenant token', async () => {
    await acpWorkspace('ws-1', ['c1']);
    const res = await call(
      'POST',
      '/v1/workspaces/ws-1/rollback',
      { reason: 'too slow for me' },
      TOKEN_A,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const [event] = await audit('rollbacks');
    expect(event).toMatchObject({ trigger: 'manual-user', requestedBy: 'api-token-1' });
    expect((await workspace()).lastRollback.trigger).toBe('manual-user');
  });

  it('answers 409 for a workspace on HTTP and records nothing', async () => {
    await connect('c1');
    const res = await call('POST', '/v1/workspaces/ws-1/rollback', { reason: 'x' });
    expectError(res, 409, 'migration-refused');
    expect((await workspace()).state).toBe('http.idle');
    expect(await audit('rollbacks')).toEqual([]);
    expect((await connection('c1')).status).toBe('connected');
  });

  it('answers 400 naming reason for a rollback without one', async () => {
    await acpWorkspace('ws-1', ['c1']);
    expectError(
      await call('POST', '/v1/workspaces/ws-1/rollback', {}),
      400,
      'validation-failed',
      'reason',
    );
    expect((await workspace()).state).toBe('acp');
  });
});

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
});

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

  it('answers TOKEN_B 404 for inst-a settings and their changes, and 403 for changing them', async () => {
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
    expectError(
      await call(
        'PUT',
        '/v1/installations/inst-a/settings',
        { thresholds: { minSamples: 1 } },
        TOKEN_B,
      ),
      403,
      'forbidden',
    );
    expect(
      (await call('GET', '/v1/installations/inst-a/settings')).body.thresholds.minSamples,
    ).toBe(500);
  });

  // BUG (spec deviation): the issue lists re-enable among the routes where TOKEN_B gets 404 for an
  // inst-a workspace; reenableAutoMigration checks for an operator before resolving the workspace
  // (src/workspaces/workspaces.ts:503-505), so every tenant token gets 403 instead.
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
