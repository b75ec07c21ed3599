/**
 * Safe retries: a client that timed out or got a 5xx sends the same request again with the same
 * heartbeatId / requestId, to any process. The id is checked and recorded inside the commit, so
 * the command is applied exactly once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { T0, type TestService, checkInvariants, hb, startService } from '../helpers.ts';

const iso = (ms: number) => new Date(ms).toISOString();

let a: TestService;
let b: TestService;

beforeEach(async () => {
  a = await startService({ IDEMPOTENCY_KEYS_PER_ACTOR: '8' });
  b = await startService({ KEY_PREFIX: a.prefix, IDEMPOTENCY_KEYS_PER_ACTOR: '8' });
});

afterEach(async () => {
  await b.stopKeepingKeys();
  await a.close();
});

async function call(svc: TestService, method: string, path: string, body?: unknown) {
  const res = await svc.api(method, path, body);
  checkInvariants(res);
  return res;
}

async function connected(id: string, workspaceId = 'ws-1') {
  await call(a, 'POST', '/v1/connections', {
    connectionId: id,
    installationId: 'inst-a',
    workspaceId,
  });
  await call(a, 'POST', `/v1/connections/${id}/handshake`, {
    protocolVersion: '1.2.0',
    negotiatedCapabilities: [],
  });
}

const sampleSize = async (id: string) =>
  (await call(b, 'GET', `/v1/connections/${id}`)).body.sampleSize as number;

describe('POST /v1/connections/:id/heartbeats with a heartbeatId', () => {
  it('counts a heartbeat retried on another process once and answers the retry duplicate: true', async () => {
    await connected('c1');
    const first = await call(a, 'POST', '/v1/connections/c1/heartbeats', {
      ...hb(T0, 10),
      heartbeatId: 'hb-1',
    });
    expect(first.status).toBe(200);
    expect(first.body.duplicate).toBeUndefined();
    const retry = await call(b, 'POST', '/v1/connections/c1/heartbeats', {
      ...hb(T0, 10),
      heartbeatId: 'hb-1',
    });
    expect(retry.status).toBe(200);
    expect(retry.body.duplicate).toBe(true);
    expect(retry.body.status).toBe('connected');
    expect(await sampleSize('c1')).toBe(10);
  });

  it('applies exactly one of the same heartbeat sent concurrently to two processes, several times', async () => {
    await connected('c1');
    const sends = [a, b, a, b, a, b].map((svc) =>
      call(svc, 'POST', '/v1/connections/c1/heartbeats', { ...hb(T0, 7), heartbeatId: 'same' }),
    );
    const answers = await Promise.all(sends);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(answers.filter((r) => r.body.duplicate !== true)).toHaveLength(1);
    expect(await sampleSize('c1')).toBe(7);
  });

  it('counts a heartbeatId repeated inside one batch once, and answers the repeat as a duplicate', async () => {
    await connected('c1');
    const item = { connectionId: 'c1', ...hb(T0, 3), heartbeatId: 'in-batch' };
    const res = await call(a, 'POST', '/v1/heartbeats', { items: [item, item, item] });
    expect(res.body.accepted).toBe(3);
    const duplicates = res.body.results.filter((r: any) => r.result.duplicate === true);
    expect(duplicates).toHaveLength(2);
    expect(await sampleSize('c1')).toBe(3);
  });

  it('counts heartbeats without an id every time (no id, no deduplication)', async () => {
    await connected('c1');
    await call(a, 'POST', '/v1/connections/c1/heartbeats', hb(T0, 2));
    await call(b, 'POST', '/v1/connections/c1/heartbeats', hb(T0, 2));
    expect(await sampleSize('c1')).toBe(4);
  });

  it('remembers the last IDEMPOTENCY_KEYS_PER_ACTOR ids per connection and no more', async () => {
    await connected('c1');
    for (let i = 0; i < 12; i++) {
      await call(i % 2 ? a : b, 'POST', '/v1/connections/c1/heartbeats', {
        ...hb(T0, 1),
        heartbeatId: `id-${i}`,
      });
    }
    const key = a.store.keys.requestIds('inst-a', 'connection', 'c1');
    expect(await a.redis.zcard(key)).toBe(8);
    // Remembered as 56-bit hashes (integers a listpack keeps in a few bytes), not as sent.
    const members = await a.redis.zrange(key, 0, -1);
    expect(members.every((m) => /^\d{1,17}$/.test(m) && BigInt(m) < 2n ** 56n)).toBe(true);
    expect(await a.redis.object('ENCODING', key)).toMatch(/^(listpack|ziplist)$/);
    // The newest id is remembered, the oldest forgotten (and so counted again).
    const newest = await call(a, 'POST', '/v1/connections/c1/heartbeats', {
      ...hb(T0, 1),
      heartbeatId: 'id-11',
    });
    expect(newest.body.duplicate).toBe(true);
    const oldest = await call(a, 'POST', '/v1/connections/c1/heartbeats', {
      ...hb(T0, 1),
      heartbeatId: 'id-0',
    });
    expect(oldest.body.duplicate).toBeUndefined();
    expect(await sampleSize('c1')).toBe(13);
  });

  it('answers 400 naming heartbeatId for an id with forbidden characters, and writes nothing', async () => {
    await connected('c1');
    const res = await call(a, 'POST', '/v1/connections/c1/heartbeats', {
      ...hb(T0, 1),
      heartbeatId: 'has space',
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('heartbeatId');
    expect(await sampleSize('c1')).toBe(0);
  });
});

/** A registration of c1 (inst-a, ws-1) that carries a requestId. */
const REGISTRATION = {
  connectionId: 'c1',
  installationId: 'inst-a',
  workspaceId: 'ws-1',
  requestId: 'reg-1',
};

