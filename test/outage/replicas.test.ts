/**
 * REDIS_WAIT_REPLICAS: a commit is answered only once a replica has it. The test runs its own
 * master and replica and freezes the replica to show the refusal and the safe retry.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { type Logger, createLogger, silentLogger } from '../../src/logger.ts';
import { type Service, start } from '../../src/main.ts';
import { OPERATOR } from '../helpers.ts';
import { OwnRedis, freePort, until } from './support.ts';

let master: OwnRedis;
let replica: OwnRedis;
let service: Service;

beforeAll(async () => {
  master = new OwnRedis(await freePort());
  await master.start();
  replica = new OwnRedis(await freePort(), ['--replicaof', '127.0.0.1', String(master.port)]);
  await replica.start();
  const probe = new Redis(replica.port, '127.0.0.1');
  await until('the replica to sync', async () =>
    (await probe.info('replication')).includes('master_link_status:up'),
  );
  probe.disconnect();
  service = await startProcess();
});

/** A service process on the test's master, waiting for one replica; all share the keys. */
const startProcess = (replicas = '1', logger: Logger = silentLogger) =>
  start({
    config: loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      REDIS_URL: master.url,
      REDIS_WAIT_REPLICAS: replicas,
      REDIS_WAIT_TIMEOUT_MS: '300',
      KEY_PREFIX: 'wait',
      OPERATOR_TOKENS: OPERATOR,
    }),
    clock: new ManualClock(Date.now()),
    logger,
    background: false,
  });

afterAll(async () => {
  replica?.thaw();
  await service?.stop();
  await replica?.destroy();
  await master?.destroy();
});

async function call(method: string, path: string, body?: unknown, to: Service = service) {
  const res = await fetch(`${to.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${OPERATOR}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const heartbeat = (heartbeatId: string, to: Service = service) =>
  call(
    'POST',
    '/v1/connections/c1/heartbeats',
    {
      timestamp: new Date(service.engine.clock.now()).toISOString(),
      succeeded: 1,
      failed: 0,
      heartbeatId,
    },
    to,
  );

describe('REDIS_WAIT_REPLICAS=1', () => {
  it('answers a commit once the replica has it', async () => {
    const reg = await call('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    expect(reg.status).toBe(201);
    await call('POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    expect((await heartbeat('hb-1')).status).toBe(200);
  });

  it('answers 503 replication-timeout while the replica does not confirm, and a retry with the same id counts once', async () => {
    replica.freeze();
    let refused;
    try {
      refused = await heartbeat('hb-2');
    } finally {
      replica.thaw();
    }
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('replication-timeout');
    const retry = await heartbeat('hb-2');
    expect(retry.status).toBe(200);
    expect(retry.body.duplicate).toBe(true);
    expect((await call('GET', '/v1/connections/c1')).body.sampleSize).toBe(2);
  });

  it('names a heartbeat written during the outage a duplicate once the replica is back, however many were refused', async () => {
    replica.freeze();
    const refused: { status: number; body: any }[] = [];
    try {
      // Each is written on the master and refused; the next one starts from a snapshot this
      // process never saw confirmed.
      for (const id of ['hb-3', 'hb-4', 'hb-4']) refused.push(await heartbeat(id));
    } finally {
      replica.thaw();
    }
    expect(refused.map((r) => [r.status, r.body.error.code])).toEqual([
      [503, 'replication-timeout'],
      [503, 'replication-timeout'],
      [503, 'replication-timeout'],
    ]);
    for (const id of ['hb-3', 'hb-4']) {
      const retry = await heartbeat(id);
      expect(retry.status).toBe(200);
      expect(retry.body.duplicate, id).toBe(true);
    }
    expect((await call('GET', '/v1/connections/c1')).body.sampleSize).toBe(4);
  });

  it('does not refuse for the replica a commit that did not happen: a stale process retries it first', async () => {
    // A second process on the same keys moves c1 on, so this one's cached snapshot is stale.
    const other = await startProcess();
    try {
      expect((await heartbeat('hb-5')).status).toBe(200);
      expect((await heartbeat('hb-6', other)).status).toBe(200);
    } finally {
      await other.stop();
    }
    replica.freeze();
    let refused;
    try {
      // This process's snapshot of c1 is a version behind: its first commit conflicts, writes
      // nothing, and is retried on the current snapshot before the replica is waited for.
      refused = await heartbeat('hb-7');
    } finally {
      replica.thaw();
    }
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('replication-timeout');
    // It is on the master, as the refusal says: the retry is a duplicate.
    const retry = await heartbeat('hb-7');
    expect(retry.status).toBe(200);
    expect(retry.body.duplicate).toBe(true);
    expect((await call('GET', '/v1/connections/c1')).body.sampleSize).toBe(7);
  });
});

describe('REDIS_WAIT_REPLICAS above what the master has', () => {
  it('is named in a warning at start (master, replicas, wanted), and only then', async () => {
    const lines: string[] = [];
    const warned = () =>
      lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => String(l.message).startsWith('REDIS_WAIT_REPLICAS asks for more replicas'));
    const two = await startProcess(
      '2',
      createLogger('info', (l) => lines.push(l)),
    );
    await two.stop();
    expect(warned()).toEqual([
      expect.objectContaining({
        level: 'warn',
        master: `127.0.0.1:${master.port}`,
        replicas: 1,
        wanted: 2,
      }),
    ]);
    lines.length = 0;
    const one = await startProcess(
      '1',
      createLogger('info', (l) => lines.push(l)),
    );
    await one.stop();
    expect(lines.length).toBeGreaterThan(0);
    expect(warned()).toEqual([]);
  });
});
