/**
 * `npm run bench`: baseline vs the real service, one and two server processes on one Redis.
 *
 *   1. baseline: bare Express + zod + one SET, 50 clients
 *   2. service (1 process): register + handshake 1,000 connections
 *   3. single endpoint, 50 clients          4. batch endpoint (100 per request), 8 clients
 *   5. lost-update check after each load phase (ledger vs sampleSize read back)
 *   6. 3-5 again on two service processes sharing the Redis and key prefix
 *   7. figures table + target verdicts, also written to bench/results.json
 *   8. cleanup: children stopped, only keys under this run's prefix deleted
 *
 * It measures and never asserts: the exit code is 0 unless the benchmark itself failed.
 *
 * Env: BENCH_SECONDS (default 10) scales every load phase; REDIS_URL (default
 * redis://127.0.0.1:6379); BENCH_CPU_PROF=<dir> writes V8 CPU profiles of the service processes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { Redis } from 'ioredis';
import prettier from 'prettier';
import { RedisStore } from '../src/store/redis-store.ts';
import { type LostUpdateCheck, checkLostUpdates, registerAll } from './api.ts';
import {
  Ledger,
  type PhaseFigures,
  Rotation,
  type Target,
  baselineRequests,
  batchRequests,
  runPhase,
  singleRequests,
} from './load.ts';
import { type Child, ROOT, sleep, startChild } from './processes.ts';
import { type Scenario, evaluateTargets, render } from './report.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
if (!(SECONDS > 0)) throw new Error('BENCH_SECONDS must be a positive number of seconds');
const WARMUP_SECONDS = Math.min(2, SECONDS);
const BASELINE_SECONDS = Math.max(1, Math.round(SECONDS * 0.8));
const CONNECTIONS = 1000;
const BATCH_SIZE = 100;
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROF;

const prefix = `bench:${randomBytes(6).toString('hex')}`;
const token = `bench-operator-${randomBytes(12).toString('hex')}`;
const ids = Array.from({ length: CONNECTIONS }, (_, i) => `bench-c${i}`);
const auth = { authorization: `Bearer ${token}` };

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
const children: Child[] = [];

const log = (message: string) => process.stdout.write(`[bench] ${message}\n`);

/** Which code was measured: the commit, plus a marker when src/ or machines/ has local edits. */
function revision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
    const dirty = git('status', '--porcelain', '--', 'src', 'machines').trim() !== '';
    return `${git('rev-parse', '--short', 'HEAD').trim()}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

async function spawnService(name: string): Promise<Child> {
  const child = await startChild(
    name,
    'src/main.ts',
    {
      REDIS_URL,
      KEY_PREFIX: prefix,
      LOG_LEVEL: 'silent',
      OPERATOR_TOKENS: token,
      // A stray API_TOKENS in the caller's environment must not change who may call what.
      API_TOKENS: '[]',
      // 1,000 connections on one installation would otherwise sit above the 95% shedding
      // threshold of the default 1,000-connection capacity: size the worker for the load.
      CAPACITY_PER_WORKER: '4000',
    },
    CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`] : [],
  );
  children.push(child);
  return child;
}

