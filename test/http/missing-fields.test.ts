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
