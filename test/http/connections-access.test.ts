/**
 * Connections end to end: authentication and tenancy, bad input, health probes and secrets,
 * through the real app (test/http/connections-harness.ts: real Redis, a manual clock, the
 * invariants every answer is checked for).
 */
import { describe, it, expect } from 'vitest';
import { OPERATOR, T0, TOKEN_A, TOKEN_B, hb } from '../helpers.ts';
import {
  TOKENS,
  call,
  raw,
  expectError,
  register,
  connect,
  get,
  heartbeat,
  snapshotAll,
  useService,
} from './connections-harness.ts';

useService();

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

  it('answers 404 with a JSON error for an unknown route, 405 for a method a route does not take, and writes nothing', async () => {
    await connect('c1');
    const before = await snapshotAll();
    for (const [method, path, status, code] of [
      ['GET', '/nope', 404, 'not-found'],
      ['POST', '/v1/nope', 404, 'not-found'],
      ['DELETE', '/v1/connections/c1', 405, 'request-refused'],
      ['POST', '/v1/connections/c1/explode', 404, 'not-found'],
    ] as const) {
      const res = await raw(
        method,
        path,
        method === 'GET' ? undefined : JSON.stringify({ connectionId: 'c9' }),
      );
      expect(res.contentType).toMatch(/^application\/json/);
      expectError(res, status, code);
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
