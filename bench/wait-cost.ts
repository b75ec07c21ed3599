/**
 * The cost of REDIS_WAIT_REPLICAS (issue 8, section 6): the same load against the real service
 * with REDIS_WAIT_REPLICAS=0 and =1, on a Redis master of our own with one replica in sync.
 *
 *   1. master + replica (redis-server, no persistence, own ports and dirs under /tmp)
 *   2. per setting: a fresh service process and key prefix, 200 connections registered and
 *      handshaken, then the single endpoint (50 clients) and the batch endpoint (100 items per
 *      request, 8 clients), each after a short warm-up
 *   3. a markdown table (also written to bench/wait-cost-results.md) and the relative cost
 *   4. cleanup, also on failure: service SIGTERM, replica and master stopped by PID, dirs removed
 *
 * The replica is attached in both runs, so replication traffic is the same: only the WAIT differs.
 * It measures and never asserts. Env: BENCH_SECONDS (default 5) per measured phase.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import prettier from 'prettier';
import { registerAll } from './api.ts';
import { waitFor } from './chaos/redis.ts';
import {
  Ledger,
  type PhaseFigures,
  Rotation,
  batchRequests,
  runPhase,
  singleRequests,
} from './load.ts';
import { type Child, ROOT, freePort, sleep, startChild } from './processes.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
if (!(SECONDS > 0)) throw new Error('BENCH_SECONDS must be a positive number of seconds');
const WARMUP_SECONDS = 1;
const CONNECTIONS = 200;
const BATCH_SIZE = 100;
const WAIT_TIMEOUT_MS = 500;
const SETTINGS = [0, 1] as const;
/** CPU (% of one core) used by other processes above which the figures get a caution. */
const BUSY_OTHER_CPU = 25;

const token = `wait-bench-operator-${randomBytes(12).toString('hex')}`;
const log = (message: string) => process.stdout.write(`[wait-cost] ${message}\n`);

/**
 * A throwaway redis-server without persistence, optionally a replica of another. Not the chaos
 * RedisServer: that one runs with AOF + fsync always, and has no replica option.
 */
