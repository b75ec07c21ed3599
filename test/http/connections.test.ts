/**
 * The HTTP API end to end: the real app on port 0, real Redis under a per-test key prefix and a
 * manual clock at T0. Every response any test receives is checked for two invariants (see
 * `call`): no bearer token ever appears in a body, and every error has the shape
 * `{ error: { code, message, details } }`.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { OPERATOR, T0, TOKEN_A, TOKEN_B, type TestService, hb, startService } from '../helpers.ts';

const TOKENS = [OPERATOR, TOKEN_A, TOKEN_B];

interface Res {
  status: number;
  body: any;
}

let service: TestService;

beforeEach(async () => {
  service = await startService();
});

afterEach(async () => {
  await service.close();
});

/** Asserts what must hold for every response: no token in the body, errors in one shape. */
function checkInvariants(res: Res): void {
  const text = JSON.stringify(res.body);
  for (const token of TOKENS) expect(text).not.toContain(token);
  if (res.status >= 400) expectErrorShape(res.body?.error, res.body);
}

function expectErrorShape(error: any, whole: unknown = error): void {
  expect(whole, 'error body').toBeTypeOf('object');
  expect(error, 'error envelope').toBeTypeOf('object');
  expect(Object.keys(error as object).sort()).toEqual(['code', 'details', 'message', 'requestId']);
  expect(error.code).toBeTypeOf('string');
  expect(error.message).toBeTypeOf('string');
  expect(error.message.length).toBeGreaterThan(0);
  expect(error.details).toBeTypeOf('object');
  expect(error.details).not.toBeNull();
}

/** A real request through the running service, checked against the invariants. */
async function call(method: string, path: string, body?: unknown, token: string | null = OPERATOR) {
  const res = await service.api(method, path, body, token);
  checkInvariants(res);
  return res;
}

