/**
 * The chaos harness (the scenarios themselves are in catalog.ts), shared by `npm run chaos` (bench/chaos.ts) and the test suite
 * (test/chaos/chaos.test.ts): each starts its own store and three service processes on a fresh
 * key prefix, puts heartbeat load on them round-robin, breaks one thing, waits until everything
 * is healthy again, and compares what was acknowledged with what Redis holds.
 */
import { randomBytes } from 'node:crypto';
import { type Child, freePort, startChildOnPort } from '../processes.ts';
import {
  type Attempt,
  Balancer,
  HeartbeatClient,
  HeartbeatLoad,
  Ledger,
  ReadyzMonitor,
  readSampleSizes,
  registerAll,
  waitHealthy,
} from './load.ts';

export interface ChaosOptions {
  /** Service processes behind the round-robin balancer. */
  processes: number;
  /** Virtual clients sending heartbeats concurrently. */
  clients: number;
  /** Connections the heartbeats rotate over. */
  connections: number;
  /** Pause of each client between two heartbeats (randomised ±50%), to leave the CPUs some air. */
  thinkMs: number;
  /** Load before the fault. */
  warmupMs: number;
  /** How long Redis stays stopped or frozen. */
  faultMs: number;
  /** How long a killed service process stays down. */
  restartDelayMs: number;
  /** Load after the service is healthy again. */
  afterMs: number;
  /** REDIS_COMMAND_TIMEOUT_MS given to the service. */
  commandTimeoutMs: number;
  /** Client-side timeout of one request. */
  requestTimeoutMs: number;
  /** Tries per heartbeat, and how long a heartbeat is retried before it is given up. */
  maxTries: number;
  retryForMs: number;
  /** How long to wait for the service to be healthy after the fault before giving up. */
  healthyTimeoutMs: number;
  /** The shared Redis for scenarios that do not break Redis (only our prefix is touched). */
  sharedRedisUrl: string;
  /** Aborts the scenario (Ctrl-C): pauses end early, retries stop, cleanup still runs. */
  signal?: AbortSignal;
  log(message: string): void;
}

/** A wall-clock phase of the scenario (load before or after a fault, an outage), abortable. */
export async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
  signal?.throwIfAborted();
}

/** Defaults for `npm run chaos`; `seconds` is the length of an outage (CHAOS_SECONDS). */
export function chaosOptions(seconds = 10, overrides: Partial<ChaosOptions> = {}): ChaosOptions {
  return {
    processes: 3,
    clients: 40,
    connections: 50,
    thinkMs: 50,
    warmupMs: (seconds * 1000) / 2,
    faultMs: seconds * 1000,
    restartDelayMs: (seconds * 1000) / 2,
    afterMs: (seconds * 1000) / 2,
    commandTimeoutMs: 1000,
    requestTimeoutMs: 3000,
    maxTries: 60,
    retryForMs: 30_000 + seconds * 1000,
    healthyTimeoutMs: 60_000,
    sharedRedisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    log: () => {},
    ...overrides,
  };
}

/** Where the service keeps its state during a scenario, and how to get rid of it afterwards. */
export interface Store {
  /** Environment for the service processes (undefined removes an inherited variable). */
  env: Record<string, string | undefined>;
  close(prefix: string): Promise<void>;
}

/** The moments the fault began and ended (epoch ms). */
export interface FaultWindow {
  start: number;
  end: number;
  note?: string;
}

export interface Scenario<S extends Store = Store> {
  name: string;
  openStore(options: ChaosOptions): Promise<S>;
  /** Breaks something while the load runs; resolves once the fault is over (or is permanent). */
  inject(run: Run, store: S): Promise<FaultWindow>;
}

