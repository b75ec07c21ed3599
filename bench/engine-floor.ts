/**
 * The engine's own cost of one heartbeat, with no HTTP: what the single endpoint adds to the
 * baseline's request, measured instead of estimated.
 *
 * A single heartbeat request is the baseline's request (Express, body parsing, a zod parse, one
 * Redis call) with the baseline's `SET` replaced by the engine: the connection's chart step,
 * its workspace's step for the report, the atomic commit of both, the journal entry, the
 * acknowledgement. So, whatever the HTTP side costs,
 *
 *   single CPU per request >= baseline CPU per request - SET + engine CPU per heartbeat
 *
 * and the single endpoint can reach at most B / (B - s + e) of the baseline's rate, where B is
 * the baseline's CPU per request, s the `SET`'s and e the engine's, all on one process's CPU.
 *
 * This runs the real service in-process (`start()` from src/main.ts, its own key prefix on the
 * real Redis, no background loops), registers and handshakes 1,000 connections of one
 * installation in 20 workspaces as `bench/run.ts` does, then drives, with 50 calls in flight as
 * the single scenario's 50 clients do, first the baseline's `SET` on the service's Redis client,
 * then `ConnectionService.heartbeat` (what the route calls after parsing), in the same rotation
 * of ids. Each for a warm-up and a measured window; CPU is this process's user + system time
 * (V8's helper threads included, as the service figures include them). Run it with the service's
 * Node flags:
 *
 *   node --max-semi-space-size=64 --import tsx bench/engine-floor.ts
 *
 * The batch endpoint pays at least the engine's cost for each of its heartbeats, so in
 * heartbeats/s it reaches at most B / e of the baseline's req/s, with e measured as the batch
 * scenario loads the engine: 800 in flight, started 100 at a time (ENGINE_FLOOR_GROUP).
 *
 * `bench/run.ts` runs it twice after its baseline (50 in flight one by one; 800, 100 at a time)
 * and prints both bounds with the baseline's figure.
 * Env: REDIS_URL (default redis://127.0.0.1:6379), BENCH_SECONDS (default 5) per window,
 * ENGINE_FLOOR_WARMUP_SECONDS (default 2), ENGINE_FLOOR_GROUP (default 1: calls started together,
 * in one tick, as the items of one batch request are; 100 with ENGINE_FLOOR_IN_FLIGHT=800 is the
 * batch scenario's 8 requests of 100), ENGINE_FLOOR_IN_FLIGHT (default 50: fewer in flight
 * make smaller chains, as the single endpoint's requests do, and cost more per heartbeat),
 * ENGINE_FLOOR_WORKSPACES (default 20: the connections are spread over them round robin),
 * ENGINE_FLOOR_JSON=1 adds one line `engine-floor {...}` with the figures,
 * ENGINE_FLOOR_CPU_PROF=<file> writes a V8 CPU profile of the measured heartbeat window
 * (`npx tsx bench/profile-summary.ts <file>` summarises it), ENGINE_FLOOR_HEAP_PROF=<file> a
 * sampling heap profile of the same window, collected objects included (summarised by bytes by
 * the same command).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadConfig } from '../src/config.ts';
import type { Principal } from '../src/connections/connections.ts';
import { silentLogger } from '../src/logger.ts';
import { connectRedis, start } from '../src/main.ts';
import { RedisStore } from '../src/store/redis-store.ts';
import type { EngineFloor } from './report.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.ENGINE_FLOOR_WARMUP_SECONDS ?? 2);
const CONNECTIONS = 1000;
const IN_FLIGHT = Number(process.env.ENGINE_FLOOR_IN_FLIGHT ?? 50);
const GROUP = Number(process.env.ENGINE_FLOOR_GROUP ?? 1);
if (!Number.isInteger(IN_FLIGHT / GROUP) || IN_FLIGHT < GROUP || GROUP < 1) {
  throw new Error('ENGINE_FLOOR_IN_FLIGHT must be a multiple of ENGINE_FLOOR_GROUP');
}
const WORKSPACES = Number(process.env.ENGINE_FLOOR_WORKSPACES ?? 20);
const PROFILE = process.env.ENGINE_FLOOR_CPU_PROF;
const HEAP_PROFILE = process.env.ENGINE_FLOOR_HEAP_PROF;

/**
 * A V8 CPU profile of this process (the heartbeat window only), written to `cpuFile`; with
 * `heapFile`, the window's allocations too (every sampled object, those already collected
 * included: what the GC frames of the CPU profile pay for).
 */
