/**
 * Connections end to end: the lifecycle (drop, reconnect, recover, roll back), the list and the
 * batch endpoint, through the real app (test/http/connections-harness.ts: real Redis, a manual
 * clock, the invariants every answer is checked for).
 */
import { describe, it, expect } from 'vitest';
import { T0, hb, namedFields } from '../helpers.ts';
import {
  type Res,
  service,
  expectErrorShape,
  call,
  expectError,
  register,
  handshake,
  connect,
  get,
  heartbeat,
  useService,
} from './connections-harness.ts';

useService();

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
    // As the README warns a user typing by hand: the late handshake is refused for good.
    const late = await handshake('c1');
    expectError(late, 409, 'invalid-transition');
    expect(late.body.error.message).toBe(
      'connection c1 in state "error" does not accept HANDSHAKE',
    );
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
    // One connection rolled back by hand, not by its workspace.
    expect(res.body.diagnostics.at(-1)).toMatchObject({
      to: 'rolled-back',
      cause: 'manual-rollback',
    });

    const version = (await get('c1')).version;
    expectError(await heartbeat('c1', hb(T0, 5)), 409, 'invalid-transition');
    expect(await get('c1')).toMatchObject({ status: 'rolled-back', version, sampleSize: 0 });
  });

  // A regression test: the wire spells statuses in kebab-case (`rolled-back`, see src/wire.ts),
  // and the 409 from src/engine/engine.ts used to name the internal state ("rolledBack").
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

  it('answers 400 saying a parameter was given more than once (limit=2&limit=3), naming it', async () => {
    for (const query of ['limit=2&limit=3', 'status=connected&status=error&limit=2']) {
      const res = await call('GET', `/v1/connections?${query}`);
      const field = query.split('=', 1)[0]!;
      expectError(res, 400, 'validation-failed', field);
      expect(res.body.error.details.fields).toEqual([
        { field, message: 'is given more than once: send it once' },
      ]);
    }
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
  it('answers per item: applies valid items, 404 for an unknown connection, 400 naming the field within the item', async () => {
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
    expect(namedFields(negative.error)).toEqual(['succeeded']);

    expect(unknownField).toMatchObject({ ok: false, status: 400 });
    expectErrorShape(unknownField.error);
    expect(namedFields(unknownField.error)).toEqual(['colour']);

    expect(await get('c1')).toMatchObject({ sampleSize: 10, version: c1.version + 1 });
    expect(await get('c2')).toMatchObject({ sampleSize: 8, version: c2.version + 1 });
  });

  it('says a missing field of an item is required', async () => {
    const { version } = await connect('c1');
    const { failed: _failed, ...withoutFailed } = hb(T0, 1);
    const res = await call('POST', '/v1/heartbeats', {
      items: [{ connectionId: 'c1', ...withoutFailed }],
    });
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ ok: false, status: 400 });
    expect(res.body.results[0].error.details.fields).toEqual([
      { field: 'failed', message: 'is required' },
    ]);
    expect(await get('c1')).toMatchObject({ version, sampleSize: 0 });
  });

  it('answers a per-item 400 naming timestamp for a timestamp too far ahead', async () => {
    await connect('c1');
    const res = await call('POST', '/v1/heartbeats', {
      items: [{ connectionId: 'c1', ...hb(T0 + 5 * 60_000 + 1, 1) }],
    });
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ ok: false, status: 400 });
    expectErrorShape(res.body.results[0].error);
    expect(res.body.results[0].error.message).toContain('timestamp');
    expect(namedFields(res.body.results[0].error)).toEqual(['timestamp']);
  });

  it('names a field the same way whichever check refused the item, as the single route does', async () => {
    const { version } = await connect('c1');
    const items = [
      // Refused by the time window (after the schema).
      { connectionId: 'c1', ...hb(T0 - 24 * 3_600_000, 1) },
      // Refused by the schema: a negative count, a missing field, an unknown field.
      { connectionId: 'c1', ...hb(T0, -1) },
      { connectionId: 'c1', timestamp: new Date(T0).toISOString(), succeeded: 1, latencyMs: [] },
      { connectionId: 'c1', ...hb(T0, 1), colour: 'blue' },
    ];
    const res = await call('POST', '/v1/heartbeats', { items });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 0, rejected: 4 });
    const named = res.body.results.map((r: any) => {
      expect(r).toMatchObject({ connectionId: 'c1', ok: false, status: 400 });
      expectErrorShape(r.error);
      expect(r.error.details.in).toBe('body');
      return namedFields(r.error);
    });
    expect(named).toEqual([['timestamp'], ['succeeded'], ['failed'], ['colour']]);
    // The single route names the same fields for the same bodies.
    for (const [i, { connectionId: _id, ...body }] of items.entries()) {
      const single = await call('POST', '/v1/connections/c1/heartbeats', body);
      expect(single.status).toBe(400);
      expect(namedFields(single.body.error)).toEqual(named[i]);
      expect(single.body.error.details).toEqual(res.body.results[i].error.details);
    }
    expect(await get('c1')).toMatchObject({ version, sampleSize: 0 });
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
