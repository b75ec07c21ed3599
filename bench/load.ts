/**
 * Load generation with autocannon: rotating heartbeat requests, a ledger of what each
 * connection was sent and had acknowledged (for the lost-update check), and a phase runner that
 * drives one or more autocannon instances at once and merges their figures.
 */
import autocannon from 'autocannon';
import { type Redis } from 'ioredis';
import {
  type RedisCounters,
  machineBusySeconds,
  processCpuSeconds,
  redisCounters,
  selfCpuSeconds,
} from './processes.ts';

/** Hands out connection ids round-robin; shared by concurrent instances so they overlap. */
export class Rotation {
  #next = 0;
  constructor(readonly ids: readonly string[]) {}
  take(): string {
    return this.ids[this.#next++ % this.ids.length]!;
  }
}

/**
 * Per connection: heartbeats put into a request (`sent`, an upper bound: autocannon builds the
 * next request before it knows the run is over) and heartbeats acknowledged with 2xx (`acked`).
 * The service must hold at least `acked` and at most `sent` samples per connection.
 */
export class Ledger {
  readonly sent = new Map<string, number>();
  readonly acked = new Map<string, number>();
  /** Heartbeats acknowledged so far, over all phases; phases take deltas. */
  ackedTotal = 0;
  /** Batch items answered with an error inside a 200 response, by item status. */
  readonly rejectedItems = new Map<number, number>();
  /** The first few distinct error bodies, to show what went wrong. */
  readonly errorSamples: string[] = [];

  markSent(id: string): void {
    this.sent.set(id, (this.sent.get(id) ?? 0) + 1);
  }

  markAcked(id: string): void {
    this.acked.set(id, (this.acked.get(id) ?? 0) + 1);
    this.ackedTotal++;
  }

  markRejected(status: number, body: string): void {
    this.rejectedItems.set(status, (this.rejectedItems.get(status) ?? 0) + 1);
    this.sample(`${status} ${body}`);
  }

  sample(text: string): void {
    const short = text.slice(0, 300);
    if (this.errorSamples.length < 10 && !this.errorSamples.includes(short)) {
      this.errorSamples.push(short);
    }
  }
}

const is2xx = (status: number) => status >= 200 && status < 300;

/** ISO 8601 UTC with Z, taken when the request is built, so never in the future. */
function heartbeat() {
  return { timestamp: new Date().toISOString(), succeeded: 1, failed: 0, latencyMs: [12] };
}

/** POST /v1/connections/:id/heartbeats, one heartbeat per request, next id each time. */
export function singleRequests(rotation: Rotation, ledger: Ledger): autocannon.Request[] {
  return [
    {
      method: 'POST',
      setupRequest: (req) => {
        const id = rotation.take();
        ledger.markSent(id);
        return {
          ...req,
          path: `/v1/connections/${id}/heartbeats`,
          body: JSON.stringify(heartbeat()),
        };
      },
      // autocannon resets the per-client context after every request when the list has one
      // entry, so the id comes back from the acknowledgement body instead.
      onResponse: (status, body) => {
        if (is2xx(status))
          ledger.markAcked((JSON.parse(body) as { connectionId: string }).connectionId);
        else ledger.sample(`${status} ${body}`);
      },
    },
  ];
}

interface BatchReply {
  results: { connectionId: string | null; ok: boolean; status: number; error?: unknown }[];
}

/** POST /v1/heartbeats with `size` items for the next `size` ids; counts items one by one. */
export function batchRequests(
  rotation: Rotation,
  ledger: Ledger,
  size: number,
): autocannon.Request[] {
  return [
    {
      method: 'POST',
      path: '/v1/heartbeats',
      setupRequest: (req) => {
        const items = [];
        for (let i = 0; i < size; i++) {
          const connectionId = rotation.take();
          ledger.markSent(connectionId);
          items.push({ connectionId, ...heartbeat() });
        }
        return { ...req, body: JSON.stringify({ items }) };
      },
      onResponse: (status, body) => {
        if (!is2xx(status)) {
          ledger.sample(`${status} ${body}`);
          return;
        }
        // A 200 batch can still reject single items; only accepted items count as sent.
        for (const r of (JSON.parse(body) as BatchReply).results) {
          if (r.ok && r.connectionId) ledger.markAcked(r.connectionId);
          else ledger.markRejected(r.status, JSON.stringify(r.error));
        }
      },
    },
  ];
}

/** The baseline takes the single-endpoint request shape; it keeps no ledger. */
export function baselineRequests(rotation: Rotation, ledger: Ledger): autocannon.Request[] {
  return [
    {
      method: 'POST',
      setupRequest: (req) => ({
        ...req,
        path: `/v1/connections/${rotation.take()}/heartbeats`,
        body: JSON.stringify(heartbeat()),
      }),
      onResponse: (status, body) => {
        if (is2xx(status)) ledger.ackedTotal++;
        else ledger.sample(`${status} ${body}`);
      },
    },
  ];
}

export interface Target {
  url: string;
  connections: number;
}

interface Run {
  result: autocannon.Result;
  /** 2xx response times (ms), recorded here so concurrent instances merge exactly. */
  latencies: number[];
}

function fire(
  target: Target,
  seconds: number,
  headers: Record<string, string>,
  requests: autocannon.Request[],
): Promise<Run> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        connections: target.connections,
        duration: seconds,
        pipelining: 1,
        headers: { 'content-type': 'application/json', ...headers },
        requests,
      },
      (error: unknown, result) => {
        if (error) reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
        else resolve({ result, latencies });
      },
    );
    instance.on('response', (_client, status, _bytes, responseTime) => {
      if (is2xx(status)) latencies.push(responseTime);
    });
  });
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface CpuShare {
  /** CPU used during the measured window as % of one core. */
  loadGenerator: number;
  servers: number[];
  /** Server-wide: includes any other client of the same Redis. */
  redis: number;
  /** Everything else on the machine (other processes competing for the CPUs). */
  other: number;
}

