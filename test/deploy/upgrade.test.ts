/**
 * The two-step upgrade of SNAPSHOT_FORMAT (README, "SNAPSHOT_FORMAT"), as deployed: processes
 * writing JSON and processes writing compact snapshots serve the same connections round robin, on
 * one Redis (project "single") or a Redis Cluster (project "cluster"), then the JSON process is
 * stopped and replaced by a compact one. No heartbeat is refused or lost on the way.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { T0, type TestService, checkInvariants, hb, startService } from '../helpers.ts';

let processes: TestService[] = [];

afterEach(async () => {
  for (const p of processes.slice(1)) await p.stopKeepingKeys();
  await processes[0]?.close();
  processes = [];
});

const ids = ['c0', 'c1', 'c2', 'c3'];

describe('upgrading a fleet to compact snapshots', () => {
  it('serves every connection round robin across json and compact processes, then compact only', async () => {
    const json = await startService({ SNAPSHOT_FORMAT: 'json' });
    const compact = await startService({ KEY_PREFIX: json.prefix });
    processes = [json, compact];
    let turn = 0;
    const rr = async (method: string, path: string, body?: unknown) => {
      const res = await processes[turn++ % processes.length]!.api(method, path, body);
      checkInvariants(res);
      expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
      return res;
    };
    const stored = async (id: string) =>
      (await json.redis.hget(`${json.prefix}:{inst-a}:actor:connection:${id}`, 's'))!;

    for (const id of ids) {
      await rr('POST', '/v1/connections', {
        connectionId: id,
        installationId: 'inst-a',
        workspaceId: 'ws-1',
      });
      await rr('POST', `/v1/connections/${id}/handshake`, {
        protocolVersion: '1.2.0',
        negotiatedCapabilities: [],
      });
    }
    const beat = async (round: number) => {
      for (const id of ids) {
        const res = await rr('POST', `/v1/connections/${id}/heartbeats`, hb(T0 + round, 3));
        expect(res.body.sampleSize).toBe(3 * round);
      }
    };
    for (let round = 1; round <= 3; round++) await beat(round);
    // Each form was written by its process, and each process read the other's.
    const forms = new Set(await Promise.all(ids.map(async (id) => (await stored(id))[0])));
    expect(forms).toEqual(new Set(['[', '{']));

    // Step two: the json process is stopped and a compact one takes its place.
    await json.stopKeepingKeys();
    processes = [compact, await startService({ KEY_PREFIX: json.prefix })];
    const check = processes[0]!;
    for (let round = 4; round <= 5; round++) await beat(round);
    for (const id of ids) {
      const s = (await check.redis.hget(`${check.prefix}:{inst-a}:actor:connection:${id}`, 's'))!;
      expect(s.startsWith('[')).toBe(true);
      const record = await check.api('GET', `/v1/connections/${id}`);
      expect(record.body.sampleSize).toBe(15);
      expect(record.body.status).toBe('connected');
    }
  });
});
