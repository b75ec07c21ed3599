/**
 * A page's `limit` is a whole number in decimal digits within its route's range: `0x10`, `1e2`,
 * an empty `limit=` or a padded one are refused naming `limit`, not read as 16, 100 or 0.
 * Real HTTP against the real app, on real Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestService, checkInvariants, startWithConnection } from '../helpers.ts';

let s: TestService;

beforeAll(async () => {
  s = await startWithConnection();
});

afterAll(async () => {
  await s.close();
});

/** A list route of each page schema, with its largest `limit`. */
const ROUTES: [string, number][] = [
  ['/v1/installations/inst-a/capacity/alerts?', 500],
  ['/v1/connections?installationId=inst-a&', 500],
  ['/v1/workspaces/ws-1/migrations?', 500],
  ['/v1/installations/inst-a/notifications/dead-letters?', 500],
  ['/v1/metrics/envelopes?installationId=inst-a&', 1000],
];

describe('limit of a page', () => {
  it.each(ROUTES)(
    '%s refuses limits in another notation or out of range, naming limit',
    async (route, max) => {
      for (const limit of ['0x10', '1e2', '', '%20', '5.0', '-1', '0', String(max + 1), 'ten']) {
        const res = await s.api('GET', `${route}limit=${limit}`);
        checkInvariants(res);
        expect(res.status, `limit=${limit}: ${JSON.stringify(res.body)}`).toBe(400);
        expect(res.body.error.details).toEqual({
          in: 'query',
          fields: [
            {
              field: 'limit',
              message: `must be a whole number from 1 to ${max} in decimal digits`,
            },
          ],
        });
      }
      for (const limit of ['1', String(max), '007']) {
        const res = await s.api('GET', `${route}limit=${limit}`);
        expect(res.status, `limit=${limit}: ${JSON.stringify(res.body)}`).toBe(200);
      }
      expect((await s.api('GET', route.slice(0, -1))).status).toBe(200);
    },
  );
});
