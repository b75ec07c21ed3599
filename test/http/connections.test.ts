/**
 * Connections end to end: registration, handshake and heartbeats, through the real app
 * (test/http/connections-harness.ts: real Redis, a manual clock, the invariants every answer is
 * checked for).
 */
import { describe, it, expect } from 'vitest';
import { OPERATOR, T0, TOKEN_A, hb } from '../helpers.ts';
import {
  service,
  call,
  expectError,
  register,
  handshake,
  connect,
  get,
  heartbeat,
  snapshotAll,
  SEED_FIELDS,
  useService,
} from './connections-harness.ts';
import { snapshotKeys } from '../hostile/support.ts';

useService();

describe('POST /v1/connections', () => {
  it('registers a connection in connecting with every seed field', async () => {
    const res = await call('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    expect(res.status).toBe(201);
    for (const field of SEED_FIELDS) expect(res.body).toHaveProperty(field);
    expect(res.body).toMatchObject({
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      status: 'connecting',
      protocolVersion: null,
      negotiatedCapabilities: [],
      successRate: null,
      latencyP95: null,
      throughputPerMin: 0,
      lastHeartbeat: null,
      rollbackTriggered: false,
      diagnostics: [],
      createdAt: new Date(T0).toISOString(),
    });
    expect(await get('c1')).toMatchObject({ status: 'connecting', version: res.body.version });
  });

  it('has exactly the fields the README lists, lastError included', async () => {
    await connect('c1');
    const dropped = await call('POST', '/v1/connections/c1/dropped', { reason: 'net' });
    expect(dropped.status).toBe(200);
    const record = await get('c1');
    // README, Connections: the seed's fields, then the engine's own.
    expect(Object.keys(record).sort()).toEqual(
      [
        ...SEED_FIELDS,
        'successRateStatus',
        'sampleSize',
        'observedSuccessRate',
        'health',
        'reconnectAttempts',
        'lastError',
        'rollbackReason',
        'createdAt',
        'version',
      ].sort(),
    );
    expect(Object.keys(record.lastError).sort()).toEqual(['at', 'category', 'code', 'message']);
  });

  it('answers 409 already-exists for a duplicate id and keeps the first registration', async () => {
    const first = await register('c1', 'inst-a', 'ws-1');
    const res = await call('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-2',
    });
    expectError(res, 409, 'already-exists');
    expect(await get('c1')).toMatchObject({ workspaceId: 'ws-1', version: first.version });
  });

  it('answers 409 for an id held by another installation without revealing that installation', async () => {
    await register('shared', 'inst-b', 'ws-b-secret');
    for (const token of [OPERATOR, TOKEN_A]) {
      const res = await call(
        'POST',
        '/v1/connections',
        { connectionId: 'shared', installationId: 'inst-a', workspaceId: 'ws-1' },
        token,
      );
      expectError(res, 409, 'already-exists');
      expect(JSON.stringify(res.body)).not.toContain('inst-b');
      expect(JSON.stringify(res.body)).not.toContain('ws-b-secret');
    }
    expect(await get('shared')).toMatchObject({ installationId: 'inst-b', version: 1 });
  });

  it('answers a connection id held by another installation in the same words as one held by the caller, and writes nothing', async () => {
    await register('mine', 'inst-a', 'ws-1');
    await register('theirs', 'inst-b', 'ws-b-secret');
    const before = await snapshotKeys(service.redis, service.prefix);
    for (const token of [OPERATOR, TOKEN_A]) {
      const own = await call(
        'POST',
        '/v1/connections',
        { connectionId: 'mine', installationId: 'inst-a', workspaceId: 'ws-1' },
        token,
      );
      const other = await call(
        'POST',
        '/v1/connections',
        { connectionId: 'theirs', installationId: 'inst-a', workspaceId: 'ws-1' },
        token,
      );
      expectError(other, 409, 'already-exists');
      expect(other.body.error.details).toEqual({ field: 'connectionId' });
      expect(other.body.error.message).toBe('connection theirs already exists');
      expect(other.body.error.message.replace('theirs', 'mine')).toBe(own.body.error.message);
      expect(other.body.error.details).toEqual(own.body.error.details);
    }
    expect(await snapshotKeys(service.redis, service.prefix)).toEqual(before);
  });

  it('answers a workspace id held by another installation without saying so, and writes nothing', async () => {
    await register('cb', 'inst-b', 'wsb1');
    const before = await snapshotKeys(service.redis, service.prefix);
    for (const token of [OPERATOR, TOKEN_A]) {
      const res = await call(
        'POST',
        '/v1/connections',
        { connectionId: 'ca', installationId: 'inst-a', workspaceId: 'wsb1' },
        token,
      );
      expectError(res, 409, 'already-exists');
      expect(res.body.error.details).toEqual({ field: 'workspaceId' });
      expect(res.body.error.message).toBe('workspace wsb1 already exists');
      expect(JSON.stringify(res.body)).not.toMatch(/another installation|inst-b/);
    }
    expect(await snapshotKeys(service.redis, service.prefix)).toEqual(before);
    // The caller's own workspace still takes new connections.
    await register('ca', 'inst-a', 'ws-1');
  });

  it('accepts exactly one of several concurrent registrations of the same id', async () => {
    const results = await Promise.all(
      ['inst-a', 'inst-a', 'inst-b', 'inst-b', 'inst-a'].map((installationId, i) =>
        call('POST', '/v1/connections', {
          connectionId: 'race',
          installationId,
          workspaceId: `ws-${i}`,
        }),
      ),
    );
    const created = results.filter((r) => r.status === 201);
    expect(created).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 201)) expectError(r, 409, 'already-exists');
    expect(await snapshotAll()).toEqual(['race@1']);
    expect((await get('race')).workspaceId).toBe(created[0]!.body.workspaceId);
  });

  it('answers 400 naming connectionId for an identifier with forbidden characters', async () => {
    const res = await call('POST', '/v1/connections', {
      connectionId: 'a b{c}',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    expectError(res, 400, 'validation-failed', 'connectionId');
    expect(await snapshotAll()).toEqual([]);
  });
});

