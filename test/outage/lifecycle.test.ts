/**
 * The process lifecycle as operators see it, on a real `node --import tsx src/main.ts` process:
 * SIGTERM drains (in-flight requests are answered, live streams get a final event, exit 0),
 * and a port already in use, a Redis that cannot be reached, a Redis Cluster node in REDIS_URL or a
 * Redis database the server refuses is one line and exit code 1.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OPERATOR } from '../helpers.ts';
import { OwnRedis, ROOT, ServiceProcess, freePort, until } from './support.ts';

let running: ServiceProcess[] = [];

afterEach(() => {
  for (const p of running) p.kill();
  running = [];
});

async function serve(env: Record<string, string> = {}) {
  const port = await freePort();
  const p = new ServiceProcess({ PORT: String(port), OPERATOR_TOKENS: OPERATOR, ...env });
  running.push(p);
  await p.listening();
  return { p, url: `http://127.0.0.1:${port}`, port };
}

/** Starts a service process that must refuse to start: exit code 1; its stderr lines. */
async function refusedStart(env: Record<string, string>): Promise<string[]> {
  const p = new ServiceProcess({
    PORT: String(await freePort()),
    OPERATOR_TOKENS: OPERATOR,
    ...env,
  });
  running.push(p);
  const outcome = await Promise.race([
    p.exited.then((code) => `exit ${String(code)}`),
    p.listening().then(() => 'listening'),
  ]);
  expect(outcome).toBe('exit 1');
  return p.stderr.trim().split('\n');
}

const auth = { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' };

describe('SIGTERM', () => {
  it('answers every in-flight request, ends live streams with a shutdown event, logs each step and exits 0', async () => {
    const { p, url } = await serve();
    await fetch(`${url}/v1/connections`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ connectionId: 'c1', installationId: 'inst-a', workspaceId: 'ws-1' }),
    });
    const stream = await fetch(`${url}/v1/installations/inst-a/toasts/stream`, {
      headers: { authorization: `Bearer ${OPERATOR}` },
    });
    expect(stream.status).toBe(200);
    const streamText = stream.text();

    // Eight batches of 1,000 items each keep the process busy for a while.
    const items = Array.from({ length: 1000 }, (_, i) => ({
      connectionId: i === 0 ? 'c1' : `unknown-${i}`,
      timestamp: new Date().toISOString(),
      succeeded: 1,
      failed: 0,
    }));
    const body = JSON.stringify({ items });
    // Each request on its own connection; the signal is sent once every request is connected
    // and fully written, so each is in the server's hands, not in the client's.
    const written: Promise<void>[] = [];
    const inFlight = Array.from({ length: 8 }, () => {
      let resolveWritten!: () => void;
      written.push(new Promise<void>((r) => (resolveWritten = r)));
      return new Promise<{ status: number; body: { results: unknown[] } }>((resolve) => {
        const req = request(
          `${url}/v1/heartbeats`,
          { method: 'POST', headers: auth, agent: false },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as never }),
            );
          },
        );
        req.on('finish', resolveWritten);
        req.on('error', () => resolve({ status: 0, body: { results: [] } }));
        req.end(body);
      });
    });
    await Promise.all(written);
    p.proc.kill('SIGTERM');

    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    for (const a of answers) expect(a.body.results).toHaveLength(1000);
    expect(await streamText).toContain('event: shutdown');
    expect(await p.exited).toBe(0);

    const messages = p.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { message: string }).message);
    expect(messages).toEqual(
      expect.arrayContaining([
        'shutdown: signal received',
        'shutdown: stopped accepting connections',
        'shutdown: closed live streams',
        'shutdown: in-flight requests finished',
        'shutdown: background loops stopped',
        'shutdown: running effects finished',
        'shutdown: done',
      ]),
    );
    // The last lines in order, none lost: the exit waits for the write in flight.
    expect(messages.slice(-3)).toEqual([
      'shutdown: running effects finished',
      'shutdown: store connection closed',
      'shutdown: done',
    ]);
    // Nobody is listening any more.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});