export interface ScenarioResult {
  name: string;
  /** Distinct heartbeat ids answered 2xx. */
  acked: number;
  /** Ids sent at least once and never answered 2xx: each may or may not have been applied. */
  unacked: number;
  /** Sum of sampleSize over the connections, read through the API after the scenario. */
  stored: number;
  /** Acknowledged but not stored (summed per connection). */
  lost: number;
  /** Stored beyond acked + unacked (summed per connection): applied more than once. */
  appliedTwice: number;
  /** 4xx answers to heartbeats for connected connections. */
  wronglyRefused: number;
  /** Retries answered `duplicate: true`. */
  duplicates: number;
  /** Heartbeat attempts by status code (or timeout / network). */
  answers: Record<string, number>;
  /** p99 of the heartbeat attempts sent from the start of the fault until healthy again. */
  faultP99Ms: number;
  /** From the end of the fault until /readyz is 200 everywhere and a heartbeat succeeds. */
  recoverySeconds: number | undefined;
  /** Slowest /readyz answer (or timeout) seen on any process during the scenario. */
  readyzSlowestMs: number;
  window: FaultWindow;
  /** Heartbeat attempts sent between window.start and window.end. */
  faultAttempts: Attempt[];
  /** Log lines of the service processes that are not JSON. */
  nonJsonLogLines: number;
  /** First distinct unexpected answers and log lines. */
  samples: string[];
}

/** True when nothing was lost, applied twice or wrongly refused. */
export function passed(r: ScenarioResult): boolean {
  return r.lost === 0 && r.appliedTwice === 0 && r.wronglyRefused === 0;
}

/** The service processes of one scenario; faults may kill and restart them. */
export class Run {
  readonly services: Child[] = [];
  readonly #ports: number[] = [];
  /** Output of processes that are gone (a killed process takes its buffer with it). */
  readonly #outputs: string[] = [];
  readonly #collected = new Set<Child>();

  constructor(
    readonly options: ChaosOptions,
    readonly env: Record<string, string | undefined>,
  ) {}

  async start(): Promise<void> {
    for (let i = 0; i < this.options.processes; i++) this.#ports.push(await freePort());
    for (let i = 0; i < this.options.processes; i++) await this.restart(i);
  }

  get urls(): string[] {
    return this.#ports.map((p) => `http://127.0.0.1:${p}`);
  }

