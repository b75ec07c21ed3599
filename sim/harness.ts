/**
 * Where the simulated fleet runs: against a service at a URL in real time, or against an
 * embedded service in virtual time (a ManualClock moved between heartbeat rounds, durable timers
 * and background loops driven by hand), so hours pass in seconds. Only this file touches the
 * service object; the containers speak HTTP to `url` in both cases.
 */
import { randomBytes } from 'node:crypto';
import { ManualClock } from '../src/clock.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { type Service, start } from '../src/main.ts';
import { MODULES } from '../src/modules.ts';

export interface Harness {
  mode: 'virtual' | 'real';
  url: string;
  token: string;
  /**
   * The service's HEARTBEAT_TIMEOUT_MS when the simulator knows it (the embedded service: the
   * config it runs); null against `--url`, whose configuration it cannot read.
   */
  heartbeatTimeoutMs: number | null;
  /** Current time as the service sees it (ms). */
  now(): number;
  /** Lets `ms` pass: moves the virtual clock and runs what came due, or sleeps. */
  pass(ms: number): Promise<void>;
  /** Waits until everything the last requests set off has finished (effects, notifications). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** Virtual time starts here, so reports of two runs with one seed are identical. */
export const VIRTUAL_EPOCH = Date.parse('2026-01-05T09:00:00.000Z');

export interface EmbeddedOptions {
  /** ACP connections per worker (CAPACITY_PER_WORKER); small so capacity-surge stays quick. */
  capacity?: number;
  /** Extra environment for loadConfig (tests). */
  env?: Record<string, string>;
}

/**
 * Starts the real service in-process on the embedded store (never REDIS_URL: a simulation must
 * not write into someone's Redis), on 127.0.0.1 and a free port, with its logs silenced.
 *
 * @example
 * const h = await embeddedHarness({ capacity: 100 });
 * await h.pass(30_000); // 30 virtual seconds: due timers fire, pollers run
 * await h.close();
 */
export async function embeddedHarness(options: EmbeddedOptions = {}): Promise<Harness> {
  const token = `sim-operator-${randomBytes(8).toString('hex')}`;
  const clock = new ManualClock(VIRTUAL_EPOCH);
  const config = loadConfig({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    // The in-process store is shared by every embedded service of this process (ioredis-mock
    // keeps one dataset per host): a prefix of its own keeps two runs apart.
    KEY_PREFIX: `sim:${randomBytes(6).toString('hex')}`,
    OPERATOR_TOKENS: token,
    CAPACITY_PER_WORKER: String(options.capacity ?? 100),
    ...options.env,
  });
  const service: Service = await start({
    config,
    clock,
    logger: silentLogger,
    background: false,
  });
  // What the background loops would do on their intervals, run once per step of virtual time.
  const loops = async () => {
    await service.engine.fireDueTimers();
    for (const m of MODULES) if (m.poll) await m.poll.run(service.modules);
    await service.engine.reapOutbox();
  };
  return {
    mode: 'virtual',
    url: service.url,
    token,
    heartbeatTimeoutMs: config.connection.heartbeatTimeoutMs,
    now: () => clock.now(),
    async pass(ms) {
      // In steps of at most 5 s, so a short backoff fires before a later timeout would.
      for (let left = ms; left > 0; left -= 5_000) {
        clock.advance(Math.min(5_000, left));
        await loops();
      }
    },
    async settle() {
      await service.engine.idle();
      await loops();
    },
    async close() {
      await service.store.deleteAllOwnKeys();
      await service.stop();
    },
  };
}

/** A running service at `url`; time is real, so `pass` sleeps. */
export function remoteHarness(url: string, token: string): Harness {
  return {
    mode: 'real',
    url: url.replace(/\/+$/, ''),
    token,
    heartbeatTimeoutMs: null,
    now: () => Date.now(),
    pass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    // Effects run right after each commit on the service; give them a moment.
    settle: () => new Promise((resolve) => setTimeout(resolve, 500)),
    close: async () => {},
  };
}