describe('SIGTERM and connections', () => {
  it('refuses new connections once it stops accepting, and still serves one accepted before the signal', async () => {
    const { p, url, port } = await serve();
    // A connection the server accepted but that has not sent its request yet. The server
    // accepts in order, so once a later connection's request is answered, it holds this one.
    const early = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => early.once('connect', () => resolve()));
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    p.proc.kill('SIGTERM');
    await until('the listener to close', () =>
      p.stdout.includes('shutdown: stopped accepting connections'),
    );
    // Refused, not accepted and then reset: a client or balancer can try another process.
    const refused = await new Promise<string>((resolve) => {
      const late = connect(port, '127.0.0.1');
      late.once('connect', () => resolve('connected'));
      late.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(refused).toBe('ECONNREFUSED');
    let answer = '';
    early.on('data', (c: Buffer) => (answer += c.toString()));
    const ended = new Promise<void>((resolve) => early.once('close', () => resolve()));
    early.end('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await ended;
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(await p.exited).toBe(0);
  });
});

describe('SIGTERM and a connection that never sends a request', () => {
  it('closes it after the first-request waits, instead of holding the shutdown to the grace cut', async () => {
    // A grace period longer than the test's timeout: only closing the silent connection lets
    // the process exit in time.
    const { p, port } = await serve({ SHUTDOWN_GRACE_MS: '120000' });
    const silent = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    silent.on('error', () => {});
    p.proc.kill('SIGTERM');
    await closed;
    expect(await p.exited).toBe(0);
    expect(p.stdout).not.toContain('grace period over');
  });
});

describe('npm start', () => {
  it('leaves no server listening after SIGTERM to npm (no orphaned node process)', async () => {
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    npm.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
    await until('npm start to listen', () => out.includes('"listening"'), 30_000);
    npm.kill('SIGTERM');
    await exited;
    expect(out).toContain('shutdown: done');
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});

describe('a port already in use', () => {
  it('is reported in one line on stderr with exit code 1', async () => {
    const { port } = await serve();
    const second = new ServiceProcess({ PORT: String(port), OPERATOR_TOKENS: OPERATOR });
    running.push(second);
    expect(await second.exited).toBe(1);
    const lines = second.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `port ${port} on 127.0.0.1 is already in use: stop the other process or set PORT`,
    );
  });
});

describe('a HOST that cannot be listened on', () => {
  it('stops the process with one line naming HOST', async () => {
    const lines = await refusedStart({ HOST: 'not a host', PORT: '45010' });
    expect(lines).toHaveLength(1);
    // The resolver's own words follow (ENOTFOUND, or EAI_AGAIN without DNS).
    expect(lines[0]).toMatch(/^cannot listen on HOST=not a host PORT=45010: getaddrinfo \w+/);
  });
});

describe('a Redis database the server does not have', () => {
  it('stops the process with one line naming REDIS_URL instead of running in database 0', async () => {
    const redis = new OwnRedis(await freePort(), ['--databases', '2']);
    await redis.start();
    try {
      expect(await refusedStart({ REDIS_URL: `${redis.url}/5` })).toEqual([
        'cannot start: REDIS_URL names database 5, which Redis refuses: ERR DB index is out of range',
      ]);
    } finally {
      await redis.destroy();
    }
  });
});

describe('a Redis that cannot be reached at start', () => {
  it('is one line on stderr naming REDIS_URL and the cause, with exit code 1', async () => {
    const nobody = await freePort();
    const p = new ServiceProcess({
      PORT: String(await freePort()),
      OPERATOR_TOKENS: OPERATOR,
      REDIS_URL: `redis://127.0.0.1:${nobody}`,
    });
    running.push(p);
    expect(await p.exited).toBe(1);
    expect(p.stderr.trim().split('\n')).toEqual([
      `cannot start: cannot connect to Redis (REDIS_URL): connect ECONNREFUSED 127.0.0.1:${nobody}`,
    ]);
  });
});

describe('a Redis that does not answer at start', () => {
  it('is one line on stderr naming REDIS_URL and the command timeout, with exit code 1', async () => {
    const frozen = new OwnRedis(await freePort());
    await frozen.start();
    frozen.freeze();
    try {
      const p = new ServiceProcess({
        PORT: String(await freePort()),
        OPERATOR_TOKENS: OPERATOR,
        REDIS_URL: frozen.url,
        REDIS_COMMAND_TIMEOUT_MS: '300',
      });
      running.push(p);
      expect(await p.exited).toBe(1);
      expect(p.stderr.trim().split('\n')).toEqual([
        'cannot start: cannot connect to Redis (REDIS_URL): no answer within REDIS_COMMAND_TIMEOUT_MS (300 ms)',
      ]);
    } finally {
      await frozen.destroy();
    }
  });
});

describe('REDIS_URL naming a node of a Redis Cluster', () => {
  it('stops the process with one line pointing to REDIS_CLUSTER_NODES, instead of MOVED answered 500', async () => {
    // Two masters, half of the slots each: each answers MOVED for the other half.
    const nodes = [
      new OwnRedis(await freePort(), ['--cluster-enabled', 'yes']),
      new OwnRedis(await freePort(), ['--cluster-enabled', 'yes']),
    ];
    const { Redis } = await import('ioredis');
    const admin: InstanceType<typeof Redis>[] = [];
    try {
      for (const n of nodes) {
        await n.start();
        admin.push(new Redis(n.port, '127.0.0.1'));
      }
      const [a, b] = admin as [InstanceType<typeof Redis>, InstanceType<typeof Redis>];
      await a.call('cluster', 'addslotsrange', '0', '8191');
      await b.call('cluster', 'addslotsrange', '8192', '16383');
      await a.call('cluster', 'meet', '127.0.0.1', String(nodes[1]!.port));
      await until('the two nodes to form a cluster', async () =>
        (await Promise.all(admin.map((r) => r.call('cluster', 'info')))).every((i) =>
          String(i).includes('cluster_state:ok'),
        ),
      );
      expect(await refusedStart({ REDIS_URL: nodes[0]!.url })).toEqual([
        'cannot start: REDIS_URL names a node of a Redis Cluster, which serves only its own slots: set REDIS_CLUSTER_NODES instead',
      ]);
    } finally {
      for (const r of admin) r.disconnect();
      for (const n of nodes) await n.destroy();
    }
  });
});