export interface PhaseFigures {
  durationS: number;
  requests: number;
  reqPerSec: number;
  heartbeatsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  cpu: CpuShare;
  /**
   * Redis commands per accepted heartbeat (INFO commandstats delta, script-internal calls
   * included; server-wide, so other clients of a shared Redis count too).
   */
  redisCommandsPerHeartbeat: number;
  /** Script calls (EVALSHA/EVAL) per accepted heartbeat: the round trips that commit. */
  redisScriptsPerHeartbeat: number;
  /** The commands behind redisCommandsPerHeartbeat, per heartbeat, largest first. */
  redisCommandMix: Record<string, number>;
  /** CPU of the server process(es) (user + system, /proc) per accepted heartbeat, in µs. */
  serverCpuUsPerHeartbeat: number;
}

/** Per-heartbeat command mix between two commandstats readings, rounded, largest first. */
export function commandMix(
  before: RedisCounters,
  after: RedisCounters,
  heartbeats: number,
): { total: number; scripts: number; mix: Record<string, number> } {
  const mix: [string, number][] = [];
  for (const [name, calls] of Object.entries(after.byCommand)) {
    const delta = calls - (before.byCommand[name] ?? 0);
    if (delta > 0) mix.push([name, delta / heartbeats]);
  }
  mix.sort((a, b) => b[1] - a[1]);
  const scripts = mix
    .filter(([n]) => n === 'evalsha' || n === 'eval')
    .reduce((a, [, v]) => a + v, 0);
  return {
    total: heartbeats > 0 ? (after.commands - before.commands) / heartbeats : Number.NaN,
    scripts: heartbeats > 0 ? scripts : Number.NaN,
    mix: Object.fromEntries(
      mix.filter(([, v]) => v >= 0.01).map(([n, v]) => [n, Math.round(v * 100) / 100]),
    ),
  };
}

export interface PhaseOptions {
  targets: Target[];
  warmupSeconds: number;
  seconds: number;
  headers: Record<string, string>;
  /** Builds fresh request definitions for one autocannon instance. */
  requests: () => autocannon.Request[];
  ledger: Ledger;
  /** Server pids to read CPU from. */
  serverPids: number[];
  /** Where commands and CPU are counted: the Redis, or every master of a cluster. */
  redis: Redis | Redis[];
}

