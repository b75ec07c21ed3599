/**
 * `npm run bench`: the real service against a bare baseline, on one Redis and on a Cluster.
 *
 *   1. baseline: bare Express + zod + one SET, 50 clients (autocannon); then, with `single` in
 *      BENCH_ONLY, the engine without HTTP (bench/engine-floor.ts, a child process) with 50 and
 *      with 800 heartbeats in flight, and the bounds they put on the single and batch endpoints
 *   2. one process: registration of 1,000 connections (one installation), then the single
 *      endpoint (50 clients) and the batch endpoint (x100, 8 clients)
 *   3. two processes behind a round robin: 200 more connections registered on one process and
 *      handshaken on the other, then single and batch with every request sent to the next
 *      process; heartbeats refused with a 4xx are counted (wrong refusals, must be 0)
 *   4. Redis Cluster, 3 masters (scripts/redis-cluster.sh, ports BENCH_CLUSTER_PORT..+5): 2,000
 *      connections in 20 installations, one process, single and batch
 *   5. scale: one process, connections registered in steps up to each of BENCH_SCALE, and at
 *      each size the batch endpoint over all of them plus Redis bytes per connection
 *   6. after every heartbeat scenario the lost-update check (ledger vs sampleSize read back)
 *   7. the figures table + target verdicts, also written to bench/results.json
 *   8. cleanup: children stopped, only keys under this run's prefixes deleted, the cluster
 *      stopped if this run started it
 *
 * It measures and never asserts: the exit code is 0 unless the benchmark itself failed.
 *
 * Env: BENCH_SECONDS (default 5) per measured phase; BENCH_SCALE (default 1000,10000,100000);
 * BENCH_ONLY (e.g. `single,rr`: a subset of single|rr|cluster|scale; the baseline always runs);
 * BENCH_CLUSTER_PORT (default 7400; `0` skips the cluster); REDIS_URL (default
 * redis://127.0.0.1:6379); BENCH_CPU_PROF=<dir> writes V8 CPU profiles: one process per
 * one-process phase (single, batch; started after the registration) and the round-robin pair,
 * and one per scale phase (`scale-<size>.cpuprofile`); with BENCH_HEAP_PROF=1 the scale phases'
 * allocations as well (`scale-<size>.heapprofile`);
 * BENCH_NODE_ARGS: extra Node flags for the service processes (they always get
 *   `--max-semi-space-size=64`, as `npm start` does); BENCH_SERVICE_LOG=<file> appends what the
 *   service processes print to it, each line prefixed with the process's name.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { type Cluster, Redis } from 'ioredis';
import { dataNodes } from '../src/store/client.ts';
import { RedisStore } from '../src/store/redis-store.ts';
import { Ledger, Rotation, baselineRequests, runPhase } from './load.ts';
import { PhaseProfiler } from './phase-profile.ts';
import { type Child, ROOT, revision, startChild, startCluster } from './processes.ts';
import {
  type EngineFloor,
  type Scenario,
  batchBound,
  evaluateTargets,
  render,
  singleBound,
  writeResults,
} from './report.ts';
import { Client, scaleSpec } from './scale.ts';
import {
  BATCH_CLIENTS,
  BATCH_SIZE,
  type Bench,
  SINGLE_CLIENTS,
  assertAlive,
  checkEach,
  heartbeatScenarios,
  registrationScenario,
  scaleHeartbeats,
} from './scenarios.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
if (!(SECONDS > 0)) throw new Error('BENCH_SECONDS must be a positive number of seconds');
const WARMUP_SECONDS = Math.min(2, SECONDS);
const BASELINE_SECONDS = Math.max(1, Math.round(SECONDS * 0.8));
const CONNECTIONS = 1000;
const SCALE = (process.env.BENCH_SCALE ?? '1000,10000,100000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0)
  .sort((a, b) => a - b);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'single,rr,cluster,scale').split(','));
const CLUSTER_PORT = Number(process.env.BENCH_CLUSTER_PORT ?? 7400);
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROF;
/** The scale process's inspector port when BENCH_CPU_PROF is set (127.0.0.1 only). */
const SCALE_INSPECT_PORT = Number(process.env.BENCH_INSPECT_PORT ?? 9331);
/**
 * Node flags of the service processes: the ones `npm start` and `npm run start:prod` use, plus
 * BENCH_NODE_ARGS (e.g. `--max-semi-space-size=16` to compare against V8's default).
 */
const NODE_ARGS = [
  '--max-semi-space-size=64',
  ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
];