/** A request with a raw body and headers, for what `api` cannot express. */
async function raw(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Res & { contentType: string | null }> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${OPERATOR}`,
      'content-type': 'application/json',
      ...headers,
    },
    body,
  });
  const text = await res.text();
  const out = {
    status: res.status,
    body: text ? JSON.parse(text) : null,
    contentType: res.headers.get('content-type'),
  };
  checkInvariants(out);
  return out;
}

/** The field names an error points at (zod issues, or a service error's single field). */
function namedFields(error: any): string[] {
  const fields: string[] = [];
  for (const f of error?.details?.fields ?? []) fields.push(...String(f.field).split(', '));
  if (typeof error?.details?.field === 'string') fields.push(error.details.field);
  return fields;
}

function expectError(res: Res, status: number, code: string, field?: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expectErrorShape(res.body?.error, res.body);
  expect(res.body.error.code).toBe(code);
  if (field !== undefined) {
    expect(namedFields(res.body.error)).toContain(field);
    expect(res.body.error.message).toContain(field);
  }
}

async function register(
  connectionId: string,
  installationId = 'inst-a',
  workspaceId = 'ws-1',
  token: string = OPERATOR,
) {
  const res = await call(
    'POST',
    '/v1/connections',
    { connectionId, installationId, workspaceId },
    token,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function handshake(connectionId: string, protocolVersion = '1.2.0') {
  return call('POST', `/v1/connections/${connectionId}/handshake`, {
    protocolVersion,
    negotiatedCapabilities: ['fs', 'terminal'],
  });
}

/** Registers and completes the handshake: a connection in `connected`. */
async function connect(connectionId: string, installationId = 'inst-a', workspaceId = 'ws-1') {
  await register(connectionId, installationId, workspaceId);
  const res = await handshake(connectionId);
  expect(res.body.status).toBe('connected');
  return res.body;
}

async function get(connectionId: string) {
  const res = await call('GET', `/v1/connections/${connectionId}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function heartbeat(connectionId: string, body: unknown, token: string = OPERATOR) {
  return call('POST', `/v1/connections/${connectionId}/heartbeats`, body, token);
}

/** Every connection the operator can see, as sorted ids with their versions. */
async function snapshotAll(): Promise<string[]> {
  const res = await call('GET', '/v1/connections?limit=500');
  expect(res.status).toBe(200);
  return (res.body.items as any[]).map((c) => `${c.connectionId}@${c.version}`).sort();
}

const SEED_FIELDS = [
  'connectionId',
  'installationId',
  'workspaceId',
  'status',
  'protocolVersion',
  'negotiatedCapabilities',
  'successRate',
  'latencyP95',
  'throughputPerMin',
  'lastHeartbeat',
  'rollbackTriggered',
  'diagnostics',
];

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
    const res = await call('POST', '/v1/connections/c1/handshake', {
      protocolVersion: 'one-point-two',
      negotiatedCapabilities: [],
    });
    expectError(res, 400, 'validation-failed', 'protocolVersion');
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

describe('connection lifecycle: drop, reconnect, recover, roll back', () => {
  it('moves to error with connection-dropped when the connection drops', async () => {
    await connect('c1');
    const res = await call('POST', '/v1/connections/c1/dropped', { reason: 'socket closed' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('error');
    expect(res.body.lastError).toMatchObject({
      code: 'connection-dropped',
      category: 'connection',
    });
    expect(res.body.lastError.message).toContain('socket closed');
  });

  it('moves error to reconnecting once the 1000 ms backoff is due on the clock, not before', async () => {
    await connect('c1');
    await call('POST', '/v1/connections/c1/dropped');

    service.clock.advance(999);
    await service.engine.fireDueTimers();
    expect((await get('c1')).status).toBe('error');

    service.clock.advance(1);
    expect(await service.engine.fireDueTimers()).toBeGreaterThanOrEqual(1);
    const record = await get('c1');
    expect(record).toMatchObject({ status: 'reconnecting', reconnectAttempts: 1 });
    expect(record.diagnostics.at(-1)).toMatchObject({
      from: 'error',
      to: 'reconnecting',
      cause: 'reconnect-attempt',
    });
    const listed = await call('GET', '/v1/connections?status=reconnecting');
    expect(listed.body.items.map((c: any) => c.connectionId)).toEqual(['c1']);
  });

  it('returns to connected with reconnectAttempts reset to 0 when recovered', async () => {
    await connect('c1');
    await call('POST', '/v1/connections/c1/dropped');
    service.clock.advance(1000);
    await service.engine.fireDueTimers();
    expect((await get('c1')).reconnectAttempts).toBe(1);

    const res = await call('POST', '/v1/connections/c1/recovered');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'connected', reconnectAttempts: 0, lastError: null });
    expect(await get('c1')).toMatchObject({ status: 'connected', reconnectAttempts: 0 });
  });

  it('moves connected to error with heartbeat-timeout after 90 s without a heartbeat, each heartbeat restarting the wait', async () => {
    await connect('c1');
    service.clock.advance(60_000);
    await heartbeat('c1', hb(service.clock.now(), 1));
    service.clock.advance(60_000); // 120 s after the handshake, 60 s after the heartbeat
    await service.engine.fireDueTimers();
    expect((await get('c1')).status).toBe('connected');

    service.clock.advance(30_000); // 90 s after the heartbeat
    await service.engine.fireDueTimers();
    const record = await get('c1');
    expect(record.status).toBe('error');
    expect(record.lastError).toMatchObject({
      code: 'heartbeat-timeout',
      category: 'connection',
      at: new Date(T0 + 150_000).toISOString(),
    });
  });

  it('moves connecting to error with handshake-timeout after 30 s and does not retry it', async () => {
    await register('c1');
    service.clock.advance(30_000);
    await service.engine.fireDueTimers();
    expect((await get('c1')).lastError).toMatchObject({
      code: 'handshake-timeout',
      category: 'protocol',
    });
    service.clock.advance(120_000);
    await service.engine.fireDueTimers();
    expect(await get('c1')).toMatchObject({ status: 'error', reconnectAttempts: 0 });
  });

  it('still counts late heartbeats while in error', async () => {
    await connect('c1');
    await call('POST', '/v1/connections/c1/dropped');
    const res = await heartbeat('c1', hb(T0, 4, 1));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'error', sampleSize: 5 });
  });

  it('answers 409 invalid-transition when recovered arrives while connected', async () => {
    const { version } = await connect('c1');
    expectError(await call('POST', '/v1/connections/c1/recovered'), 409, 'invalid-transition');
    expect((await get('c1')).version).toBe(version);
  });

  it('rolls back to rolled-back with rollbackTriggered and refuses any later heartbeat', async () => {
    await connect('c1');
    const res = await call('POST', '/v1/connections/c1/rollback', {
      reason: 'agent crashed twice',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'rolled-back',
      rollbackTriggered: true,
      rollbackReason: 'agent crashed twice',
    });
    expect(res.body.diagnostics.at(-1)).toMatchObject({ to: 'rolled-back' });

    const version = (await get('c1')).version;
    expectError(await heartbeat('c1', hb(T0, 5)), 409, 'invalid-transition');
    expect(await get('c1')).toMatchObject({ status: 'rolled-back', version, sampleSize: 0 });
  });

  // BUG: the wire spells statuses in kebab-case (`rolled-back`, see src/wire.ts), but the 409
  // from src/engine/engine.ts names the internal state: details.state is "rolledBack" and the
  // message says `final state "rolledBack"`.
  it('names the state in kebab-case in the 409 for a rolled-back connection', async () => {
    await connect('c1');
    await call('POST', '/v1/connections/c1/rollback', { reason: 'reverted' });
    const res = await heartbeat('c1', hb(T0, 1));
    expectError(res, 409, 'invalid-transition');
    expect(res.body.error.details.state).toBe('rolled-back');
    expect(res.body.error.message).not.toContain('rolledBack');
  });

  it('answers 400 naming reason for a rollback without a reason', async () => {
    const { version } = await connect('c1');
    expectError(
      await call('POST', '/v1/connections/c1/rollback', {}),
      400,
      'validation-failed',
      'reason',
    );
    expect(await get('c1')).toMatchObject({ status: 'connected', version });
  });
});

