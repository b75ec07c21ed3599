/**
 * A JSON body that names a key twice in one object (`{"status":"connected","status":"error"}`)
 * is refused with a 400 naming the key's path and saying `duplicate key`, on the heartbeat lane
 * as on every other route, and writes nothing: JSON.parse would keep the last one silently, so
 * the body could mean one thing to a log reader and another to the engine.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { duplicateKeyPaths } from '../../src/http/duplicate-keys.ts';
import { summary } from '../automation/support.ts';
import { T0, type TestService, expectError, hb, namedFields, startService } from '../helpers.ts';
import { connectInstA, sendJsonAndDiff } from './support.ts';

let s: TestService;

beforeEach(async () => {
  s = await startService();
});

afterEach(async () => {
  await s.close();
});

/** Sends `body` as written (keys and all) with the operator token; the answer and keys written. */
const post = (path: string, body: string, method = 'POST') =>
  sendJsonAndDiff(s, method, path, body);

function expectDuplicate(res: Awaited<ReturnType<typeof post>>, field: string) {
  expectError(res, 400, 'validation-failed', field);
  expect(res.body.error.details.in).toBe('body');
  expect(namedFields(res.body.error)).toEqual([field]);
  expect(res.body.error.message).toContain('duplicate key');
  expect(res.written).toEqual([]);
}

const connect = (connectionId: string) => connectInstA(s, connectionId);

const recordOf = async (connectionId: string) =>
  (await s.api('GET', `/v1/connections/${connectionId}`)).body;

describe('a duplicated key in a request body', () => {
  it('refuses a single heartbeat that gives `failed` twice, and records nothing', async () => {
    await connect('c1');
    const before = await recordOf('c1');
    const body = JSON.stringify(hb(T0, 10, 0)).replace('"failed":0', '"failed":0,"failed":10');
    const res = await post('/v1/connections/c1/heartbeats', body);
    expectDuplicate(res, 'failed');
    expect(await recordOf('c1')).toEqual(before);
  });

  it('refuses a batch whose second item names connectionId twice, naming the item', async () => {
    await connect('c1');
    await connect('c2');
    const items = [
      { connectionId: 'c1', ...hb(T0, 5) },
      { connectionId: 'c1', ...hb(T0, 6) },
    ];
    const body = JSON.stringify({ items }).replace(/"connectionId":"c1"/g, (m, offset: number) =>
      offset > 20 ? '"connectionId":"c1","connectionId":"c2"' : m,
    );
    const res = await post('/v1/heartbeats', body);
    expectDuplicate(res, 'items.1.connectionId');
    // Not even the first, well-formed item was applied.
    expect((await recordOf('c1')).lastHeartbeat).toBeNull();
    expect((await recordOf('c2')).lastHeartbeat).toBeNull();
  });

  it('refuses a workspace rollback that gives two reasons, and the workspace stays as it was', async () => {
    await connect('c1');
    const before = (await s.api('GET', '/v1/workspaces/ws-1')).body;
    const res = await post(
      '/v1/workspaces/ws-1/rollback',
      '{"reason":"planned maintenance","reason":"agent crashed"}',
    );
    expectDuplicate(res, 'reason');
    expect((await s.api('GET', '/v1/workspaces/ws-1')).body).toEqual(before);
    expect((await recordOf('c1')).status).toBe('connected');
  });

  it('names the path of a key repeated deep in nested objects, and lets sibling objects share keys', async () => {
    const nested = JSON.stringify(
      summary({
        logs: [
          { message: 'a', data: { step: { id: 1 } } },
          { message: 'b', data: { step: { id: 2 } } },
        ],
      }),
    );
    // Each log entry and each `data` has the same keys as its sibling: that is fine.
    const ok = await post('/v1/sessions/s1/automation', nested);
    expect(ok.status, ok.text).toBe(201);
    const repeated = nested.replace('"id":2', '"id":2,"id":3');
    const res = await post('/v1/sessions/s2/automation', repeated);
    expectDuplicate(res, 'logs.1.data.step.id');
  });

  it('takes a key spelled with an escape as the key it spells: "\\u0073ucceeded" repeats "succeeded"', async () => {
    await connect('c1');
    const body = JSON.stringify(hb(T0, 10)).replace(
      '"succeeded":10',
      '"succeeded":10,"\\u0073ucceeded":0',
    );
    const res = await post('/v1/connections/c1/heartbeats', body);
    expectDuplicate(res, 'succeeded');
    expect((await recordOf('c1')).lastHeartbeat).toBeNull();
  });

  it('refuses a settings change that sets one threshold twice', async () => {
    const before = (await s.api('GET', '/v1/installations/inst-a/settings')).body;
    const res = await post(
      '/v1/installations/inst-a/settings',
      '{"thresholds":{"minSuccessRate":0.5,"minSuccessRate":0.99}}',
      'PUT',
    );
    expectDuplicate(res, 'thresholds.minSuccessRate');
    expect((await s.api('GET', '/v1/installations/inst-a/settings')).body).toEqual(before);
  });
});

describe('duplicateKeyPaths', () => {
  const paths = (json: string) => {
    JSON.parse(json); // the scanner is only ever given what JSON.parse accepted
    return duplicateKeyPaths(Buffer.from(json));
  };

  it('finds none where keys repeat only across objects, in arrays or inside strings', () => {
    expect(paths('{"a":{"a":1},"b":{"a":1},"c":["a","a"],"d":"\\"a\\":1,\\"a\\":2}"}')).toEqual([]);
    expect(paths('[{"x":1},{"x":1}]')).toEqual([]);
  });

  it('reads string contents that look like structure as text', () => {
    expect(paths('{"s":"{[\\"x\\",","x":1,"t":"}]\\\\","x":2}')).toEqual(['x']);
  });

  it('compares keys as JSON reads them: escapes and UTF-8 alike', () => {
    expect(paths('{"\\u0061":1,"a":2}')).toEqual(['a']);
    expect(paths('{"é":1,"\\u00e9":2}')).toEqual(['é']);
    expect(paths('{"a\\"b":1,"a\\u0022b":2}')).toEqual(['a"b']);
    expect(paths('{"ab":1,"a\\u0062c":2,"a":3}')).toEqual([]);
  });

  it('finds a repeat among many keys (kept as strings past the first sixteen)', () => {
    const keys = Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(',');
    expect(paths(`{${keys},"k3":0}`)).toEqual(['k3']);
    expect(paths(`{${keys}}`)).toEqual([]);
  });

  it('names each repeated key once, in document order, at most ten', () => {
    expect(paths('{"b":1,"a":{"x":[{"y":1,"y":2}]},"b":2,"b":3}')).toEqual(['a.x.0.y', 'b']);
    const many = Array.from({ length: 20 }, (_, i) => `"k${i}":1,"k${i}":2`).join(',');
    expect(paths(`{${many}}`)).toHaveLength(10);
  });

  it('walks a body nested deeper than the call stack', () => {
    const deep = (inner: string) => '{"a":'.repeat(100_000) + inner + '}'.repeat(100_000);
    expect(paths(deep('1'))).toEqual([]);
    const found = paths(deep('{"z":1,"z":2}'));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^(a\.){100000}z$/);
  });
});