async function startProfile(cpuFile: string | undefined, heapFile: string | undefined) {
  const session = new Session();
  session.connect();
  if (heapFile) {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 16_384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  if (cpuFile) {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  return {
    async stop() {
      if (cpuFile) {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(cpuFile, JSON.stringify(profile));
      }
      if (heapFile) {
        const { profile } = await session.post('HeapProfiler.stopSampling');
        writeFileSync(heapFile, JSON.stringify(profile));
      }
      session.disconnect();
    },
  };
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * Runs `op` with `IN_FLIGHT` calls in flight for `seconds`, started `GROUP` at a time (a group
 * waits for all its calls before the next starts); operations done and CPU µs each.
 */
async function closedLoop(seconds: number, op: (i: number) => Promise<unknown>) {
  let next = 0;
  let done = 0;
  const until = Date.now() + seconds * 1000;
  const cpu = cpuSeconds();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT / GROUP }, async () => {
      while (Date.now() < until) {
        await Promise.all(Array.from({ length: GROUP }, () => op(next++)));
        done += GROUP;
      }
    }),
  );
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  return { perSec: done / wallS, cpuUs: ((cpuSeconds() - cpu) * 1e6) / done };
}

async function main(): Promise<void> {
  const prefix = `bench:${randomBytes(6).toString('hex')}-engine`;
  const config = loadConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    API_TOKENS: '[]',
    // As bench/run.ts: 1,000 connections of one installation must stay below load shedding.
    CAPACITY_PER_WORKER: '4000',
  });
  // Our own client, so the keys can be deleted after the service has stopped.
  const redis = await connectRedis(config, silentLogger);
  const service = await start({ config, logger: silentLogger, redis, background: false });
  const operator: Principal = { installations: null, name: 'bench' };
  const ids = Array.from({ length: CONNECTIONS }, (_, i) => `bench-c${i}`);
  try {
    let registered = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (registered < ids.length) {
          const i = registered++;
          const connectionId = ids[i]!;
          await service.connections.register(operator, {
            connectionId,
            installationId: 'bench-inst',
            workspaceId: `bench-ws-${i % WORKSPACES}`,
          });
          await service.connections.command(operator, connectionId, {
            type: 'HANDSHAKE',
            protocolVersion: '1.2.0',
            negotiatedCapabilities: ['fs'],
          });
        }
      }),
    );

    // What the route hands over after parsing (bench/load.ts sends the same heartbeat).
    const body = () => ({ timestamp: Date.now(), succeeded: 1, failed: 0, latencyMs: [12] });
    // The baseline's Redis call: SET of the parsed heartbeat's JSON, on the service's client.
    const set = (i: number) =>
      redis.set(`${prefix}:baseline:${ids[i % CONNECTIONS]}`, JSON.stringify(body()));
    const heartbeat = (i: number) =>
      service.connections.heartbeat(operator, ids[i % CONNECTIONS]!, body());

    await closedLoop(WARMUP_SECONDS, set);
    const sets = await closedLoop(SECONDS, set);
    await closedLoop(WARMUP_SECONDS, heartbeat);
    const profiler = PROFILE || HEAP_PROFILE ? await startProfile(PROFILE, HEAP_PROFILE) : null;
    const beats = await closedLoop(SECONDS, heartbeat);
    if (profiler) await profiler.stop();
    const floor: EngineFloor = {
      setUs: sets.cpuUs,
      heartbeatUs: beats.cpuUs,
      heartbeatsPerSec: beats.perSec,
    };
    const line = (name: string, us: number, rate: number) =>
      console.log(
        `${name.padEnd(58)} ${us.toFixed(1).padStart(7)} µs CPU  (${Math.round(rate).toLocaleString('en-US')}/s)`,
      );
    console.log(
      `The engine without HTTP (${IN_FLIGHT} in flight${GROUP > 1 ? `, started ${GROUP} at a time` : ''}, ${CONNECTIONS} connections of one ` +
        `installation in ${WORKSPACES} workspaces, ${SECONDS} s each after ${WARMUP_SECONDS} s of warm-up)`,
    );
    line("the baseline's SET", floor.setUs, sets.perSec);
    line(
      'ConnectionService.heartbeat (steps, commit, journal, ack)',
      floor.heartbeatUs,
      beats.perSec,
    );
    console.log(
      GROUP === 1
        ? `the single endpoint reaches at most B / (B - ${floor.setUs.toFixed(1)} + ` +
            `${floor.heartbeatUs.toFixed(1)}) of a baseline that spends B µs per request`
        : `the batch endpoint reaches at most B / ${floor.heartbeatUs.toFixed(1)} of the ` +
            'rate of a baseline that spends B µs per request, in heartbeats/s',
    );
    if (process.env.ENGINE_FLOOR_JSON === '1')
      console.log(`engine-floor ${JSON.stringify({ ...floor, keyPrefix: prefix })}`);
  } finally {
    await service.stop();
    await new RedisStore(redis, prefix).deleteAllOwnKeys();
    redis.disconnect();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