const prefix = `bench:${randomBytes(6).toString('hex')}`;
/** The scale scenario's own prefix, so its bytes per connection count only its keys. */
const scalePrefix = `${prefix}-scale`;
const token = `bench-operator-${randomBytes(12).toString('hex')}`;
const ids = Array.from({ length: CONNECTIONS }, (_, i) => `bench-c${i}`);

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
const children: Child[] = [];
const clients: Client[] = [];
let cluster: { client: Cluster; startedHere: boolean } | null = null;

const log = (message: string) => process.stdout.write(`[bench] ${message}\n`);

/**
 * Runs bench/engine-floor.ts in a child process with the service's Node flags, `inFlight`
 * heartbeats in flight, and reads its figures.
 */
function measureEngineFloor(inFlight: number, group: number): EngineFloor {
  log(
    `engine without HTTP (bench/engine-floor.ts): ${inFlight} in flight, ${group} at a time, ` +
      'over 1,000 connections',
  );
  const out = execFileSync(
    process.execPath,
    [...NODE_ARGS, '--import', 'tsx', 'bench/engine-floor.ts'],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        REDIS_URL,
        BENCH_SECONDS: String(SECONDS),
        ENGINE_FLOOR_JSON: '1',
        // The configuration the bounds are stated for, whatever the caller's environment says.
        ENGINE_FLOOR_IN_FLIGHT: String(inFlight),
        ENGINE_FLOOR_GROUP: String(group),
        ENGINE_FLOOR_WORKSPACES: '20',
      },
    },
  );
  const json = /^engine-floor (.*)$/m.exec(out)?.[1];
  if (!json) throw new Error(`bench/engine-floor.ts printed no figures:\n${out}`);
  process.stdout.write(out.replace(/^engine-floor .*\n?/m, ''));
  return JSON.parse(json) as EngineFloor;
}

const f1 = (n: number) => n.toFixed(1);