/** A server that died mid-phase invalidates everything after it: stop with its output. */
function assertAlive(servers: Child[]): void {
  for (const s of servers) {
    if (!s.alive()) throw new Error(`${s.name} exited during the benchmark:\n${s.output()}`);
  }
}

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled(children.map((c) => c.stop()));
    // SCAN MATCH <prefix>:* + DEL: only this run's keys, never anything else in the Redis.
    const deleted = await new RedisStore(redis, prefix).deleteAllOwnKeys().catch((error) => {
      log(`cleanup could not delete keys under ${prefix}:* (${String(error)})`);
      return 0;
    });
    log(
      `cleanup: stopped ${children.length} child process(es), deleted ${deleted} keys under ${prefix}:*`,
    );
    redis.disconnect();
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const ledger = new Ledger();
  const rotation = new Rotation(ids);
  const scenarios: Scenario[] = [];
  const measured = revision();
  log(
    `code ${measured}; prefix ${prefix}; ${WARMUP_SECONDS} s warm-up per phase, baseline ${BASELINE_SECONDS} s, service phases ${SECONDS} s; ${cpus().length} CPU(s)`,
  );

  // 1. Baseline.
  const base = await startChild('baseline', 'bench/baseline-server.ts', {
    REDIS_URL,
    KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
  });
  children.push(base);
  log(`baseline: 50 clients against ${base.url}`);
  // Its own ledger: baseline writes are not engine state and must not enter the check.
  const baselineLedger = new Ledger();
  const baselineFigures = await runPhase({
    targets: [{ url: base.url, connections: 50 }],
    warmupSeconds: WARMUP_SECONDS,
    seconds: BASELINE_SECONDS,
    headers: {},
    requests: () => baselineRequests(rotation, baselineLedger),
    ledger: baselineLedger,
    serverPids: [base.pid],
    redis,
  });
  assertAlive([base]);
  await base.stop();
  const baseline: Scenario = {
    key: 'baseline',
    label: 'baseline (express+zod+SET), 50 clients',
    figures: baselineFigures,
  };

  // 2-5. One service process.
  const one = await spawnService('service-1');
  log(`service-1 up at ${one.url}; registering and handshaking ${CONNECTIONS} connections`);
  const t0 = Date.now();
  await registerAll(one.url, token, ids);
  log(`registered ${CONNECTIONS} connections in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  scenarios.push(...(await serviceScenarios([one], '1 process', ledger, rotation)));
  await one.stop();

  // 6. Two service processes, same Redis, same prefix, connections already registered.
  const two = await Promise.all([spawnService('service-2a'), spawnService('service-2b')]);
  log(`service-2a ${two[0].url} and service-2b ${two[1].url} up`);
  scenarios.push(...(await serviceScenarios(two, '2 processes', ledger, rotation)));

  // 7. Report.
  const targets = evaluateTargets(baseline.figures, scenarios);
  const errorSamples = [...baselineLedger.errorSamples, ...ledger.errorSamples];
  await cleanup();

  console.log(`\n${render(baseline, scenarios, targets, cpus().length)}`);
  if (ledger.rejectedItems.size > 0) {
    console.log(
      `\nBatch items rejected inside 200 responses: ${[...ledger.rejectedItems].map(([s, n]) => `${s}=${n}`).join(' ')}`,
    );
  }
  if (errorSamples.length > 0) {
    console.log('\nError samples (first distinct bodies):');
    for (const e of errorSamples) console.log(`  ${e}`);
  }

  const results = {
    finishedAt: new Date().toISOString(),
    revision: measured,
    node: process.version,
    cpus: cpus().length,
    benchSeconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    baselineSeconds: BASELINE_SECONDS,
    connections: CONNECTIONS,
    batchSize: BATCH_SIZE,
    scenarios: Object.fromEntries(
      [baseline, ...scenarios].map((s) => [
        s.key,
        {
          label: s.label,
          ...s.figures,
          reqPerSecVsBaseline: s.figures.reqPerSec / baseline.figures.reqPerSec,
          heartbeatsPerSecVsBaseline: s.figures.heartbeatsPerSec / baseline.figures.reqPerSec,
          lostUpdateCheck: s.check ?? null,
        },
      ]),
    ),
    targets,
    rejectedBatchItems: Object.fromEntries(ledger.rejectedItems),
    errorSamples,
  };
  const file = `${ROOT}bench/results.json`;
  // Formatted like the rest of the repo so `prettier --check .` stays green.
  const json = await prettier.format(JSON.stringify(results), {
    ...(await prettier.resolveConfig(file)),
    parser: 'json',
  });
  await writeFile(file, json);
  console.log(`\nFigures written to ${file}`);
}

/** Single endpoint, then batch endpoint, each followed by the lost-update check. */
async function serviceScenarios(
  servers: Child[],
  label: string,
  ledger: Ledger,
  rotation: Rotation,
): Promise<Scenario[]> {
  const key = label.startsWith('1') ? '1proc' : '2proc';
  const n = servers.length;
  const serverPids = servers.map((s) => s.pid);
  const out: Scenario[] = [];
  // Two autocannon instances (one per server) split the clients; they share the rotation, so
  // the same connection is written through both processes and their caches go stale: the
  // cross-process compare-and-set path is exercised, not avoided.
  const split = (clients: number): Target[] =>
    servers.map((s) => ({ url: s.url, connections: clients / n }));

  const phases = [
    {
      key: `single-${key}`,
      label: `single, ${label}, ${n === 1 ? '50' : '2x25'} clients`,
      clients: 50,
      requests: () => singleRequests(rotation, ledger),
    },
    {
      key: `batch-${key}`,
      label: `batch x${BATCH_SIZE}, ${label}, ${n === 1 ? '8' : '2x4'} clients`,
      clients: 8,
      requests: () => batchRequests(rotation, ledger, BATCH_SIZE),
    },
  ];
  for (const p of phases) {
    log(`${p.label}: ${WARMUP_SECONDS} s warm-up + ${SECONDS} s`);
    const figures: PhaseFigures = await runPhase({
      targets: split(p.clients),
      warmupSeconds: WARMUP_SECONDS,
      seconds: SECONDS,
      headers: auth,
      requests: p.requests,
      ledger,
      serverPids,
      redis,
    });
    assertAlive(servers);
    // Requests cut off when autocannon stopped may still be committing; let them land.
    await sleep(1000);
    const check: LostUpdateCheck = await checkLostUpdates(servers[0]!.url, token, ids, ledger);
    log(
      `${p.label}: ${figures.reqPerSec.toFixed(0)} req/s, p99 ${figures.p99Ms.toFixed(1)} ms; expected ${check.expected}, actual ${check.actual}, lost updates: ${check.lost}`,
    );
    out.push({ key: p.key, label: p.label, figures, check });
  }
  return out;
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  console.error(
    `[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  await cleanup();
}