describe('GET /v1/connections', () => {
  /** a1 connected (inst-a, ws-1), a2 rolled back (inst-a, ws-2), b1 connecting (inst-b, ws-b1). */
  async function seed() {
    await connect('a1', 'inst-a', 'ws-1');
    await connect('a2', 'inst-a', 'ws-2');
    await call('POST', '/v1/connections/a2/rollback', { reason: 'test' });
    await register('b1', 'inst-b', 'ws-b1');
  }

  const ids = (res: Res) => (res.body.items as any[]).map((c) => c.connectionId as string);

  it('lists every connection for the operator', async () => {
    await seed();
    const res = await call('GET', '/v1/connections');
    expect(res.status).toBe(200);
    expect(ids(res)).toEqual(['a1', 'a2', 'b1']);
    expect(res.body.nextCursor).toBeNull();
  });

  it('filters by installationId', async () => {
    await seed();
    expect(ids(await call('GET', '/v1/connections?installationId=inst-a'))).toEqual(['a1', 'a2']);
    expect(ids(await call('GET', '/v1/connections?installationId=inst-b'))).toEqual(['b1']);
  });

  it('filters by workspaceId', async () => {
    await seed();
    expect(ids(await call('GET', '/v1/connections?workspaceId=ws-1'))).toEqual(['a1']);
    expect(ids(await call('GET', '/v1/connections?workspaceId=ws-b1'))).toEqual(['b1']);
    expect(ids(await call('GET', '/v1/connections?workspaceId=ws-2'))).toEqual(['a2']);
  });

  it('filters by status, accepting both rolled-back and rolledBack', async () => {
    await seed();
    expect(ids(await call('GET', '/v1/connections?status=connected'))).toEqual(['a1']);
    expect(ids(await call('GET', '/v1/connections?status=connecting'))).toEqual(['b1']);
    for (const status of ['rolled-back', 'rolledBack']) {
      const res = await call('GET', `/v1/connections?status=${status}`);
      expect(res.status).toBe(200);
      expect(ids(res)).toEqual(['a2']);
      expect(res.body.items[0].status).toBe('rolled-back');
    }
    expect(ids(await call('GET', '/v1/connections?status=connected&workspaceId=ws-2'))).toEqual([]);
  });

  it('answers 400 naming status for an unknown status', async () => {
    await seed();
    expectError(
      await call('GET', '/v1/connections?status=sleeping'),
      400,
      'validation-failed',
      'status',
    );
  });

  it('pages with limit=2 over 5 connections in different statuses, yielding each exactly once and a null cursor at the end', async () => {
    const all = ['p1', 'p2', 'p3', 'q1', 'q2'];
    for (const id of all)
      await register(
        id,
        id.startsWith('p') ? 'inst-a' : 'inst-b',
        id.startsWith('p') ? 'ws-1' : 'ws-b1',
      );
    // Unfiltered, the list reads the union of the status indexes: mix them.
    for (const id of ['p2', 'q1']) expect((await handshake(id)).status).toBe(200);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = await call('GET', `/v1/connections?limit=2${query}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...ids(res));
      cursor = res.body.nextCursor as string | null;
      pages++;
      expect(pages).toBeLessThan(10);
    } while (cursor !== null);
    expect(seen.slice().sort()).toEqual(all);
    expect(new Set(seen).size).toBe(5);
    expect(pages).toBe(3);
  });

  it('answers 400 naming cursor for a cursor it did not issue', async () => {
    await seed();
    for (const cursor of ['not-a-cursor', Buffer.from('{"x":1}').toString('base64url')]) {
      expectError(
        await call('GET', `/v1/connections?cursor=${cursor}`),
        400,
        'validation-failed',
        'cursor',
      );
    }
  });

  it('answers 400 naming an unknown query parameter', async () => {
    await seed();
    expectError(
      await call('GET', '/v1/connections?colour=blue'),
      400,
      'validation-failed',
      'colour',
    );
  });

  it('answers 400 naming limit for a limit outside 1-500', async () => {
    for (const limit of ['0', '501', 'many']) {
      expectError(
        await call('GET', `/v1/connections?limit=${limit}`),
        400,
        'validation-failed',
        'limit',
      );
    }
  });
});

describe('POST /v1/heartbeats', () => {
  it('answers per item: applies valid items, 404 for an unknown connection, 400 naming items.N.<field>', async () => {
    const c1 = await connect('c1');
    const c2 = await connect('c2');
    const res = await call('POST', '/v1/heartbeats', {
      items: [
        { connectionId: 'c1', ...hb(T0, 10, 0, [30]) },
        { connectionId: 'missing', ...hb(T0, 10) },
        { connectionId: 'c2', ...hb(T0, -1) },
        { connectionId: 'c2', ...hb(T0, 1), colour: 'blue' },
        { connectionId: 'c2', ...hb(T0, 7, 1) },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 2, rejected: 3 });
    const [ok1, missing, negative, unknownField, ok2] = res.body.results;

    expect(ok1).toMatchObject({ connectionId: 'c1', ok: true, status: 200 });
    expect(ok1.result).toMatchObject({ status: 'connected', sampleSize: 10, latencyP95: 35 });
    expect(ok2).toMatchObject({ connectionId: 'c2', ok: true, status: 200 });

    expect(missing).toMatchObject({ connectionId: 'missing', ok: false, status: 404 });
    expectErrorShape(missing.error);
    expect(missing.error.code).toBe('not-found');

    expect(negative).toMatchObject({ ok: false, status: 400 });
    expectErrorShape(negative.error);
    expect(negative.error.code).toBe('validation-failed');
    expect(namedFields(negative.error)).toEqual(['items.2.succeeded']);

    expect(unknownField).toMatchObject({ ok: false, status: 400 });
    expectErrorShape(unknownField.error);
    expect(namedFields(unknownField.error)).toEqual(['items.3.colour']);

    expect(await get('c1')).toMatchObject({ sampleSize: 10, version: c1.version + 1 });
    expect(await get('c2')).toMatchObject({ sampleSize: 8, version: c2.version + 1 });
  });

  it('answers a per-item 400 naming items.N.timestamp for a timestamp too far ahead', async () => {
    await connect('c1');
    const res = await call('POST', '/v1/heartbeats', {
      items: [{ connectionId: 'c1', ...hb(T0 + 5 * 60_000 + 1, 1) }],
    });
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ ok: false, status: 400 });
    expectErrorShape(res.body.results[0].error);
    expect(res.body.results[0].error.message).toContain('timestamp');
  });

  it('answers 400 for more than 1000 items and applies none of them', async () => {
    const { version } = await connect('c1');
    const items = Array.from({ length: 1001 }, () => ({ connectionId: 'c1', ...hb(T0, 1) }));
    const res = await call('POST', '/v1/heartbeats', { items });
    expectError(res, 400, 'validation-failed', 'items');
    expect(await get('c1')).toMatchObject({ version, sampleSize: 0 });
  });

  it('accepts exactly 1000 items', async () => {
    await connect('c1');
    const items = Array.from({ length: 1000 }, () => ({ connectionId: 'c1', ...hb(T0, 1) }));
    const res = await call('POST', '/v1/heartbeats', { items });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 1000, rejected: 0 });
    expect((await get('c1')).sampleSize).toBe(1000);
  });

  it.each([
    ['an object', { connectionId: 'c1' }],
    ['a string', 'c1'],
    ['missing', undefined],
  ])('answers 400 naming items when items is %s', async (_label, items) => {
    const { version } = await connect('c1');
    const res = await call('POST', '/v1/heartbeats', items === undefined ? {} : { items });
    expectError(res, 400, 'validation-failed', 'items');
    expect((await get('c1')).version).toBe(version);
  });
});

describe('authentication and tenancy', () => {
  it('answers 401 without a token and with a wrong token', async () => {
    await register('a1');
    for (const token of [null, 'not-a-real-token-at-all', `${TOKEN_A}x`]) {
      expectError(await call('GET', '/v1/connections/a1', undefined, token), 401, 'unauthorized');
      expectError(await call('GET', '/v1/connections', undefined, token), 401, 'unauthorized');
      const res = await call(
        'POST',
        '/v1/connections',
        { connectionId: 'x1', installationId: 'inst-a', workspaceId: 'ws-1' },
        token,
      );
      expectError(res, 401, 'unauthorized');
      expect(JSON.stringify(res.body)).not.toContain('a1');
    }
    expect(await snapshotAll()).toEqual(['a1@1']);
  });

  it('lets TOKEN_A register and read connections of inst-a', async () => {
    const created = await register('a1', 'inst-a', 'ws-1', TOKEN_A);
    expect(created).toMatchObject({ connectionId: 'a1', installationId: 'inst-a' });
    const res = await call('GET', '/v1/connections/a1', undefined, TOKEN_A);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ connectionId: 'a1', installationId: 'inst-a' });
  });

  it('answers TOKEN_A 404 for an inst-b connection, whatever the route, and writes nothing', async () => {
    const b = await connect('b1', 'inst-b', 'ws-b-secret');
    const attempts: [string, string, unknown][] = [
      ['GET', '/v1/connections/b1', undefined],
      ['POST', '/v1/connections/b1/heartbeats', hb(T0, 5)],
      [
        'POST',
        '/v1/connections/b1/handshake',
        { protocolVersion: '1.2.0', negotiatedCapabilities: [] },
      ],
      ['POST', '/v1/connections/b1/dropped', { reason: 'x' }],
      ['POST', '/v1/connections/b1/rollback', { reason: 'x' }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await call(method, path, body, TOKEN_A);
      expectError(res, 404, 'not-found');
      expect(JSON.stringify(res.body)).not.toContain('inst-b');
      expect(JSON.stringify(res.body)).not.toContain('ws-b-secret');
    }
    // The same answer as for an id that does not exist at all.
    const unknown = await call('GET', '/v1/connections/zz', undefined, TOKEN_A);
    const known = await call('GET', '/v1/connections/b1', undefined, TOKEN_A);
    expect(known.body.error.message.replace('b1', 'zz')).toBe(unknown.body.error.message);
    expect(await get('b1')).toMatchObject({
      status: 'connected',
      version: b.version,
      sampleSize: 0,
    });
  });

  it('answers TOKEN_A a per-item 404 for inst-b connections in a heartbeat batch', async () => {
    const a = await connect('a1', 'inst-a');
    const b = await connect('b1', 'inst-b', 'ws-b-secret');
    const res = await call(
      'POST',
      '/v1/heartbeats',
      {
        items: [
          { connectionId: 'b1', ...hb(T0, 5) },
          { connectionId: 'a1', ...hb(T0, 5) },
        ],
      },
      TOKEN_A,
    );
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ connectionId: 'b1', ok: false, status: 404 });
    expect(res.body.results[0].error.code).toBe('not-found');
    expect(res.body.results[1]).toMatchObject({ connectionId: 'a1', ok: true });
    expect(JSON.stringify(res.body)).not.toContain('inst-b');
    expect(JSON.stringify(res.body)).not.toContain('ws-b-secret');
    expect((await get('b1')).version).toBe(b.version);
    expect((await get('a1')).version).toBe(a.version + 1);
  });

  it('answers TOKEN_A 403 for registering into inst-b and claims nothing', async () => {
    const res = await call(
      'POST',
      '/v1/connections',
      { connectionId: 'x1', installationId: 'inst-b', workspaceId: 'ws-b1' },
      TOKEN_A,
    );
    expectError(res, 403, 'forbidden');
    expect(await snapshotAll()).toEqual([]);
    // The id was not claimed: inst-b can still take it.
    await register('x1', 'inst-b', 'ws-b1', TOKEN_B);
  });

  it('lists only inst-a connections for TOKEN_A', async () => {
    await register('a1', 'inst-a', 'ws-1');
    await register('a2', 'inst-a', 'ws-2');
    await register('b1', 'inst-b', 'ws-b-secret');
    for (const query of [
      '',
      '?workspaceId=ws-b-secret',
      '?status=connecting',
      '?installationId=inst-a',
    ]) {
      const res = await call('GET', `/v1/connections${query}`, undefined, TOKEN_A);
      expect(res.status).toBe(200);
      for (const item of res.body.items) expect(item.installationId).toBe('inst-a');
      expect(JSON.stringify(res.body)).not.toContain('b1');
      expect(JSON.stringify(res.body)).not.toContain('ws-b-secret');
    }
    const all = await call('GET', '/v1/connections', undefined, TOKEN_A);
    expect(all.body.items.map((c: any) => c.connectionId)).toEqual(['a1', 'a2']);
    const asB = await call('GET', '/v1/connections', undefined, TOKEN_B);
    expect(asB.body.items.map((c: any) => c.connectionId)).toEqual(['b1']);
  });

  it('answers TOKEN_A 403 for listing installationId=inst-b without listing anything', async () => {
    await register('b1', 'inst-b', 'ws-b-secret');
    const res = await call('GET', '/v1/connections?installationId=inst-b', undefined, TOKEN_A);
    expectError(res, 403, 'forbidden');
    expect(JSON.stringify(res.body)).not.toContain('b1');
    expect(JSON.stringify(res.body)).not.toContain('ws-b-secret');
  });

  it('does not let a forged cursor reach another installation', async () => {
    await register('a1', 'inst-a');
    await register('b1', 'inst-b', 'ws-b-secret');
    const forged = Buffer.from(JSON.stringify({ i: 'inst-b', c: '' })).toString('base64url');
    const res = await call('GET', `/v1/connections?cursor=${forged}`, undefined, TOKEN_A);
    expect(JSON.stringify(res.body)).not.toContain('b1');
    expect(JSON.stringify(res.body)).not.toContain('ws-b-secret');
  });
});

describe('bad input', () => {
  it('answers 400 validation-failed with a message for malformed JSON and writes nothing', async () => {
    const { version } = await connect('c1');
    const before = await snapshotAll();
    const res = await call('POST', '/v1/connections', '{"connectionId": "c2", ');
    expectError(res, 400, 'validation-failed');
    expect(res.body.error.message).toMatch(/json/i);
    const hbRes = await call('POST', '/v1/connections/c1/heartbeats', '{"timestamp": ');
    expectError(hbRes, 400, 'validation-failed');
    expect(await snapshotAll()).toEqual(before);
    expect((await get('c1')).version).toBe(version);
  });

  it('answers 400 naming an unknown field and writes nothing', async () => {
    const { version } = await connect('c1');
    const res = await heartbeat('c1', { ...hb(T0, 1), colour: 'blue' });
    expectError(res, 400, 'validation-failed', 'colour');
    const reg = await call('POST', '/v1/connections', {
      connectionId: 'c2',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      status: 'connected',
    });
    expectError(reg, 400, 'validation-failed', 'status');
    expect(await snapshotAll()).toEqual([`c1@${version}`]);
  });

  it.each(['succeeded', 'failed'])(
    'answers 400 naming %s when it is negative and writes nothing',
    async (field) => {
      const { version } = await connect('c1');
      const res = await heartbeat('c1', { ...hb(T0, 1, 1), [field]: -1 });
      expectError(res, 400, 'validation-failed', field);
      expect(await get('c1')).toMatchObject({ version, sampleSize: 0 });
    },
  );

  it('answers 400 naming latencyMs.N for a negative latency and writes nothing', async () => {
    const { version } = await connect('c1');
    const res = await heartbeat('c1', hb(T0, 1, 0, [10, -5]));
    expectError(res, 400, 'validation-failed', 'latencyMs.1');
    expect((await get('c1')).version).toBe(version);
  });

  it('answers 413 with a JSON error for a body over 32 KB and writes nothing', async () => {
    const { version } = await connect('c1');
    const before = await snapshotAll();
    const pad = 'x'.repeat(33 * 1024);
    const reg = await raw(
      'POST',
      '/v1/connections',
      JSON.stringify({ connectionId: 'big', installationId: 'inst-a', workspaceId: 'ws-1', pad }),
    );
    expect(reg.contentType).toMatch(/^application\/json/);
    expectError(reg, 413, 'payload-too-large');
    const beat = await raw(
      'POST',
      '/v1/connections/c1/heartbeats',
      JSON.stringify({ ...hb(T0, 1), pad }),
    );
    expect(beat.contentType).toMatch(/^application\/json/);
    expectError(beat, 413, 'payload-too-large');
    expect(await snapshotAll()).toEqual(before);
    expect((await get('c1')).version).toBe(version);
  });

  it('answers 404 with a JSON error for an unknown route and writes nothing', async () => {
    await connect('c1');
    const before = await snapshotAll();
    for (const [method, path] of [
      ['GET', '/nope'],
      ['POST', '/v1/nope'],
      ['DELETE', '/v1/connections/c1'],
      ['POST', '/v1/connections/c1/explode'],
    ] as const) {
      const res = await raw(
        method,
        path,
        method === 'GET' ? undefined : JSON.stringify({ connectionId: 'c9' }),
      );
      expect(res.contentType).toMatch(/^application\/json/);
      expectError(res, 404, 'not-found');
    }
    expect(await snapshotAll()).toEqual(before);
  });
});

describe('health probes', () => {
  it('answers GET /healthz with 200 and no token', async () => {
    const res = await call('GET', '/healthz', undefined, null);
    expect(res).toEqual({ status: 200, body: { status: 'ok' } });
  });

  it('answers GET /readyz with 200 when Redis answers', async () => {
    const res = await call('GET', '/readyz', undefined, null);
    expect(res).toEqual({ status: 200, body: { status: 'ready' } });
  });
});

describe('secrets', () => {
  it('never returns a bearer token in any response body', async () => {
    const bodies: string[] = [];
    const record = async (...args: Parameters<typeof call>) => {
      const res = await call(...args);
      bodies.push(JSON.stringify(res.body));
      return res;
    };
    for (const token of [OPERATOR, TOKEN_A, TOKEN_B]) {
      await record(
        'POST',
        '/v1/connections',
        { connectionId: `c-${token.slice(0, 6)}`, installationId: 'inst-a', workspaceId: 'w' },
        token,
      );
      await record('GET', '/v1/connections', undefined, token);
      await record('GET', '/v1/connections?installationId=inst-b', undefined, token);
      await record('GET', '/v1/connections/c-operat', undefined, token);
      await record('POST', '/v1/connections/c-operat/heartbeats', hb(T0, 1), token);
      await record(
        'POST',
        '/v1/heartbeats',
        { items: [{ connectionId: 'c-operat', ...hb(T0, 1) }, {}] },
        token,
      );
      await record('POST', '/v1/connections', '{bad json', token);
      await record('GET', '/v1/nope', undefined, token);
      await record('GET', '/v1/connections', undefined, `${token}-wrong`);
    }
    expect(bodies.length).toBe(27);
    for (const body of bodies) for (const token of TOKENS) expect(body).not.toContain(token);
  });
});