async function spawnService(
  name: string,
  env: Record<string, string> = {},
  profile = false,
  extraNodeArgs: string[] = [],
): Promise<{ child: Child; client: Client }> {
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
      ...env,
    },
    [
      ...NODE_ARGS,
      ...(profile && CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`] : []),
      ...extraNodeArgs,
    ],
  );
  children.push(child);
  if (profile && CPU_PROFILE_DIR)
    log(`${name} (pid ${child.pid}) writes its CPU profile to ${CPU_PROFILE_DIR}`);
  const client = new Client(child.url, token, 64);
  clients.push(client);
  return { child, client };
}

const clusterScript = (...args: string[]) =>
  execFileSync('scripts/redis-cluster.sh', args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CLUSTER_DIR: '/tmp/bench-redis-cluster' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of clients) c.close();
    await Promise.allSettled(children.map((c) => c.stop()));
    // SCAN MATCH <prefix>:* + DEL: only this run's keys, never anything else in the Redis.
    let deleted = 0;
    for (const [client, p] of [
      [redis, prefix],
      [redis, scalePrefix],
      ...(cluster ? [[cluster.client, prefix] as const] : []),
    ] as const) {
      deleted += await new RedisStore(client, p).deleteAllOwnKeys().catch((error) => {
        log(`cleanup could not delete keys under ${p}:* (${String(error)})`);
        return 0;
      });
    }
    log(`cleanup: stopped ${children.length} child process(es), deleted ${deleted} keys`);
    redis.disconnect();
    if (cluster) {
      cluster.client.disconnect();
      if (cluster.startedHere) {
        try {
          clusterScript('stop', String(CLUSTER_PORT));
          log('cleanup: stopped the Redis Cluster this run started');
        } catch (error) {
          log(`cleanup: could not stop the cluster (${String(error)})`);
        }
      }
    }
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
  const scenarios: Scenario[] = [];
  const measured = revision();
  const bench: Bench = {
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    token,
    prefix,
    ledger,
    redisNodes: [redis],
    log,
  };
  log(
    `code ${measured}; prefix ${prefix}; ${WARMUP_SECONDS} s warm-up per phase, baseline ${BASELINE_SECONDS} s, service phases ${SECONDS} s; ${cpus().length} CPU(s); scenarios ${[...ONLY].join(',')}; scale ${SCALE.join(',')}`,
  );

  // 1. Baseline.
  // With the service's Node flags: the comparison is of the code, not of the heap settings.
  const base = await startChild(
    'baseline',
    'bench/baseline-server.ts',
    { REDIS_URL, KEY_PREFIX: prefix, LOG_LEVEL: 'silent' },
    NODE_ARGS,
  );
  children.push(base);
  log(`baseline: 50 clients against ${base.url}`);
  // Its own ledger: baseline writes are not engine state and must not enter the check.
  const baselineLedger = new Ledger();
  const baselineFigures = await runPhase({
    targets: [{ url: base.url, connections: 50 }],
    warmupSeconds: WARMUP_SECONDS,
    seconds: BASELINE_SECONDS,
    headers: {},
    requests: () => baselineRequests(new Rotation(ids), baselineLedger),
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

  // 1b. The engine without HTTP: what the single endpoint adds to the baseline's request.
  // With the single scenario's 50 calls in flight, then the batch scenario's 8 x 100.
  const baselineUs = baselineFigures.serverCpuUsPerHeartbeat;
  const singleFloor = ONLY.has('single') ? measureEngineFloor(SINGLE_CLIENTS, 1) : null;
  const engineFloor = singleFloor && {
    ...singleFloor,
    singleBound: singleBound(baselineUs, singleFloor),
  };
  const batchFloor = ONLY.has('single')
    ? measureEngineFloor(BATCH_CLIENTS * BATCH_SIZE, BATCH_SIZE)
    : null;
  const engineFloorBatch = batchFloor && {
    ...batchFloor,
    batchBound: batchBound(baselineUs, batchFloor),
  };

  const specs = ids.map((connectionId, i) => ({
    connectionId,
    installationId: 'bench-inst',
    workspaceId: `bench-ws-${i % 20}`,
  }));
  // 2. One process, one installation.
  if (ONLY.has('single') || ONLY.has('rr')) {
    const one = await spawnService('service-1');
    scenarios.push(
      await registrationScenario(
        bench,
        'register-1proc',
        'registration, 1 installation, 1 process',
        [one.child],
        [one.client],
        specs,
      ),
    );
    if (ONLY.has('single') && CPU_PROFILE_DIR) {
      // One profiled process per phase, started after the registration, so each profile
      // holds one endpoint's load and nothing else.
      await one.child.stop();
      for (const phase of ['single', 'batch'] as const) {
        const svc = await spawnService(`service-1-${phase}`, {}, true);
        scenarios.push(
          ...(await heartbeatScenarios(
            bench,
            { kind: 'split', servers: [svc.child] },
            '1proc',
            '1 process',
            new Rotation(ids),
            checkEach(bench, svc.child, ids),
            phase,
          )),
        );
        await svc.child.stop();
      }
    } else if (ONLY.has('single')) {
      scenarios.push(
        ...(await heartbeatScenarios(
          bench,
          { kind: 'split', servers: [one.child] },
          '1proc',
          '1 process',
          new Rotation(ids),
          checkEach(bench, one.child, ids),
        )),
      );
    }
    await one.child.stop();
  }

  // 3. Two processes behind a round robin, same Redis and prefix.
  if (ONLY.has('rr')) {
    const two = await Promise.all([
      spawnService('service-2a', {}, true),
      spawnService('service-2b', {}, true),
    ]);
    const extra = Array.from({ length: 200 }, (_, i) => ({
      connectionId: `bench-r${i}`,
      installationId: 'bench-inst',
      workspaceId: `bench-ws-${i % 20}`,
    }));
    scenarios.push(
      await registrationScenario(
        bench,
        'register-rr',
        'registration, round robin over 2 processes',
        two.map((t) => t.child),
        two.map((t) => t.client),
        extra,
      ),
    );
    const all = [...ids, ...extra.map((e) => e.connectionId)];
    scenarios.push(
      ...(await heartbeatScenarios(
        bench,
        { kind: 'round-robin', servers: two.map((t) => t.child) },
        'rr',
        'round robin over 2 processes',
        new Rotation(all),
        checkEach(bench, two[0].child, all),
      )),
    );
    await Promise.all(two.map((t) => t.child.stop()));
  }

  // 4. Redis Cluster.
  if (ONLY.has('cluster') && CLUSTER_PORT > 0) {
    const { seeds, client, running } = await startCluster(clusterScript, CLUSTER_PORT);
    cluster = { client, startedHere: !running };
    const masters = dataNodes(client);
    log(`cluster ${seeds} (${masters.length} masters${running ? ', already running' : ''})`);
    const onCluster: Bench = { ...bench, redisNodes: masters };
    const svc = await spawnService('service-cluster', { REDIS_CLUSTER_NODES: seeds });
    const clusterSpecs = Array.from({ length: 2000 }, (_, i) => scaleSpec(i, 'k', 100));
    scenarios.push(
      await registrationScenario(
        onCluster,
        'register-cluster',
        'registration, 20 installations, cluster',
        [svc.child],
        [svc.client],
        clusterSpecs,
      ),
    );
    const clusterIds = clusterSpecs.map((s) => s.connectionId);
    scenarios.push(
      ...(await heartbeatScenarios(
        onCluster,
        { kind: 'split', servers: [svc.child] },
        'cluster',
        'Redis Cluster 3 masters, 1 process',
        new Rotation(clusterIds),
        checkEach(onCluster, svc.child, clusterIds),
      )),
    );
    await svc.child.stop();
  }

  // 5. Scale.
  if (ONLY.has('scale') && SCALE.length > 0) {
    const svc = await spawnService(
      'service-scale',
      {
        KEY_PREFIX: scalePrefix,
        // Registration of the largest size takes minutes: no connection may time out meanwhile.
        HEARTBEAT_TIMEOUT_MS: String(3_600_000),
      },
      false,
      // Profiled per phase through the inspector: one process holds every size in turn.
      CPU_PROFILE_DIR ? [`--inspect=127.0.0.1:${SCALE_INSPECT_PORT}`] : [],
    );
    const profiler = CPU_PROFILE_DIR
      ? await PhaseProfiler.attach(SCALE_INSPECT_PORT, process.env.BENCH_HEAP_PROF === '1')
      : null;
    const onScale: Bench = { ...bench, prefix: scalePrefix };
    let registered = 0;
    for (const size of SCALE) {
      const step = Array.from({ length: size - registered }, (_, k) => scaleSpec(registered + k));
      scenarios.push(
        await registrationScenario(
          onScale,
          `register-scale-${size}`,
          `registration, ${registered.toLocaleString('en-US')} -> ${size.toLocaleString('en-US')} connections`,
          [svc.child],
          [svc.client],
          step,
        ),
      );
      registered = size;
      const scaleIds = Array.from({ length: size }, (_, i) => scaleSpec(i).connectionId);
      const installations = [
        ...new Set(Array.from({ length: size }, (_, i) => scaleSpec(i).installationId)),
      ];
      scenarios.push(
        await scaleHeartbeats(
          onScale,
          size,
          svc.child,
          svc.client,
          new Rotation(scaleIds),
          installations,
          profiler
            ? { profiler, file: join(CPU_PROFILE_DIR!, `scale-${size}.cpuprofile`) }
            : undefined,
        ),
      );
    }
    profiler?.close();
    await svc.child.stop();
  }

  // 6. Report.
  const targets = evaluateTargets(baseline.figures, scenarios);
  const errorSamples = [...baselineLedger.errorSamples, ...ledger.errorSamples];
  await cleanup();

  console.log(`\n${render(baseline, scenarios, targets, cpus().length)}`);
  if (engineFloor) {
    console.log(
      `\nThe single endpoint's bound from the engine without HTTP (bench/engine-floor.ts): the ` +
        `baseline spends ${f1(baseline.figures.serverCpuUsPerHeartbeat)} µs per request, ` +
        `${f1(engineFloor.setUs)} of them its SET; the engine ${f1(engineFloor.heartbeatUs)} µs ` +
        `per heartbeat: at most ${engineFloor.singleBound.toFixed(2)}x the baseline at the ` +
        `baseline's CPU, even with an HTTP side as light as the baseline's.`,
    );
  }
  if (engineFloorBatch) {
    console.log(
      `The batch endpoint from the same engine with ${BATCH_CLIENTS * BATCH_SIZE} heartbeats ` +
        `in flight, started ${BATCH_SIZE} at a time as its ${BATCH_CLIENTS} clients send them: ` +
        `${f1(engineFloorBatch.heartbeatUs)} µs of CPU per heartbeat, where 5x the baseline at ` +
        `the baseline's CPU allows ${f1(baseline.figures.serverCpuUsPerHeartbeat / 5)} for ` +
        `everything: the engine alone allows ${engineFloorBatch.batchBound.toFixed(2)}x at that ` +
        `CPU (a process that uses more of the 2 cores than the baseline did, V8's helper ` +
        `threads, can measure above it).`,
    );
  }
  if (ledger.rejectedItems.size > 0) {
    console.log(
      `\nBatch items rejected inside 200 responses: ${[...ledger.rejectedItems].map(([s, n]) => `${s}=${n}`).join(' ')}`,
    );
  }
  if (errorSamples.length > 0) {
    console.log('\nError samples (first distinct bodies):');
    for (const e of errorSamples) console.log(`  ${e}`);
  }

  const file = await writeResults({
    revision: measured,
    benchSeconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    baselineSeconds: BASELINE_SECONDS,
    connections: CONNECTIONS,
    batchSize: BATCH_SIZE,
    scale: SCALE,
    baseline,
    scenarios,
    targets,
    rejectedItems: ledger.rejectedItems,
    errorSamples,
    engineFloor,
    engineFloorBatch,
  });
  console.log(`\nFigures written to ${file}`);
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
