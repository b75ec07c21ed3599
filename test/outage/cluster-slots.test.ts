/**
 * A Redis Cluster whose slots move under a running service (a resharding; a failover moves
 * them the same way): a cluster of two masters of the test's own, an installation's slot moved
 * from one to the other by the test (CLUSTER SETSLOT, MIGRATE), as `redis-cli --cluster reshard`
 * does. A request that meets the move is answered 503 store-unavailable, never 500, and its
 * retry with the same heartbeatId is applied once.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/logger.ts';
import { type Service, start } from '../../src/main.ts';
import { OPERATOR } from '../helpers.ts';
import { CLUSTER_NODE_ARGS, OwnRedis, freeClusterPort, until } from './support.ts';

let nodes: [OwnRedis, OwnRedis];
let admin: [Redis, Redis];
let service: Service;

beforeAll(async () => {
  const first = new OwnRedis(await freeClusterPort(), CLUSTER_NODE_ARGS);
  const second = new OwnRedis(await freeClusterPort(), CLUSTER_NODE_ARGS);
  nodes = [first, second];
  await Promise.all(nodes.map((n) => n.start()));
  admin = [new Redis(first.port, '127.0.0.1'), new Redis(second.port, '127.0.0.1')];
  // Every slot on the first master; the second one joins with none.
  await admin[0].call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  await admin[0].call('CLUSTER', 'MEET', '127.0.0.1', String(second.port));
  await until('the cluster to be ok on both nodes', async () => {
    const infos = await Promise.all(admin.map((r) => r.call('CLUSTER', 'INFO')));
    return infos.every(
      (i) => /cluster_state:ok/.test(String(i)) && /known_nodes:2/.test(String(i)),
    );
  });
  service = await start({
    config: loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
      KEY_PREFIX: 'slots',
      OPERATOR_TOKENS: OPERATOR,
    }),
    clock: new ManualClock(Date.now()),
    logger: silentLogger,
    background: false,
  });
});

afterAll(async () => {
  await service?.stop();
  for (const r of admin ?? []) r.disconnect();
  for (const n of nodes ?? []) await n.destroy();
});

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${OPERATOR}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Moves `slot` and its keys from the first master to the second, as a resharding does. */
async function moveSlot(slot: number): Promise<void> {
  const [from, to] = admin;
  const fromId = String(await from.call('CLUSTER', 'MYID'));
  const toId = String(await to.call('CLUSTER', 'MYID'));
  await to.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId);
  await from.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId);
  for (;;) {
    const keys = (await from.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[];
    if (keys.length === 0) break;
    await from.migrate('127.0.0.1', nodes[1].port, '', 0, 5000, 'KEYS', ...keys);
  }
  for (const r of admin) await r.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', toId);
}

let beat = 0;
const item = (connectionId: string) => ({
  connectionId,
  timestamp: new Date(service.engine.clock.now()).toISOString(),
  succeeded: 1,
  failed: 0,
  heartbeatId: `${connectionId}-${++beat}`,
});

describe('a Redis Cluster slot moving under the service', () => {
  it('answers the heartbeats that meet the move 503, never 500, and applies each retry once', async () => {
    for (const [c, inst] of [
      ['c-a', 'inst-a'],
      ['c-b', 'inst-b'],
    ]) {
      expect(
        (
          await api('POST', '/v1/connections', {
            connectionId: c,
            installationId: inst,
            workspaceId: `ws-${inst}`,
          })
        ).status,
      ).toBe(201);
      await api('POST', `/v1/connections/${c}/handshake`, {
        protocolVersion: '1.2.0',
        negotiatedCapabilities: [],
      });
    }
    // Both connections' snapshots are cached: their next heartbeats are commits, sent together.
    const warm = await api('POST', '/v1/heartbeats', { items: [item('c-a'), item('c-b')] });
    expect(warm.body.accepted).toBe(2);

    await moveSlot(Number(await admin[0].call('CLUSTER', 'KEYSLOT', '{inst-a}')));

    let pending = [item('c-a'), item('c-b')];
    const seen: string[] = [];
    await until('every heartbeat to be applied after the move', async () => {
      const res = await api('POST', '/v1/heartbeats', { items: pending });
      const results = res.status === 200 ? res.body.results : pending.map(() => res.body);
      results.forEach((r: { status?: number; error?: { code: string } }, i: number) =>
        seen.push(`${pending[i]!.connectionId} ${r.status ?? res.status} ${r.error?.code ?? ''}`),
      );
      pending = pending.filter((_, i) => res.status !== 200 || results[i].status !== 200);
      return pending.length === 0;
    });
    expect(seen.filter((s) => !/ (200 |503 store-unavailable)$/.test(s))).toEqual([]);

    for (const c of ['c-a', 'c-b']) {
      const record = await api('GET', `/v1/connections/${c}`);
      expect(record.body.sampleSize, c).toBe(2);
    }
  });
});