describe('POST /v1/connections/:connectionId/handshake', () => {
  it('moves a supported version (1.2.0) to connected with the negotiated capabilities', async () => {
    await register('c1');
    const res = await handshake('c1', '1.2.0');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'connected',
      protocolVersion: '1.2.0',
      negotiatedCapabilities: ['fs', 'terminal'],
      lastError: null,
    });
    expect(await get('c1')).toMatchObject({ status: 'connected', protocolVersion: '1.2.0' });
  });

  it('moves an unsupported version (2.0.0) to error with a protocol-version-unsupported protocol error', async () => {
    await register('c1');
    const res = await handshake('c1', '2.0.0');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('error');
    expect(res.body.protocolVersion).toBeNull();
    expect(res.body.lastError).toMatchObject({
      code: 'protocol-version-unsupported',
      category: 'protocol',
      at: new Date(T0).toISOString(),
    });
    expect(res.body.lastError.message).toContain('2.0.0');
  });

  it('answers 400 naming protocolVersion for a non-semver version and writes nothing', async () => {
    const { version } = await register('c1');
    for (const protocolVersion of ['one-point-two', 'v1.2.0', '1.2']) {
      const res = await call('POST', '/v1/connections/c1/handshake', {
        protocolVersion,
        negotiatedCapabilities: [],
      });
      expectError(res, 400, 'validation-failed', 'protocolVersion');
      expect(res.body.error.message, protocolVersion).toContain('such as 1.2.0');
    }
    expect(await get('c1')).toMatchObject({ status: 'connecting', version });
  });

  it('answers 400 naming the capability for a repeated flag or a control character, and writes nothing', async () => {
    const { version } = await register('c1');
    for (const [negotiatedCapabilities, field] of [
      [['fs', 'terminal', 'fs'], 'negotiatedCapabilities.2'],
      [['fs', 'term\ninal'], 'negotiatedCapabilities.1'],
      [['fs\u0000'], 'negotiatedCapabilities.0'],
    ] as const) {
      const res = await call('POST', '/v1/connections/c1/handshake', {
        protocolVersion: '1.2.0',
        negotiatedCapabilities,
      });
      expectError(res, 400, 'validation-failed', field);
    }
    expect(await get('c1')).toMatchObject({ status: 'connecting', version });
  });
});