class LocalRedis {
  #log = '';
  readonly #exited: Promise<void>;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly proc: ChildProcess,
  ) {
    this.#exited = new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });
  }

  static async start(name: string, replicaOf?: number): Promise<LocalRedis> {
    const dir = await mkdtemp(join(tmpdir(), `wait-cost-${name}-`));
    const port = await freePort();
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      ...(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]),
    ];
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new LocalRedis(port, dir, proc);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`redis-server ${name} on ${port} not ready in 20 s:\n${server.#log}`)),
          20_000,
        );
        const onData = (chunk: Buffer) => {
          server.#log = (server.#log + chunk.toString('utf8')).slice(-5000);
          if (server.#log.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        };
        proc.stdout.on('data', onData);
        proc.stderr.on('data', onData);
        proc.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        proc.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`redis-server ${name} on ${port} exited (${code}):\n${server.#log}`));
        });
      });
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** SIGTERM to our own PID, SIGKILL after 5 s; then the data dir is removed. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null && this.proc.pid) {
      this.proc.kill('SIGTERM');
      await Promise.race([this.#exited, sleep(5000)]);
      if (this.proc.exitCode === null && this.proc.signalCode === null) {
        this.proc.kill('SIGKILL');
        await this.#exited;
      }
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A field of INFO output, as a string. */
const infoField = (info: string, name: string) =>
  new RegExp(`^${name}:(\\S+)`, 'm').exec(info.replace(/\r/g, ''))?.[1];

/** Calls of WAIT the master has processed so far. */
async function waitCalls(redis: Redis): Promise<number> {
  const stats = await redis.info('commandstats');
  return Number(/^cmdstat_wait:calls=(\d+)/m.exec(stats.replace(/\r/g, ''))?.[1] ?? 0);
}

interface Row {
  setting: number;
  endpoint: 'single' | 'batch';
  clients: number;
  figures: PhaseFigures;
  waits: number;
}

/** One setting: fresh service + prefix, register, then the two load phases. */
async function measure(
  setting: number,
  master: LocalRedis,
  redis: Redis,
  children: Child[],
): Promise<Row[]> {
  const prefix = `waitbench:${randomBytes(6).toString('hex')}:w${setting}`;
  const service = await startChild(`service-wait${setting}`, 'src/main.ts', {
    REDIS_URL: master.url,
    KEY_PREFIX: prefix,
    OPERATOR_TOKENS: token,
    // A stray API_TOKENS in the caller's environment must not change who may call what.
    API_TOKENS: '[]',
    LOG_LEVEL: 'warn',
    REDIS_WAIT_REPLICAS: String(setting),
    REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS),
  });
  children.push(service);
  const ids = Array.from({ length: CONNECTIONS }, (_, i) => `wait-c${i}`);
  const t0 = Date.now();
  await registerAll(service.url, token, ids);
  log(
    `WAIT ${setting}: ${service.url} (pid ${service.pid}), ${CONNECTIONS} connections registered in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );

  const ledger = new Ledger();
  const rotation = new Rotation(ids);
  const rows: Row[] = [];
  const phases = [
    { endpoint: 'single', clients: 50, requests: () => singleRequests(rotation, ledger) },
    {
      endpoint: 'batch',
      clients: 8,
      requests: () => batchRequests(rotation, ledger, BATCH_SIZE),
    },
  ] as const;
  for (const phase of phases) {
    // Counted over warm-up + measurement; only used to show WAIT is (not) sent.
    const waitsBefore = await waitCalls(redis);
    const figures = await runPhase({
      targets: [{ url: service.url, connections: phase.clients }],
      warmupSeconds: WARMUP_SECONDS,
      seconds: SECONDS,
      headers: { authorization: `Bearer ${token}` },
      requests: phase.requests,
      ledger,
      serverPids: [service.pid],
      redis,
    });
    const waits = (await waitCalls(redis)) - waitsBefore;
    if (!service.alive()) throw new Error(`${service.name} exited:\n${service.output()}`);
    log(
      `WAIT ${setting} ${phase.endpoint}: ${figures.reqPerSec.toFixed(0)} req/s, ${figures.heartbeatsPerSec.toFixed(0)} heartbeats/s, p99 ${figures.p99Ms} ms, non-2xx ${figures.non2xx}, WAIT calls ${waits}`,
    );
    rows.push({ setting, endpoint: phase.endpoint, clients: phase.clients, figures, waits });
  }
  if (ledger.errorSamples.length > 0) {
    log(`WAIT ${setting} error samples:\n  ${ledger.errorSamples.join('\n  ')}`);
  }
  await service.stop();
  return rows;
}

function revision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
    const dirty = git('status', '--porcelain', '--', 'src', 'machines').trim() !== '';
    return `${git('rev-parse', '--short', 'HEAD').trim()}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const signed = (n: number, digits = 1) => `${n >= 0 ? '+' : ''}${fmt(n, digits)}`;

function render(rows: Row[], measured: string): string {
  const label = (r: Row) =>
    r.endpoint === 'single'
      ? `single, ${r.clients} clients`
      : `batch ×${BATCH_SIZE}, ${r.clients} clients`;
  const lines = [
    '## Cost of REDIS_WAIT_REPLICAS',
    '',
    `${new Date().toISOString()}, revision ${measured}: one service process on a local Redis master with one replica in sync (no persistence), ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s per phase, REDIS_WAIT_TIMEOUT_MS ${WAIT_TIMEOUT_MS}, ${cpus().length} CPU(s) shared by service, Redis master, replica and load generator. Run with \`npm run bench:wait\` (\`BENCH_SECONDS\` scales the phases).`,
    '',
    '| setting | endpoint | req/s | heartbeats/s | p50 (ms) | p99 (ms) | non-2xx | WAIT calls |',
    '| --- | --- | --: | --: | --: | --: | --: | --: |',
    ...rows.map(
      (r) =>
        `| REDIS_WAIT_REPLICAS=${r.setting} | ${label(r)} | ${fmt(r.figures.reqPerSec)} | ${fmt(r.figures.heartbeatsPerSec)} | ${fmt(r.figures.p50Ms, 1)} | ${fmt(r.figures.p99Ms, 1)} | ${r.figures.non2xx} | ${r.waits} |`,
    ),
    '',
    '| endpoint | req/s, WAIT 1 / WAIT 0 | heartbeats/s, WAIT 1 / WAIT 0 | p99, WAIT 1 − WAIT 0 (ms) |',
    '| --- | --: | --: | --: |',
  ];
  for (const endpoint of ['single', 'batch'] as const) {
    const w0 = rows.find((r) => r.setting === 0 && r.endpoint === endpoint);
    const w1 = rows.find((r) => r.setting === 1 && r.endpoint === endpoint);
    if (!w0 || !w1) continue;
    lines.push(
      `| ${label(w1)} | ${fmt(w1.figures.reqPerSec / w0.figures.reqPerSec, 2)} | ${fmt(w1.figures.heartbeatsPerSec / w0.figures.heartbeatsPerSec, 2)} | ${signed(w1.figures.p99Ms - w0.figures.p99Ms)} |`,
    );
  }
  lines.push(
    '',
    '- **req/s**: completed requests per second; **heartbeats/s**: heartbeats answered 2xx (a batch request carries 100). Latencies are of 2xx answers.',
    '- **WAIT calls**: WAIT commands the master processed during the phase (warm-up included); 0 with the setting at 0.',
    '- **non-2xx**: with WAIT 1, a commit the replica does not confirm within REDIS_WAIT_TIMEOUT_MS answers 503 replication-timeout.',
    `- CPU (% of one core) during each phase, service / master / load generator / anything else on the machine: ${rows.map((r) => `WAIT ${r.setting} ${r.endpoint} ${fmt(r.figures.cpu.servers[0] ?? Number.NaN)} / ${fmt(r.figures.cpu.redis)} / ${fmt(r.figures.cpu.loadGenerator)} / ${fmt(r.figures.cpu.other)}`).join('; ')}.`,
  );
  const busiest = Math.max(...rows.map((r) => r.figures.cpu.other));
  if (busiest > BUSY_OTHER_CPU) {
    lines.push(
      `- **Caution**: other processes used up to ${fmt(busiest)}% of a core during a phase (more than ${BUSY_OTHER_CPU}%): the machine was shared, and the difference between the settings may be noise. Run again on a quiet machine.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const children: Child[] = [];
  const servers: LocalRedis[] = [];
  let redis: Redis | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await Promise.allSettled(children.map((c) => c.stop()));
      redis?.disconnect();
      // Replica first, so it does not log reconnect attempts to a stopped master.
      await Promise.allSettled([...servers].reverse().map((s) => s.stop()));
      log(
        `cleanup: stopped ${children.length} service process(es) and ${servers.length} redis-server(s), removed their dirs`,
      );
    })());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    const measured = revision();
    const master = await LocalRedis.start('master');
    servers.push(master);
    const replica = await LocalRedis.start('replica', master.port);
    servers.push(replica);
    redis = new Redis(master.url, { maxRetriesPerRequest: 2 });
    const replicaClient = new Redis(replica.url, { maxRetriesPerRequest: 2 });
    try {
      await waitFor('the replica to be in sync', 20_000, async () => {
        const info = await replicaClient.info('replication');
        return infoField(info, 'master_link_status') === 'up' ? true : undefined;
      });
    } finally {
      replicaClient.disconnect();
    }
    const slaves = infoField(await redis.info('replication'), 'connected_slaves');
    log(
      `master ${master.port} (pid ${master.pid}), replica ${replica.port} (pid ${replica.pid}) in sync; connected_slaves:${slaves}`,
    );

    const rows: Row[] = [];
    for (const setting of SETTINGS) rows.push(...(await measure(setting, master, redis, children)));
    await cleanup();

    const file = `${ROOT}bench/wait-cost-results.md`;
    // Formatted like the rest of the repo so `prettier --check .` stays green.
    const markdown = await prettier.format(render(rows, measured), {
      ...(await prettier.resolveConfig(file)),
      parser: 'markdown',
    });
    console.log(`\n${markdown}`);
    await writeFile(file, markdown);
    console.log(`Written to ${file}`);
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
