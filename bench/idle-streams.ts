/**
 * What idle live-stream subscribers cost writes: registrations per second with no subscriber,
 * then with SUBSCRIBERS (default 1,000) SSE clients open on the installation being written
 * (half on its transition stream, which receives every registration's transition, half on its
 * toast stream), and the slowdown. The target is under 10 %. SUBSCRIBE_TO=other-inst puts them
 * on an installation that is not written.
 *
 * The service runs in this process on real Redis (REDIS_URL, default 127.0.0.1:6379) under its
 * own key prefix, deleted at the end; the subscribers run in a child process, as remote browsers
 * would, so that reading their streams does not take this event loop. Each phase is run ROUNDS
 * times (default 5), alternating, and the median is reported.
 *
 *   npx tsx bench/idle-streams.ts            # REQUESTS=1000 SUBSCRIBERS=1000 ROUNDS=5
 */
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Agent } from 'node:http';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { start } from '../src/main.ts';
import { RedisStore } from '../src/store/redis-store.ts';

const TOKEN = 'bench-idle-streams-operator-token';
const INSTALLATION = 'bench-inst';
const env = (name: string, def: number) => Number(process.env[name] ?? def);

async function main(): Promise<void> {
  const requests = env('REQUESTS', 1000);
  const subscriberCount = env('SUBSCRIBERS', 1000);
  const rounds = env('ROUNDS', 5);
  const concurrency = env('CONCURRENCY', 32);
  /** The installation the subscribers watch: the one written (default), or another one. */
  const subscribeTo = process.env.SUBSCRIBE_TO ?? INSTALLATION;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `bench:idle-streams:${randomBytes(4).toString('hex')}`;
  const redis = new Redis(redisUrl, { enableAutoPipelining: true });
  const service = await start({
    config: loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      REDIS_URL: redisUrl,
      KEY_PREFIX: prefix,
      OPERATOR_TOKENS: TOKEN,
      LOG_LEVEL: 'silent',
      // Registrations must not be shed: capacity is not what this measures.
      CAPACITY_PER_WORKER: '10000000',
      STREAMS_PER_TOKEN: String(subscriberCount + 10),
      STREAMS_PER_INSTALLATION: String(subscriberCount + 10),
    }),
    redis,
    logger: silentLogger,
    background: false,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let seq = 0;
  /**
   * Registers `n` new connections, `concurrency` at a time; returns registrations per second and
   * this process's CPU time per registration (less disturbed by other load on the machine).
   */
  const measure = async (n: number): Promise<Sample> => {
    let next = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < n) {
          const id = `c${seq++}`;
          const body = JSON.stringify({
            connectionId: id,
            installationId: INSTALLATION,
            // Ten per workspace: a workspace's evaluation reads its connections, so a fixed set
            // of workspaces would make every round slower than the one before.
            workspaceId: `ws-${Math.floor(seq / 10)}`,
          });
          const status = await post(service.url, agent, '/v1/connections', body);
          if (status !== 201) throw new Error(`registration ${id} answered ${status}`);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return { perSecond: n / seconds, cpuUs: (used.user + used.system) / n };
  };

  // The subscribers stand for remote browsers: they run at the lowest priority so that their
  // reading does not take the CPU this process measures with (the machine has 2 cores).
  const child = fork(
    new URL(import.meta.url).pathname,
    ['subscribers', service.url, String(subscriberCount), subscribeTo],
    {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  if (child.pid) setPriority(child.pid, 19);
  const fromChild = (type: string) =>
    new Promise<void>((resolve) =>
      child.on('message', (m: { type: string }) => m.type === type && resolve()),
    );
  try {
    await measure(requests); // warm-up: JIT, caches
    const without: Sample[] = [];
    const withSubs: Sample[] = [];
    const ready = fromChild('ready');
    for (let r = 0; r < rounds; r++) {
      if (r > 0) {
        child.send({ type: 'close' });
        await fromChild('closed');
        while (service.modules.streams.size > 0) await new Promise((res) => setTimeout(res, 10));
      }
      without.push(await measure(requests));
      console.error(`round ${r + 1}: 0 subscribers ${show(without.at(-1)!)}`);
      child.send({ type: 'open' });
      if (r === 0) await ready;
      else await fromChild('ready');
      if (service.modules.streams.size !== subscriberCount) {
        throw new Error(
          `expected ${subscriberCount} open streams, found ${service.modules.streams.size}`,
        );
      }
      withSubs.push(await measure(requests));
      console.error(`round ${r + 1}: ${subscriberCount} subscribers ${show(withSubs.at(-1)!)}`);
    }
    const rate = (xs: Sample[]) => median(xs.map((x) => x.perSecond));
    const cpu = (xs: Sample[]) => median(xs.map((x) => x.cpuUs));
    const slower = (a: number, b: number) => `${(((a - b) / a) * 100).toFixed(1)} %`;
    console.log(
      `${requests} registrations per round, ${concurrency} in flight, median of ${rounds} rounds, subscribers on ${subscribeTo} (Redis ${redisUrl})`,
    );
    for (const [label, xs] of [
      ['0 subscribers', without],
      [`${subscriberCount} subscribers`, withSubs],
    ] as const) {
      console.log(
        `  ${label.padEnd(17)} ${rate(xs).toFixed(0).padStart(5)} registrations/s  ${(cpu(xs) / 1000).toFixed(2)} ms CPU each   (${xs.map(show).join('; ')})`,
      );
    }
    console.log(
      `  slowdown: ${slower(rate(without), rate(withSubs))} in registrations/s, ${slower(1 / cpu(without), 1 / cpu(withSubs))} in CPU per registration (target < 10 %)`,
    );
  } finally {
    child.kill();
    agent.destroy();
    await service.stop();
    await new RedisStore(redis, prefix).deleteAllOwnKeys();
    redis.disconnect();
  }
}

interface Sample {
  perSecond: number;
  /** Microseconds of this process's CPU per registration. */
  cpuUs: number;
}

const show = (x: Sample) => `${x.perSecond.toFixed(0)}/s ${(x.cpuUs / 1000).toFixed(2)} ms`;
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

function post(baseUrl: string, agent: Agent, path: string, body: string): Promise<number> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path,
        agent,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The child: opens `n` streams on command, reads and discards what they send, closes them. */
function subscribers(baseUrl: string, n: number, installationId: string): void {
  const url = new URL(baseUrl);
  const open = new Set<ReturnType<typeof request>>();
  const openOne = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const kind = i % 2 ? 'toasts' : 'transitions';
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: `/v1/installations/${installationId}/${kind}/stream`,
          headers: { authorization: `Bearer ${TOKEN}` },
          agent: false,
        },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`stream ${i} answered ${res.statusCode}`));
          res.on('data', () => undefined);
          res.on('error', () => undefined);
          resolve();
        },
      );
      req.on('error', () => undefined);
      open.add(req);
      req.end();
    });
  const openAll = async () => {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => openOne(i + k)));
    }
    process.send!({ type: 'ready' });
  };
  process.on('message', (m: { type: string }) => {
    if (m.type === 'open') {
      void openAll();
    } else if (m.type === 'close') {
      for (const req of open) req.destroy();
      open.clear();
      process.send!({ type: 'closed' });
    }
  });
}

if (process.argv[2] === 'subscribers') {
  subscribers(process.argv[3]!, Number(process.argv[4]), process.argv[5]!);
} else {
  await main();
}
