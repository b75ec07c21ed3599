/**
 * Child processes for the benchmark (the baseline and the real service), plus the CPU readings
 * that show where the time goes: /proc for our children, INFO for Redis.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Cluster, type Redis } from 'ioredis';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Asks the kernel for a free port; a tiny race with other processes is acceptable here. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  name: string;
  url: string;
  pid: number;
  /** False once the process has exited, for whatever reason. */
  alive(): boolean;
  /** The last ~20 KB of its stdout and stderr, in whole lines. */
  output(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
  stop(): Promise<void>;
  /** Resolves once the process has exited (after a crash, a kill or stop()). */
  exited: Promise<void>;
}

/**
 * Spawns `node [nodeArgs] --import tsx <script>` on a free port and waits until GET /healthz
 * answers 200. Throws (with the child's output) if it exits or stays silent for 30 s.
 */
/** How much of a child's output is kept, for errors and the chaos run's log check. */
const OUTPUT_KEPT = 20_000;

/**
 * The end of `text`, at most `max` characters, starting at a line's start: a line cut in the
 * middle would read as a log line that is not JSON.
 */
export function lastLines(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = text.slice(-max);
  return end.slice(end.indexOf('\n') + 1);
}

export async function startChild(
  name: string,
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<Child> {
  return startChildOnPort(name, script, env, await freePort(), nodeArgs);
}

/**
 * With BENCH_SERVICE_LOG, a line `[bench <epoch ms>] text` in it: phase boundaries to line up
 * with what the services print (e.g. `--trace-gc`, whose times count from each process's start,
 * also marked here).
 */
export function markServiceLog(text: string): void {
  const log = process.env.BENCH_SERVICE_LOG;
  if (log) appendFileSync(log, `[bench ${Date.now()}] ${text}\n`);
}

/**
 * startChild on a given port, e.g. to restart a killed process where its load balancer expects
 * it. An `undefined` in `env` removes that variable from the inherited environment.
 */
export async function startChildOnPort(
  name: string,
  script: string,
  env: Record<string, string | undefined>,
  port: number,
  nodeArgs: string[] = [],
): Promise<Child> {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [key, value] of Object.entries(childEnv)) {
    if (value === undefined) delete childEnv[key];
  }
  const proc: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...childEnv, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  markServiceLog(`${name} started`);
  let output = '';
  // BENCH_SERVICE_LOG=<file>: every line the services print, e.g. with BENCH_NODE_ARGS=--trace-gc.
  const log = process.env.BENCH_SERVICE_LOG;
  const keep = (chunk: Buffer) => {
    output = lastLines(output + chunk.toString('utf8'), OUTPUT_KEPT);
    if (log) appendFileSync(log, chunk.toString('utf8').replace(/^(?=.)/gm, `${name}: `));
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      resolve();
    }),
  );

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      throw new Error(`${name} exited before answering /healthz:\n${output}`);
    }
    const healthy = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      .then((r) => r.ok)
      .catch(() => false);
    if (healthy) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${name} did not answer /healthz within 30 s:\n${output}`);
    }
    await sleep(100);
  }

  return {
    name,
    url,
    pid: proc.pid!,
    alive: () => !exited,
    output: () => output,
    exited: exit,
    async stop() {
      if (exited) return;
      proc.kill('SIGTERM');
      await Promise.race([exit, sleep(5000)]);
      if (!exited) proc.kill('SIGKILL');
      await exit;
    },
  };
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Resident set size of a process now (Linux /proc, VmRSS), NaN if unreadable. */
export function processRssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? Number.NaN : Number(kb) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** User + system CPU seconds a process has used so far (Linux /proc), NaN if unreadable. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name start at field 3 (state); utime and stime
    // are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU seconds every core of the machine has spent busy so far (Linux /proc/stat), NaN if
 * unreadable. Minus what the benchmark's own processes used, it shows how much other work
 * competed for the CPUs during a phase.
 */
export function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = t.reduce((a, b) => a + b, 0);
    return (total - t[3]! - t[4]!) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** This process's own CPU seconds (the load generator). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export interface RedisCounters {
  /** used_cpu_sys + used_cpu_user, summed over the nodes. */
  cpu: number;
  /** Calls of every command (INFO commandstats), script-internal calls included. */
  commands: number;
  /** Calls per command name, e.g. { evalsha: 10, hset: 20 }. */
  byCommand: Record<string, number>;
}

/**
 * Redis server CPU seconds and command calls so far, summed over `nodes` (the masters of a
 * cluster). Server-wide: on a shared Redis, other clients' commands count too.
 */
export async function redisCounters(nodes: Redis | readonly Redis[]): Promise<RedisCounters> {
  const out: RedisCounters = { cpu: 0, commands: 0, byCommand: {} };
  for (const redis of Array.isArray(nodes) ? nodes : [nodes as Redis]) {
    const info = `${await redis.info('cpu')}\n${await redis.info('commandstats')}`;
    const field = (name: string) => Number(new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1]);
    out.cpu += field('used_cpu_sys') + field('used_cpu_user');
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      const calls = Number(m[2]);
      out.commands += calls;
      out.byCommand[m[1]!] = (out.byCommand[m[1]!] ?? 0) + calls;
    }
  }
  return out;
}

/** Which code was measured: the commit, plus a marker when src/ or machines/ has local edits. */
export function revision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
    const dirty = git('status', '--porcelain', '--', 'src', 'machines').trim() !== '';
    return `${git('rev-parse', '--short', 'HEAD').trim()}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

/**
 * Starts (or finds running) the benchmark's Redis Cluster through scripts/redis-cluster.sh and
 * connects to it. `running`: it was already up, so the run must not stop it.
 */
export async function startCluster(
  script: (...args: string[]) => string,
  port: number,
): Promise<{ seeds: string; client: Cluster; running: boolean }> {
  const running = (() => {
    try {
      script('status', String(port));
      return true;
    } catch {
      return false;
    }
  })();
  const seeds = script('start', String(port)).trim().split('\n').at(-1)!;
  const client = new Cluster(
    seeds.split(',').map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })),
  );
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
  });
  return { seeds, client, running };
}