/** A workspace on ACP with one connection (c1) that process `a` registered, seen from `b`. */
async function onAcp() {
  await call(a, 'POST', '/v1/connections', {
    connectionId: 'c1',
    installationId: 'inst-a',
    workspaceId: 'ws-1',
  });
  await call(a, 'POST', '/v1/workspaces/ws-1/migrations', {
    toProtocol: 'acp',
    initiatedBy: 'operator',
  });
  await call(a, 'POST', '/v1/connections/c1/handshake', {
    protocolVersion: '1.2.0',
    negotiatedCapabilities: [],
  });
  await a.engine.idle();
  expect((await call(b, 'GET', '/v1/workspaces/ws-1')).body.state).toBe('acp');
}

describe('commands with a requestId', () => {
  it('answers a retried registration 201 duplicate: true, and a different client 409', async () => {
    const body = REGISTRATION;
    expect((await call(a, 'POST', '/v1/connections', body)).status).toBe(201);
    const retry = await call(b, 'POST', '/v1/connections', body);
    expect(retry.status).toBe(201);
    expect(retry.body).toMatchObject({ connectionId: 'c1', duplicate: true });
    const other = await call(b, 'POST', '/v1/connections', { ...body, requestId: 'reg-2' });
    expect(other.status).toBe(409);
  });

  it('rolls a workspace back once for a retried rollback, answering the same eventId', async () => {
    await onAcp();

    const body = { reason: 'operator test', requestId: 'rb-1' };
    const first = await call(a, 'POST', '/v1/workspaces/ws-1/rollback', body);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const retry = await call(b, 'POST', '/v1/workspaces/ws-1/rollback', body);
    expect(retry.status).toBe(201);
    expect(retry.body.eventId).toBe(first.body.eventId);
    expect(retry.body.duplicate).toBe(true);
    const rollbacks = await call(b, 'GET', '/v1/workspaces/ws-1/rollbacks');
    expect(rollbacks.body.items).toHaveLength(1);
    expect(rollbacks.body.items[0].eventId).toBe(first.body.eventId);
  });

  it('takes one id sent with two different commands as two requests: neither is swallowed', async () => {
    // A client numbering its registrations, heartbeats and commands each from 1.
    await call(a, 'POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      requestId: '1',
    });
    const migration = await call(a, 'POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
      requestId: '1',
    });
    expect(migration.status, JSON.stringify(migration.body)).toBe(201);
    await call(a, 'POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    await a.engine.idle();
    expect((await call(b, 'GET', '/v1/workspaces/ws-1')).body.state).toBe('acp');

    const beat = await call(b, 'POST', '/v1/connections/c1/heartbeats', {
      ...hb(T0, 10),
      heartbeatId: '1',
    });
    expect(beat.body.duplicate).toBeUndefined();
    expect(await sampleSize('c1')).toBe(10);

    const rollback = await call(b, 'POST', '/v1/workspaces/ws-1/rollback', {
      reason: 'operator test',
      requestId: '1',
    });
    expect(rollback.status).toBe(201);
    expect(rollback.body.duplicate).toBeUndefined();
    expect(rollback.body.workspace.state).toBe('http.cooldown');
    const rollbacks = await call(b, 'GET', '/v1/workspaces/ws-1/rollbacks');
    expect(rollbacks.body.items.map((r: { eventId: string }) => r.eventId)).toEqual([
      rollback.body.eventId,
    ]);
    // Each is still remembered for its own command.
    const again = await call(a, 'POST', '/v1/workspaces/ws-1/rollback', {
      reason: 'operator test',
      requestId: '1',
    });
    expect(again.body).toMatchObject({ duplicate: true, eventId: rollback.body.eventId });
  });

  it('drops a connection once for a retried dropped command, where a plain repeat is refused', async () => {
    await connected('c1');
    const first = await call(a, 'POST', '/v1/connections/c1/dropped', { requestId: 'drop-1' });
    expect(first.body.status).toBe('error');
    const retry = await call(b, 'POST', '/v1/connections/c1/dropped', { requestId: 'drop-1' });
    expect(retry.status).toBe(200);
    expect(retry.body.duplicate).toBe(true);
    const plain = await call(b, 'POST', '/v1/connections/c1/dropped', {});
    expect(plain.status).toBe(409);
  });
});

