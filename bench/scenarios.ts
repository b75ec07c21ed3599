/**
 * The service scenarios of `npm run bench`, each measured with {@link measure} and followed by
 * the lost-update check: autocannon on one process, round robin over two, registration, and
 * heartbeats over many registered connections with Redis bytes per connection.
 */
import type { PhaseProfiler } from './phase-profile.ts';
import type { Redis } from 'ioredis';
import { type LostUpdateCheck, checkLostUpdates } from './api.ts';
import {
  type Ledger,
  type LoadResult,
  type PhaseFigures,
  type Rotation,
  batchRequests,
  commandMix,
  measure,
  runPhase,
  singleRequests,
} from './load.ts';
import { type MemoryFigures, bytesPerConnection } from './memory.ts';
import { type Child, markServiceLog, processRssBytes, redisCounters, sleep } from './processes.ts';
import type { Scenario } from './report.ts';
import { roundRobinDriver } from './round-robin.ts';
import { type Client, type ConnectionSpec, checkByList, registerSpecs } from './scale.ts';

export const BATCH_SIZE = 100;
/** Clients of the single and the batch endpoint's phases. */
export const SINGLE_CLIENTS = 50;
export const BATCH_CLIENTS = 8;

export interface Bench {
  seconds: number;
  warmupSeconds: number;
  token: string;
  prefix: string;
  ledger: Ledger;
  /** Where commands and Redis CPU are counted (the masters, on a cluster). */
  redisNodes: Redis[];
  log: (message: string) => void;
}

const auth = (b: Bench) => ({ authorization: `Bearer ${b.token}` });

/** A server that died mid-phase invalidates everything after it: stop with its output. */
export function assertAlive(servers: readonly Child[]): void {
  for (const s of servers) {
    if (!s.alive()) throw new Error(`${s.name} exited during the benchmark:\n${s.output()}`);
  }
}

/** Items of 4xx inside batch answers (rejectedItems), for the wrong-refusal count. */
const refusedItems = (ledger: Ledger) =>
  [...ledger.rejectedItems].reduce((n, [status, c]) => n + (status < 500 ? c : 0), 0);

/** 4xx responses and 4xx batch items: a heartbeat for a connected connection refused. */
function refusals(figures: PhaseFigures, ledger: Ledger, itemsBefore: number): number {
  const responses = Object.entries(figures.statusCodes)
    .filter(([code]) => code.startsWith('4'))
    .reduce((n, [, c]) => n + c, 0);
  return responses + refusedItems(ledger) - itemsBefore;
}

export type Mode = { kind: 'split'; servers: Child[] } | { kind: 'round-robin'; servers: Child[] };

/**
 * The single endpoint (50 clients) then the batch endpoint (x100, 8 clients) on `servers`, each
 * followed by the lost-update check over `ids`. `split`: one autocannon instance per server
 * (each client stays on its server); `round-robin`: every request goes to the next server.
 */
export async function heartbeatScenarios(
  b: Bench,
  mode: Mode,
  keyPrefix: string,
  label: string,
  rotation: Rotation,
  check: () => Promise<LostUpdateCheck>,
  only?: 'single' | 'batch',
): Promise<Scenario[]> {
  const servers = mode.servers;
  const n = servers.length;
  const out: Scenario[] = [];
  const phases = [
    { key: 'single', what: 'single', clients: SINGLE_CLIENTS, lap: rotation.ids.length, size: 1 },
    {
      key: 'batch',
      what: `batch x${BATCH_SIZE}`,
      clients: BATCH_CLIENTS,
      lap: 0,
      size: BATCH_SIZE,
    },
  ].filter((p) => only === undefined || p.key === only);
  for (const p of phases) {
    const requests = () =>
      p.size === 1
        ? singleRequests(rotation, b.ledger)
        : batchRequests(rotation, b.ledger, BATCH_SIZE);
    const clientsLabel = mode.kind === 'split' && n > 1 ? `${n}x${p.clients / n}` : `${p.clients}`;
    const fullLabel = `${p.what}, ${label}, ${clientsLabel} clients`;
    b.log(`${fullLabel}: ${b.warmupSeconds} s warm-up + ${b.seconds} s`);
    const itemsBefore = refusedItems(b.ledger);
    const common = {
      warmupSeconds: b.warmupSeconds,
      seconds: b.seconds,
      ledger: b.ledger,
      serverPids: servers.map((s) => s.pid),
      redis: b.redisNodes,
    };
    let figures: PhaseFigures;
    if (mode.kind === 'round-robin') {
      const rr = roundRobinDriver({
        urls: servers.map((s) => s.url),
        clients: p.clients,
        headers: auth(b),
        requests: requests(),
        lap: p.size === 1 ? rotation.ids.length : Math.max(1, rotation.ids.length / BATCH_SIZE),
      });
      figures = await measure(common, rr.drive);
      rr.close();
    } else {
      figures = await runPhase({
        ...common,
        targets: servers.map((s) => ({ url: s.url, connections: p.clients / n })),
        headers: auth(b),
        requests,
      });
    }
    assertAlive(servers);
    // Requests cut off when the load stopped may still be committing; let them land.
    await sleep(1000);
    const c = await check();
    const wrong =
      mode.kind === 'round-robin' ? refusals(figures, b.ledger, itemsBefore) : undefined;
    b.log(
      `${fullLabel}: ${figures.reqPerSec.toFixed(0)} req/s, ${figures.heartbeatsPerSec.toFixed(0)} hb/s, p99 ${figures.p99Ms.toFixed(1)} ms, ${figures.serverCpuUsPerHeartbeat.toFixed(0)} µs CPU/hb, ${figures.redisCommandsPerHeartbeat.toFixed(2)} cmds/hb; lost updates: ${c.lost}${wrong === undefined ? '' : `, wrong refusals: ${wrong}`}`,
    );
    out.push({
      key: `${p.key}-${keyPrefix}`,
      label: fullLabel,
      figures,
      check: c,
      ...(wrong === undefined ? {} : { wrongRefusals: wrong }),
    });
  }
  return out;
}

