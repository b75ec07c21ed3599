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

  it('keeps a settings change made through another process a moment ago, and audits each change against what was there', async () => {
    const [a, b] = processes as [TestService, TestService];
    const settings = '/v1/installations/inst-a/settings';
    // a reads (and caches) the defaults; b changes one field; a changes another.
    expect((await a.api('GET', settings)).body.thresholds.minSuccessRate).toBe(0.99);
    const first = await b.api('PUT', settings, { thresholds: { minSuccessRate: 0.98 } });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const second = await a.api('PUT', settings, { rolloutMode: 'automatic' });
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.settings).toMatchObject({
      rolloutMode: 'automatic',
      thresholds: { minSuccessRate: 0.98 },
    });
    expect(second.body.change.changes).toEqual({
      rolloutMode: { from: 'opt-in', to: 'automatic' },
    });
    for (const p of processes) {
      expect((await p.api('GET', settings)).body).toMatchObject({
        rolloutMode: 'automatic',
        thresholds: { minSuccessRate: 0.98 },
      });
    }

    // Concurrent changes of the same field through every process: each is applied on top of
    // the one before it, so the audit's from/to form one chain and the last one stays.
    const rates = [0.95, 0.96, 0.97];
    const answers = await Promise.all(
      processes.map((p, i) => p.api('PUT', settings, { thresholds: { minSuccessRate: rates[i] } })),
    );
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    const log = (await a.api('GET', `${settings}/changes`)).body.items as {
      changes: Record<string, { from: unknown; to: unknown }>;
    }[];
    // Every change shares the manual clock's millisecond, so the log's order among them is
    // their ids'; the chain is followed by value instead: 0.99 -> 0.98 -> the three rates.
    const rateChanges = log.flatMap((c) => c.changes['thresholds.minSuccessRate'] ?? []);
    expect(rateChanges).toHaveLength(4);
    const next = new Map(rateChanges.map((c) => [c.from, c.to]));
    const chain: unknown[] = [0.99];
    while (next.has(chain.at(-1))) chain.push(next.get(chain.at(-1)));
    expect(chain).toHaveLength(5);
    expect(chain[1]).toBe(0.98);
    expect(new Set(chain.slice(2))).toEqual(new Set(rates));
    expect((await b.api('GET', settings)).body.thresholds.minSuccessRate).toBe(chain[4]);
  });
});