/** What one load driver saw in the measured window. */
export interface LoadResult {
  durationS: number;
  requests: number;
  reqPerSec: number;
  statusCodes: Record<string, number>;
  /** 2xx response times (ms), sorted or not. */
  latencies: number[];
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** Autocannon over every target at once: req/s summed, latencies merged. */
function autocannonDriver(o: PhaseOptions): (seconds: number) => Promise<LoadResult> {
  return async (seconds) => {
    const runs = await Promise.all(o.targets.map((t) => fire(t, seconds, o.headers, o.requests())));
    const statusCodes: Record<string, number> = {};
    let requests = 0;
    let reqPerSec = 0;
    let durationS = 0;
    for (const { result } of runs) {
      let completed = 0;
      for (const [code, { count = 0 }] of Object.entries(result.statusCodeStats ?? {})) {
        statusCodes[code] = (statusCodes[code] ?? 0) + count;
        completed += count;
      }
      requests += completed;
      reqPerSec += completed / result.duration;
      durationS = Math.max(durationS, result.duration);
    }
    return {
      durationS,
      requests,
      reqPerSec,
      statusCodes,
      latencies: runs.flatMap((r) => r.latencies),
      non2xx: runs.reduce((n, r) => n + r.result.non2xx, 0),
      errors: runs.reduce((n, r) => n + r.result.errors, 0),
      timeouts: runs.reduce((n, r) => n + r.result.timeouts, 0),
    };
  };
}

/**
 * Warms up, then measures: one autocannon instance per target, all at once. req/s and
 * heartbeats/s are summed over instances; latency percentiles come from the merged samples.
 */
export function runPhase(o: PhaseOptions): Promise<PhaseFigures> {
  return measure(o, autocannonDriver(o));
}

/** What {@link measure} needs besides the load itself. */
export type MeasureOptions = Pick<
  PhaseOptions,
  'warmupSeconds' | 'seconds' | 'ledger' | 'serverPids' | 'redis'
>;

/**
 * Runs `drive` for a warm-up, then for the measured window, reading CPU (servers, load
 * generator, Redis, machine) and Redis commandstats around the window.
 */
export async function measure(
  o: MeasureOptions,
  drive: (seconds: number) => Promise<LoadResult>,
): Promise<PhaseFigures> {
  // Warm-up heartbeats are real writes: the ledger tracks them like any other.
  if (o.warmupSeconds > 0) await drive(o.warmupSeconds);

  const ackedBefore = o.ledger.ackedTotal;
  const cpuBefore = {
    self: selfCpuSeconds(),
    servers: o.serverPids.map(processCpuSeconds),
    redis: await redisCounters(o.redis),
    machine: machineBusySeconds(),
  };
  const started = process.hrtime.bigint();
  const run = await drive(o.seconds);
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const redisAfter = await redisCounters(o.redis);
  const share = (before: number, after: number) =>
    Math.round(((after - before) / wallS) * 1000) / 10;
  const loadGenerator = share(cpuBefore.self, selfCpuSeconds());
  const serversAfter = o.serverPids.map(processCpuSeconds);
  const servers = serversAfter.map((after, i) => share(cpuBefore.servers[i]!, after));
  const serverCpuS = serversAfter.reduce((a, after, i) => a + after - cpuBefore.servers[i]!, 0);
  const redisCpu = share(cpuBefore.redis.cpu, redisAfter.cpu);
  const machine = share(cpuBefore.machine, machineBusySeconds());
  const ours = loadGenerator + redisCpu + servers.reduce((a, b) => a + b, 0);
  const cpu: CpuShare = {
    loadGenerator,
    servers,
    redis: redisCpu,
    other: Math.max(0, Math.round((machine - ours) * 10) / 10),
  };
  const heartbeats = o.ledger.ackedTotal - ackedBefore;
  const commands = commandMix(cpuBefore.redis, redisAfter, heartbeats);
  const latencies = run.latencies.sort((a, b) => a - b);
  return {
    durationS: run.durationS,
    requests: run.requests,
    reqPerSec: run.reqPerSec,
    heartbeatsPerSec: heartbeats / run.durationS,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    non2xx: run.non2xx,
    errors: run.errors,
    timeouts: run.timeouts,
    statusCodes: run.statusCodes,
    cpu,
    redisCommandsPerHeartbeat: commands.total,
    redisScriptsPerHeartbeat: commands.scripts,
    redisCommandMix: commands.mix,
    serverCpuUsPerHeartbeat: heartbeats > 0 ? (serverCpuS * 1e6) / heartbeats : Number.NaN,
  };
}