describe('a requestId sent again with a different body', () => {
  const reusedRefusal = (res: { status: number; body: any }, id: string) => {
    expect(res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body.error.code).toBe('request-id-reused');
    expect(res.body.error.details.field).toBe('requestId');
    expect(res.body.error.message).toContain(`requestId ${id} was already used`);
  };

  it('refuses a workspace rollback with another reason 409 on any process, and rolls back once', async () => {
    await onAcp();
    const first = await call(a, 'POST', '/v1/workspaces/ws-1/rollback', {
      reason: 'agent upgrade',
      requestId: 'rb-1',
    });
    expect(first.status).toBe(201);
    reusedRefusal(
      await call(b, 'POST', '/v1/workspaces/ws-1/rollback', {
        reason: 'something else',
        requestId: 'rb-1',
      }),
      'rb-1',
    );
    // The same body, keys in another order: the same request, answered as the first.
    const retry = await call(a, 'POST', '/v1/workspaces/ws-1/rollback', {
      requestId: 'rb-1',
      reason: 'agent upgrade',
    });
    expect(retry.status).toBe(201);
    expect(retry.body).toMatchObject({ duplicate: true, eventId: first.body.eventId });
    const rollbacks = await call(b, 'GET', '/v1/workspaces/ws-1/rollbacks');
    expect(rollbacks.body.items.map((r: { reason: string }) => r.reason)).toEqual([
      'agent upgrade',
    ]);
  });

  it('refuses a migration with another schedule 409, keeping the first schedule', async () => {
    await call(a, 'POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    const at = T0 + 3_600_000;
    const body = {
      toProtocol: 'acp',
      initiatedBy: 'operator',
      scheduledAt: iso(at),
      requestId: 'm-1',
    };
    const first = await call(a, 'POST', '/v1/workspaces/ws-1/migrations', body);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const before = (await call(b, 'GET', '/v1/workspaces/ws-1')).body;
    reusedRefusal(
      await call(b, 'POST', '/v1/workspaces/ws-1/migrations', {
        ...body,
        scheduledAt: iso(at + 60_000),
      }),
      'm-1',
    );
    reusedRefusal(
      await call(a, 'POST', '/v1/workspaces/ws-1/migrations', {
        ...body,
        requestedBy: 'someone else',
      }),
      'm-1',
    );
    expect((await call(b, 'GET', '/v1/workspaces/ws-1')).body).toEqual(before);
    const retry = await call(b, 'POST', '/v1/workspaces/ws-1/migrations', body);
    expect(retry.status).toBe(201);
    expect(retry.body).toMatchObject({ duplicate: true, migrationId: first.body.migrationId });
  });

  it('refuses in the commit itself: the same id with two bodies at once applies exactly one', async () => {
    await onAcp();
    const reasons = ['one', 'two', 'one', 'two'];
    const answers = await Promise.all(
      reasons.map((reason, i) =>
        call(i % 2 ? b : a, 'POST', '/v1/workspaces/ws-1/rollback', { reason, requestId: 'race' }),
      ),
    );
    const rollbacks = (await call(b, 'GET', '/v1/workspaces/ws-1/rollbacks')).body.items;
    expect(rollbacks).toHaveLength(1);
    const winner = rollbacks[0].reason as string;
    const applied = answers.filter((r) => r.status === 201 && r.body.duplicate !== true);
    expect(applied).toHaveLength(1);
    answers.forEach((res, i) => {
      if (res === applied[0]) return;
      // The same body as the applied one: a repeat; the other body: refused.
      if (reasons[i] === winner) expect(res.body.duplicate).toBe(true);
      else reusedRefusal(res, 'race');
    });
  });

  it('refuses a registration in another workspace and a connection rollback with another reason', async () => {
    const body = REGISTRATION;
    expect((await call(a, 'POST', '/v1/connections', body)).status).toBe(201);
    reusedRefusal(
      await call(b, 'POST', '/v1/connections', { ...body, workspaceId: 'ws-2' }),
      'reg-1',
    );
    expect((await call(b, 'GET', '/v1/connections/c1')).body.workspaceId).toBe('ws-1');
    expect((await call(b, 'GET', '/v1/workspaces/ws-2')).status).toBe(404);

    await call(a, 'POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    const dropped = await call(a, 'POST', '/v1/connections/c1/dropped', {
      reason: 'socket closed',
      requestId: 'd-1',
    });
    expect(dropped.body.status).toBe('error');
    const version = (await call(b, 'GET', '/v1/connections/c1')).body.version;
    reusedRefusal(
      await call(b, 'POST', '/v1/connections/c1/dropped', { reason: 'other', requestId: 'd-1' }),
      'd-1',
    );
    reusedRefusal(await call(b, 'POST', '/v1/connections/c1/dropped', { requestId: 'd-1' }), 'd-1');
    expect((await call(b, 'GET', '/v1/connections/c1')).body.version).toBe(version);
    const retry = await call(b, 'POST', '/v1/connections/c1/dropped', {
      reason: 'socket closed',
      requestId: 'd-1',
    });
    expect(retry.body.duplicate).toBe(true);
  });

  it('answers a heartbeatId sent again with other counts as a repeat: heartbeats carry no digest', async () => {
    await connected('c1');
    await call(a, 'POST', '/v1/connections/c1/heartbeats', { ...hb(T0, 10), heartbeatId: 'h' });
    const other = await call(b, 'POST', '/v1/connections/c1/heartbeats', {
      ...hb(T0, 3),
      heartbeatId: 'h',
    });
    expect(other.status).toBe(200);
    expect(other.body.duplicate).toBe(true);
    expect(await sampleSize('c1')).toBe(10);
  });
});
