/**
 * "A missing field is reported as `is required`" (README, Bad input), also where a schema has a
 * message of its own for a wrong value. Real HTTP against the real service on real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OPERATOR,
  type TestService,
  checkInvariants,
  expectError,
  startWithConnection,
} from '../helpers.ts';
import { sendAndDiff } from '../hostile/support.ts';

let s: TestService;

beforeAll(async () => {
  s = await startWithConnection();
});

afterAll(async () => {
  await s.close();
});

describe('a missing field', () => {
  it('is reported as is required for a migration without initiatedBy, a wrong one by its own message', async () => {
    const missing = await sendAndDiff(s, {
      method: 'POST',
      path: '/v1/workspaces/ws-1/migrations',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: JSON.stringify({ toProtocol: 'acp' }),
    });
    checkInvariants(missing);
    expectError(missing, 400, 'validation-failed', 'initiatedBy');
    expect(missing.body.error.details.fields).toEqual([
      { field: 'initiatedBy', message: 'is required' },
    ]);
    expect(missing.written).toEqual([]);

    const wrong = await s.api('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'system',
    });
    expectError(wrong, 400, 'validation-failed', 'initiatedBy');
    expect(wrong.body.error.details.fields).toEqual([
      {
        field: 'initiatedBy',
        message: 'must be operator or user (system migrations are automatic)',
      },
    ]);
  });
});

describe('a body-taking route sent without a body', () => {
  it.each([
    ['/v1/connections/c1/rollback', ['reason']],
    ['/v1/workspaces/ws-1/rollback', ['reason']],
    ['/v1/connections/c1/handshake', ['protocolVersion', 'negotiatedCapabilities']],
    ['/v1/connections', ['connectionId', 'installationId', 'workspaceId']],
    ['/v1/workspaces/ws-1/migrations', ['toProtocol', 'initiatedBy']],
    ['/v1/connections/c1/heartbeats', ['timestamp', 'succeeded', 'failed']],
    ['/v1/heartbeats', ['items']],
  ])('POST %s names the body and each field it needs, and writes nothing', async (path, need) => {
    const res = await sendAndDiff(s, {
      method: 'POST',
      path,
      headers: { authorization: `Bearer ${OPERATOR}` },
    });
    checkInvariants(res);
    expectError(res, 400, 'validation-failed', '(root)');
    expect(res.body.error.details.in).toBe('body');
    expect(res.body.error.details.fields[0]).toEqual({
      field: '(root)',
      message: 'is required: send a JSON object',
    });
    for (const field of need) {
      expect(res.body.error.details.fields).toContainEqual({ field, message: 'is required' });
      expect(res.body.error.message).toContain(`${field}: is required`);
    }
    expect(res.written).toEqual([]);
  });

  it('still answers a body-taking route whose fields are all optional with (root) alone', async () => {
    const res = await sendAndDiff(s, {
      method: 'PUT',
      path: '/v1/installations/inst-a/settings',
      headers: { authorization: `Bearer ${OPERATOR}` },
    });
    expectError(res, 400, 'validation-failed', '(root)');
    expect(res.body.error.details.fields).toEqual([
      { field: '(root)', message: 'is required: send a JSON object' },
    ]);
    expect(res.written).toEqual([]);
  });
});

describe('a key whose name is empty', () => {
  it('is named (empty name) in a body and in a query, never as an empty string', async () => {
    const body = await sendAndDiff(s, {
      method: 'POST',
      path: '/v1/connections',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        '': 1,
        connectionId: 'c9',
        installationId: 'inst-a',
        workspaceId: 'w9',
      }),
    });
    checkInvariants(body);
    expectError(body, 400, 'validation-failed', '(empty name)');
    expect(body.body.error.message).toBe('invalid body: (empty name): unknown field');
    expect(body.written).toEqual([]);

    for (const path of ['/v1/connections?=1', '/v1/workspaces/ws-1?=1']) {
      const res = await s.api('GET', path);
      expectError(res, 400, 'validation-failed', '(empty name)');
      expect(res.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual([
        '(empty name)',
      ]);
    }
  });
});

describe('an empty or overlong id', () => {
  const long = 'a'.repeat(129);
  it.each([
    [
      '/v1/connections',
      { connectionId: '', installationId: 'inst-a', workspaceId: `${long}!` },
      [
        { field: 'connectionId', message: 'Too small: expected string to have >=1 characters' },
        { field: 'workspaceId', message: 'Too big: expected string to have <=128 characters' },
      ],
    ],
    [
      '/v1/connections/c1/heartbeats',
      { timestamp: '2026-01-01T00:00:00Z', succeeded: 1, failed: 0, heartbeatId: '' },
      [{ field: 'heartbeatId', message: 'Too small: expected string to have >=1 characters' }],
    ],
    [
      '/v1/connections/c1/rollback',
      { reason: 'r', requestId: `${long} ` },
      [{ field: 'requestId', message: 'Too big: expected string to have <=128 characters' }],
    ],
  ])('%s: is named once, for its length, and writes nothing', async (path, body, fields) => {
    const res = await sendAndDiff(s, {
      method: 'POST',
      path,
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    checkInvariants(res);
    expectError(res, 400, 'validation-failed', fields[0]!.field);
    expect(res.body.error.details.fields).toEqual(fields);
    expect(res.written).toEqual([]);
  });

  it('in a path is named once too', async () => {
    const res = await s.api('GET', `/v1/connections/${'b'.repeat(129)}!`);
    expectError(res, 400, 'validation-failed', 'connectionId');
    expect(res.body.error.details).toEqual({
      in: 'path',
      fields: [
        { field: 'connectionId', message: 'Too big: expected string to have <=128 characters' },
      ],
    });
  });
});

describe('a body that is a bare JSON value', () => {
  it.each([
    ['null', 'null'],
    ['"c1"', 'a string'],
    [' 42', 'a number'],
    ['true', 'a boolean'],
  ])('%s is named for what it is, not called malformed, and writes nothing', async (body, what) => {
    for (const path of ['/v1/connections', '/v1/connections/c1/heartbeats']) {
      const res = await sendAndDiff(s, {
        method: 'POST',
        path,
        headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
        body,
      });
      checkInvariants(res);
      expectError(res, 400, 'validation-failed', '(root)');
      expect(res.body.error.message).toBe(
        `invalid body: (root): must be a JSON object, not ${what}`,
      );
      expect(res.body.error.details).toEqual({
        in: 'body',
        fields: [{ field: '(root)', message: `must be a JSON object, not ${what}` }],
      });
      expect(res.written).toEqual([]);
    }
  });

  it('still calls JSON that does not parse malformed', async () => {
    const res = await sendAndDiff(s, {
      method: 'POST',
      path: '/v1/connections',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: 'nul',
    });
    expectError(res, 400, 'validation-failed');
    expect(res.body.error.message).toBe('malformed JSON in request body');
    expect(res.body.error.details.fields).toEqual([{ field: '(root)', message: 'not valid JSON' }]);
    expect(res.written).toEqual([]);
  });
});
