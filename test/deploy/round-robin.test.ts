/**
 * Several processes behind a round-robin load balancer, on one Redis (project "single") or on a
 * Redis Cluster (project "cluster"): every request goes to the next process in turn, so each
 * process serves actors whose snapshots it cached before another process moved them on.
 * Each "process" is a full service with its own Redis connection, snapshot cache and engine.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { T0, type TestService, checkInvariants, hb, startService } from '../helpers.ts';

let processes: TestService[] = [];
let turn = 0;

beforeEach(async () => {
  const first = await startService();
  processes = [first];
  for (let i = 1; i < 3; i++) processes.push(await startService({ KEY_PREFIX: first.prefix }));
  turn = 0;
});

afterEach(async () => {
  for (const p of processes.slice(1)) await p.stopKeepingKeys();
  await processes[0]!.close();
});

/** Sends the request to the next process, like a round-robin load balancer. */
async function rr(method: string, path: string, body?: unknown) {
  const p = processes[turn++ % processes.length]!;
  const res = await p.api(method, path, body);
  checkInvariants(res);
  return res;
}

async function settleAll() {
  for (const p of processes) {
    await p.engine.idle();
  }
}

describe('round-robin over three processes', () => {
  it('accepts a heartbeat on the process that cached the connection as connecting before another handshook it', async () => {
    const [a, b] = processes as [TestService, TestService];
    const reg = await a.api('POST', '/v1/connections', {
      connectionId: 'c',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    expect(reg.status).toBe(201);
    const hs = await b.api('POST', '/v1/connections/c/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    expect(hs.body.status).toBe('connected');
    const beat = await a.api('POST', '/v1/connections/c/heartbeats', hb(T0, 5));
    expect(beat.status, JSON.stringify(beat.body)).toBe(200);
    expect(beat.body.status).toBe('connected');
  });

  it('still refuses, after checking Redis, what the current state does not accept', async () => {
    const [a, b] = processes as [TestService, TestService];
    await a.api('POST', '/v1/connections', {
      connectionId: 'c',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    await b.api('POST', '/v1/connections/c/rollback', { reason: 'test' });
    // a cached "connecting", where RECOVERED is refused as well: the refusal names the real state.
    const res = await a.api('POST', '/v1/connections/c/recovered', {});
    expect(res.status).toBe(409);
    expect(res.body.error.details.state).toBe('rolled-back');
  });

  it('applies interleaved registrations, handshakes and heartbeats with no wrong refusal and exact counts', async () => {
    // 10 ids over 3 processes: each connection is served by every process in turn.
    const ids = Array.from({ length: 10 }, (_, i) => `c${i}`);
    const statuses: number[] = [];
    for (const id of ids) {
      const res = await rr('POST', '/v1/connections', {
        connectionId: id,
        installationId: 'inst-a',
        workspaceId: `ws-${Number(id.slice(1)) % 3}`,
      });
      statuses.push(res.status);
    }
    for (const id of ids) {
      const res = await rr('POST', `/v1/connections/${id}/handshake`, {
        protocolVersion: '1.2.0',
        negotiatedCapabilities: [],
      });
      statuses.push(res.status);
    }
    const rounds = 8;
    for (let round = 0; round < rounds; round++) {
      const answers = await Promise.all(
        ids.map((id) =>
          rr('POST', `/v1/connections/${id}/heartbeats`, {
            ...hb(T0 + round * 1000, 1),
            heartbeatId: `${id}-${round}`,
          }),
        ),
      );
      statuses.push(...answers.map((r) => r.status));
    }
    expect(statuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
    for (const id of ids) {
      const record = await rr('GET', `/v1/connections/${id}`);
      expect(record.body.sampleSize, id).toBe(rounds);
      expect(record.body.status).toBe('connected');
    }
  });

  it('lets a process that cached a workspace on ACP serve a migration after another process rolled it back', async () => {
    const [a, b] = processes as [TestService, TestService];
    await a.api('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    const migrate = await a.api('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
    });
    expect(migrate.status).toBe(201);
    await a.api('POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    await settleAll();
    expect((await a.api('GET', '/v1/workspaces/ws-1')).body.state).toBe('acp');

    const rollback = await b.api('POST', '/v1/workspaces/ws-1/rollback', { reason: 'test' });
    expect(rollback.status, JSON.stringify(rollback.body)).toBe(201);
    await settleAll();

    // Redis says HTTP: a migration to ACP is served, not refused "in state acp".
    const again = await a.api('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
    });
    expect(again.status, JSON.stringify(again.body)).toBe(201);
  });
});