describe('POST /v1/connections/:connectionId/heartbeats', () => {
  it('reports a null success rate with insufficient-data below 100 samples', async () => {
    await connect('c1');
    const res = await heartbeat('c1', hb(T0, 98, 1));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'connected', successRate: null, sampleSize: 99 });
    const record = await get('c1');
    expect(record).toMatchObject({
      successRate: null,
      successRateStatus: 'insufficient-data',
      sampleSize: 99,
    });
    expect(record.observedSuccessRate).toBeCloseTo(98 / 99, 10);
  });

  it('reports the success rate as a decimal with sample size, p95 latency and an ISO UTC lastHeartbeat', async () => {
    await connect('c1');
    const latencies = [...Array<number>(94).fill(12), ...Array<number>(6).fill(900)];
    const at = T0 + 1234;
    service.clock.advance(2000);
    const res = await heartbeat('c1', hb(at, 199, 1, latencies));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'connected', sampleSize: 200, latencyP95: 1000 });
    expect(res.body.successRate).toBeCloseTo(0.995, 10);
    const record = await get('c1');
    expect(record).toMatchObject({
      status: 'connected',
      successRateStatus: 'ok',
      sampleSize: 200,
      latencyP95: 1000,
      lastHeartbeat: '2026-11-25T12:00:01.234Z',
    });
    expect(record.successRate).toBeGreaterThanOrEqual(0);
    expect(record.successRate).toBeLessThanOrEqual(1);
    expect(record.successRate).toBeCloseTo(0.995, 10);
    expect(record.lastHeartbeat).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('moves connected to degraded when the success rate falls below 0.995 (150 ok + 3 failed)', async () => {
    await connect('c1');
    const res = await heartbeat('c1', hb(T0, 150, 3));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.successRate).toBeCloseTo(150 / 153, 10);
    expect(res.body.successRate).toBeLessThan(0.995);
    const record = await get('c1');
    expect(record.status).toBe('degraded');
    expect(record.diagnostics.at(-1)).toMatchObject({
      from: 'connected',
      to: 'degraded',
      cause: 'health-degraded',
    });
  });

  it('moves degraded to error when the success rate falls below 0.95', async () => {
    await connect('c1');
    expect((await heartbeat('c1', hb(T0, 150, 3))).body.status).toBe('degraded');
    const res = await heartbeat('c1', hb(T0 + 1000, 0, 10));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('error');
    expect(res.body.successRate).toBeCloseTo(150 / 163, 10);
    expect(res.body.successRate).toBeLessThan(0.95);
    expect((await get('c1')).lastError).toMatchObject({
      code: 'success-rate-below-threshold',
      category: 'application',
    });
  });

  it('answers 409 invalid-transition for a connection still connecting and writes nothing', async () => {
    const { version } = await register('c1');
    const res = await heartbeat('c1', hb(T0, 10));
    expectError(res, 409, 'invalid-transition');
    expect(await get('c1')).toMatchObject({
      status: 'connecting',
      version,
      sampleSize: 0,
      lastHeartbeat: null,
    });
  });

  it.each([
    ['an offset of +02:00', '2026-11-25T14:00:00+02:00'],
    ['a date without a time', '2026-11-25'],
    ['free text', 'yesterday at noon'],
    ['epoch milliseconds', T0],
  ])('answers 400 naming timestamp for %s and writes nothing', async (_label, timestamp) => {
    const { version } = await connect('c1');
    const res = await heartbeat('c1', { timestamp, succeeded: 1, failed: 0, latencyMs: [] });
    expectError(res, 400, 'validation-failed', 'timestamp');
    expect(await get('c1')).toMatchObject({ version, sampleSize: 0 });
  });

  it('says a missing field is required, next to a wrong one, and writes nothing', async () => {
    const { version } = await connect('c1');
    const res = await heartbeat('c1', { timestamp: 'yesterday', succeeded: 1 });
    expectError(res, 400, 'validation-failed', 'failed');
    expect(res.body.error.details.fields).toEqual([
      {
        field: 'timestamp',
        message: 'must be an ISO 8601 UTC timestamp such as 2026-01-01T00:00:00Z',
      },
      { field: 'failed', message: 'is required' },
    ]);
    expect(res.body.error.message).toContain('failed: is required');
    expect(await get('c1')).toMatchObject({ version, sampleSize: 0 });

    // A field whose schema has its own message is still reported missing as missing.
    const missing = await heartbeat('c1', { succeeded: 1, failed: 0, latencyMs: [] });
    expect(missing.body.error.details.fields).toEqual([
      { field: 'timestamp', message: 'is required' },
    ]);
    expect(await get('c1')).toMatchObject({ version, sampleSize: 0 });
  });

  it('answers 400 naming timestamp more than 5 minutes after the clock, and accepts exactly 5 minutes', async () => {
    const { version } = await connect('c1');
    const limit = service.clock.now() + 5 * 60_000;
    const late = await heartbeat('c1', hb(limit + 1, 1));
    expectError(late, 400, 'validation-failed', 'timestamp');
    expect(await get('c1')).toMatchObject({ version, sampleSize: 0 });

    const ok = await heartbeat('c1', hb(limit, 1));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ sampleSize: 1, version: version + 1 });
  });

  it('moves degraded back to connected when the success rate recovers to 0.995 or more', async () => {
    await connect('c1');
    expect((await heartbeat('c1', hb(T0, 150, 3))).body.status).toBe('degraded');
    const res = await heartbeat('c1', hb(T0 + 1000, 1000));
    expect(res.body.status).toBe('connected');
    expect(res.body.successRate).toBeCloseTo(1150 / 1153, 10);
    expect((await get('c1')).diagnostics.at(-1)).toMatchObject({
      from: 'degraded',
      to: 'connected',
      cause: 'health-restored',
    });
  });

  it('applies concurrent heartbeats to one connection without losing any', async () => {
    const { version } = await connect('c1');
    // Received after every timestamp below: lastHeartbeat is the latest timestamp, whichever
    // heartbeat commits last (one timestamped ahead would be recorded at its receipt).
    service.clock.advance(1000);
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) => heartbeat('c1', hb(T0 + i, 2, 0, [10]))),
    );
    expect(results.map((r) => r.status)).toEqual(Array<number>(25).fill(200));
    const record = await get('c1');
    expect(record.sampleSize).toBe(50);
    expect(record.version).toBeGreaterThan(version);
    expect(record.lastHeartbeat).toBe(new Date(T0 + 24).toISOString());
  });

  it('answers 404 not-found for an unknown connection', async () => {
    expectError(await heartbeat('nope', hb(T0, 1)), 404, 'not-found');
  });
});