  /** Starts process `i` on its port (where the balancer sends its share of the load). */
  async restart(i: number): Promise<void> {
    const child = await startChildOnPort(`service-${i}`, 'src/main.ts', this.env, this.#ports[i]!);
    this.services[i] = child;
  }

  /** kill -9 of process `i`; resolves once it is gone. */
  async kill(i: number): Promise<void> {
    const child = this.services[i]!;
    process.kill(child.pid, 'SIGKILL');
    await child.exited;
    this.#collect(child);
  }

  #collect(child: Child): void {
    if (this.#collected.has(child)) return;
    this.#collected.add(child);
    this.#outputs.push(child.output());
  }

  /** Stops every process still running (idempotent). */
  async stop(): Promise<void> {
    await Promise.allSettled(
      this.services.map(async (child) => {
        await child.stop();
        this.#collect(child);
      }),
    );
  }

  /**
   * What the processes printed: lines that are not JSON (all logs must be JSON), and one
   * error-level line per message, to explain 5xx answers.
   */
  logs(): { nonJson: string[]; errors: string[] } {
    const nonJson: string[] = [];
    const errors = new Map<string, string>();
    for (const line of this.#outputs.flatMap((o) => o.split('\n'))) {
      if (line.trim() === '') continue;
      try {
        const entry = JSON.parse(line);
        if (entry?.level === 'error' && !errors.has(String(entry.message))) {
          errors.set(String(entry.message), line.replace(/"time":"[^"]*",?/, ''));
        }
      } catch {
        nonJson.push(line);
      }
    }
    return { nonJson, errors: [...errors.values()] };
  }
}

function p99(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

/** Runs one scenario end to end; always stops its processes and removes its store or keys. */
export async function runScenario<S extends Store>(
  scenario: Scenario<S>,
  options: ChaosOptions,
): Promise<ScenarioResult> {
  const log = (m: string) => options.log(`${scenario.name}: ${m}`);
  const prefix = `chaos:${randomBytes(6).toString('hex')}`;
  const token = `chaos-operator-${randomBytes(12).toString('hex')}`;
  const ids = Array.from({ length: options.connections }, (_, i) => `chaos-c${i}`);

  log('starting the store');
  const store = await scenario.openStore(options);
  const run = new Run(options, {
    ...store.env,
    KEY_PREFIX: prefix,
    OPERATOR_TOKENS: token,
    API_TOKENS: '[]',
    LOG_LEVEL: 'warn',
    REDIS_COMMAND_TIMEOUT_MS: String(options.commandTimeoutMs),
  });
  const ledger = new Ledger();
  let load: HeartbeatLoad | undefined;
  let monitor: ReadyzMonitor | undefined;
  try {
    log(`starting ${options.processes} service processes`);
    await run.start();
    const client = new HeartbeatClient(new Balancer(run.urls), ledger, {
      token,
      requestTimeoutMs: options.requestTimeoutMs,
      maxTries: options.maxTries,
      retryForMs: options.retryForMs,
      signal: options.signal,
    });
    log(`registering ${ids.length} connections`);
    await registerAll(client, ids);

    load = new HeartbeatLoad(client, ids, options);
    monitor = new ReadyzMonitor(run.urls);
    load.start();
    monitor.start();
    await pause(options.warmupMs, options.signal);

    log('injecting the fault');
    const window = await scenario.inject(run, store);
    if (window.note) log(window.note);
    const healthyAt = await waitHealthy(client, ids[0]!, options.healthyTimeoutMs);
    log(
      healthyAt
        ? `healthy ${(healthyAt - window.end) / 1000} s after the fault`
        : `NOT healthy within ${options.healthyTimeoutMs / 1000} s`,
    );
    await pause(options.afterMs, options.signal);
    await load.stop();
    await monitor.stop();

    // Read back once every process is ready again. Without a healthy moment the counts are
    // still read (reads retry) so that the table shows what happened.
    if (healthyAt !== undefined) await waitHealthy(client, ids[0]!, options.healthyTimeoutMs);
    const stored = await readSampleSizes(client, ids);

    const result: ScenarioResult = {
      name: scenario.name,
      acked: 0,
      unacked: 0,
      stored: 0,
      lost: 0,
      appliedTwice: 0,
      wronglyRefused: ledger.wronglyRefused,
      duplicates: ledger.duplicates,
      answers: ledger.answers(),
      faultP99Ms: p99(
        ledger.attempts
          .filter((a) => a.startedAt >= window.start && a.startedAt <= (healthyAt ?? Infinity))
          .map((a) => a.ms),
      ),
      recoverySeconds: healthyAt === undefined ? undefined : (healthyAt - window.end) / 1000,
      readyzSlowestMs: Math.max(0, ...monitor.samples.map((s) => s.ms)),
      window,
      faultAttempts: ledger.attempts.filter(
        (a) => a.startedAt >= window.start && a.startedAt <= window.end,
      ),
      nonJsonLogLines: 0,
      samples: [...ledger.samples],
    };
    for (const id of ids) {
      const acked = ledger.acked.get(id) ?? 0;
      const unacked = ledger.unacked.get(id) ?? 0;
      const sampleSize = stored.get(id) ?? 0;
      result.acked += acked;
      result.unacked += unacked;
      result.stored += sampleSize;
      result.lost += Math.max(0, acked - sampleSize);
      result.appliedTwice += Math.max(0, sampleSize - (acked + unacked));
    }
    log(`acked ${result.acked}, stored ${result.stored}, lost ${result.lost}`);
    await run.stop();
    const logs = run.logs();
    result.nonJsonLogLines = logs.nonJson.length;
    for (const line of [...logs.nonJson.slice(0, 2), ...logs.errors.slice(0, 4)]) {
      result.samples.push(`log: ${line.slice(0, 300)}`);
    }
    return result;
  } finally {
    await load?.stop();
    await monitor?.stop();
    await run.stop();
    await store.close(prefix).catch((e: unknown) => log(`cleanup failed: ${String(e)}`));
  }
}
