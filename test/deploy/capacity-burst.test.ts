/**
 * Load shedding across processes: registrations of one installation sent at the same moment to
 * three processes (round robin), on one Redis or on a Redis Cluster. Each process checks the
 * count before the commit and lets them all through; the capacity chart refuses, in the commit,
 * every one that would take a slot at the critical ratio or beyond, so the limit holds exactly.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestService, checkInvariants, startService } from '../helpers.ts';

/** 20 slots: critical (95 %) at 19. No timeouts: every registered connection stays active. */
const ENV = {
  CAPACITY_PER_WORKER: '20',
  HANDSHAKE_TIMEOUT_MS: String(24 * 3_600_000),
  HEARTBEAT_TIMEOUT_MS: String(24 * 3_600_000),
};

let processes: TestService[] = [];

beforeEach(async () => {
  const first = await startService(ENV);
  processes = [first];
  for (let i = 1; i < 3; i++)
    processes.push(await startService({ ...ENV, KEY_PREFIX: first.prefix }));
});

afterEach(async () => {
  for (const p of processes.slice(1)) await p.stopKeepingKeys();
  await processes[0]!.close();
});

describe('capacity limit across processes', () => {
  it('admits exactly up to the critical ratio when 30 registrations arrive at once over three processes', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `burst-${i}`);
    const results = await Promise.all(
      ids.map((id, i) =>
        processes[i % processes.length]!.api('POST', '/v1/connections', {
          connectionId: id,
          installationId: 'inst-a',
          workspaceId: `ws-${i % 2}`,
        }),
      ),
    );
    for (const r of results) checkInvariants(r);
    for (const p of processes) await p.engine.idle();
    const admitted = ids.filter((_, i) => results[i]!.status === 201);
    expect(admitted).toHaveLength(19);
    for (const r of results.filter((r) => r.status !== 201)) {
      expect(r.status, JSON.stringify(r.body)).toBe(503);
      expect(r.body.error.code).toBe('capacity-shed');
    }
    // Every process reads the same exact count from Redis.
    for (const p of processes) {
      const cap = await p.api('GET', '/v1/installations/inst-a/capacity');
      expect(cap.body).toMatchObject({
        activeConnections: 19,
        state: 'critical',
        refusedConnections: 11,
      });
    }
    const refused = ids.filter((id) => !admitted.includes(id));
    for (const [i, id] of refused.entries()) {
      const res = await processes[i % processes.length]!.api('GET', `/v1/connections/${id}`);
      expect(res.status).toBe(404);
    }
    const members = await Promise.all(
      ['ws-0', 'ws-1'].map(
        async (ws) =>
          (await processes[0]!.api('GET', `/v1/workspaces/${ws}`)).body.connections.total,
      ),
    );
    expect(members[0] + members[1]).toBe(19);
  });
});