/** The lost-update check through one server, one GET per connection. */
export const checkEach = (b: Bench, server: Child, ids: readonly string[]) => () =>
  checkLostUpdates(server.url, b.token, ids, b.ledger);

/**
 * Registration throughput: register + handshake every spec through `clients` (round robin
 * between them when there are several), 64 connections in flight. Reported like a load phase:
 * req/s = connections registered per second, CPU per connection in the µs column.
 */
export async function registrationScenario(
  b: Bench,
  key: string,
  label: string,
  servers: readonly Child[],
  clients: readonly Client[],
  specs: readonly ConnectionSpec[],
): Promise<Scenario> {
  b.log(`${label}: ${specs.length} connections, 64 in flight`);
  let failures = 0;
  const drive = async (): Promise<LoadResult> => {
    const started = process.hrtime.bigint();
    const r = await registerSpecs(clients, specs, 64);
    const durationS = Number(process.hrtime.bigint() - started) / 1e9;
    failures = r.failures;
    for (const s of r.samples) b.ledger.sample(s);
    return {
      durationS,
      requests: r.connections,
      reqPerSec: r.connections / durationS,
      statusCodes: {},
      latencies: [],
      non2xx: r.failures,
      errors: 0,
      timeouts: 0,
    };
  };
  const before = await redisCounters(b.redisNodes);
  const figures = await measure(
    {
      warmupSeconds: 0,
      seconds: 0,
      ledger: b.ledger,
      serverPids: servers.map((s) => s.pid),
      redis: b.redisNodes,
    },
    drive,
  );
  assertAlive(servers);
  const commands = commandMix(before, await redisCounters(b.redisNodes), figures.requests);
  figures.redisCommandsPerHeartbeat = commands.total;
  figures.redisScriptsPerHeartbeat = commands.scripts;
  figures.redisCommandMix = commands.mix;
  // measure() divides by heartbeats; a registration has none: per connection instead.
  const serverCpuS = (figures.cpu.servers.reduce((a, c) => a + c, 0) / 100) * figures.durationS;
  figures.serverCpuUsPerHeartbeat =
    figures.requests > 0 ? (serverCpuS * 1e6) / figures.requests : Number.NaN;
  figures.heartbeatsPerSec = Number.NaN;
  b.log(
    `${label}: ${figures.reqPerSec.toFixed(0)} connections/s, ${figures.serverCpuUsPerHeartbeat.toFixed(0)} µs CPU per connection, ${failures} failures`,
  );
  return { key, label, figures };
}

/** Heartbeats over every registered scale connection, then bytes per connection and the check. */
export async function scaleHeartbeats(
  b: Bench,
  size: number,
  server: Child,
  client: Client,
  rotation: Rotation,
  installations: readonly string[],
  /** Profiles the phase (warm-up and measurement, not the check after it) into `file`. */
  profile?: { profiler: PhaseProfiler; file: string },
): Promise<Scenario> {
  markServiceLog(`scale-${size} start`);
  await profile?.profiler.start();
  const [phase] = await heartbeatScenarios(
    b,
    { kind: 'split', servers: [server] },
    `scale-${size}`,
    `${size.toLocaleString('en-US')} connections, 1 process`,
    rotation,
    async () => {
      markServiceLog(`scale-${size} end`);
      if (profile) {
        await profile.profiler.stop(profile.file);
        b.log(`${size} connections: CPU profile of the phase in ${profile.file}`);
      }
      return checkByList(client, installations, new Set(rotation.ids), b.ledger);
    },
    'batch',
  );
  // The process's own memory with every connection's snapshot cached (SNAPSHOT_CACHE_SIZE).
  const serviceRss = processRssBytes(server.pid);
  const memory: MemoryFigures = await bytesPerConnection(b.redisNodes, b.prefix, size);
  b.log(
    `${size} connections: service RSS ${Math.round(serviceRss / 1e6)} MB; ${Math.round(memory.bytesPerConnection)} Redis bytes per connection (${memory.keys} keys): ${memory.groups
      .slice(0, 5)
      .map((g) => `${g.group} ${g.bytesPerConnection}`)
      .join(', ')}`,
  );
  return { ...phase!, memory, serviceRss };
}
