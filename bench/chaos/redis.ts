/**
 * The Redis servers the chaos scenarios break: a single redis-server of our own (AOF, fsync on
 * every write) on its own port and data dir, and a local 3 + 3 Redis Cluster started with
 * scripts/redis-cluster.sh. Every process is ours and is signalled by PID; the shared Redis on
 * 6379 is only ever cleaned of our own key prefix.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { RedisStore } from '../../src/store/redis-store.ts';
import { ROOT, freePort, sleep } from '../processes.ts';

const run = promisify(execFile);

/** Polls `check` every `everyMs` until it returns a value, or throws `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** One redis-cli call with a hard time limit; undefined when the node does not answer. */
export async function redisCli(port: number, ...args: string[]): Promise<string | undefined> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
      timeout: 2000,
    });
    return stdout.replace(/\r/g, '');
  } catch {
    return undefined;
  }
}

/**
 * A redis-server of our own: append-only file with `appendfsync always`, so every acknowledged
 * write is on disk, in a data dir under /tmp that a restart reloads.
 */
export class RedisServer {
  #proc: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /** Starts a server on a free port with a fresh data dir; resolves once it accepts commands. */
  static async start(): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'chaos-redis-'));
    const server = new RedisServer(await freePort(), dir);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** (Re)starts the server on the same port and dir; the AOF is reloaded. */
  async restart(): Promise<void> {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    // The server says when it is ready (after the AOF has been loaded): wait for that line.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server on ${this.port} not ready in 20 s:\n${this.#log}`)),
        20_000,
      );
      const onData = (chunk: Buffer) => {
        this.#log = (this.#log + chunk.toString('utf8')).slice(-5000);
        if (this.#log.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${this.port} exited (${code}):\n${this.#log}`));
      });
    });
    this.#log = '';
  }

  /** kill -9; resolves once the process is gone. */
  async kill(): Promise<void> {
    this.#proc?.kill('SIGKILL');
    await this.#exited;
  }

  freeze(): void {
    this.#proc?.kill('SIGSTOP');
  }

  thaw(): void {
    this.#proc?.kill('SIGCONT');
  }

  /** Stops the server (also when frozen) and removes its data dir. */
  async destroy(): Promise<void> {
    if (this.#proc && this.#proc.exitCode === null && this.#proc.signalCode === null) {
      this.#proc.kill('SIGKILL');
      await this.#exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** True when nothing listens on 127.0.0.1:port. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A base port whose six node ports and their cluster bus ports (+10000) are all free. */
async function freeClusterBase(): Promise<number> {
  for (let base = 7300; base < 7900; base += 10) {
    const ports = [0, 1, 2, 3, 4, 5].flatMap((i) => [base + i, base + i + 10_000]);
    const free = await Promise.all(ports.map(portIsFree));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free range of 6 ports (+ bus ports) between 7300 and 7900');
}

export interface ClusterNode {
  id: string;
  port: number;
  flags: string[];
  /** For a replica, the id of its master; '-' for a master. */
  masterId: string;
  /** Slot ranges served, as printed by CLUSTER NODES. */
  slots: string[];
}

/** Parses CLUSTER NODES output. */
export function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(address ?? '')?.[1]);
      return { id: id!, port, flags: (flags ?? '').split(','), masterId: masterId!, slots };
    });
}

/** A local Redis Cluster of 3 masters + 3 replicas, run by scripts/redis-cluster.sh. */
export class RedisCluster {
  private constructor(
    readonly base: number,
    readonly dir: string,
    /** Seed nodes `127.0.0.1:port,...` for REDIS_CLUSTER_NODES. */
    readonly nodes: string,
  ) {}

  static async start(): Promise<RedisCluster> {
    const base = await freeClusterBase();
    const dir = await mkdtemp(join(tmpdir(), 'chaos-cluster-'));
    const { stdout } = await run('bash', ['scripts/redis-cluster.sh', 'start', String(base)], {
      cwd: ROOT,
      env: { ...process.env, CLUSTER_DIR: dir },
      timeout: 90_000,
    }).catch(async (error: unknown) => {
      await RedisCluster.#stop(base, dir);
      throw error;
    });
    const nodes = stdout.trim().split('\n').at(-1) ?? '';
    return new RedisCluster(base, dir, nodes);
  }

  get ports(): number[] {
    return [0, 1, 2, 3, 4, 5].map((i) => this.base + i);
  }

  /** CLUSTER NODES as seen by the first node among `ports` that answers. */
  async topology(ports = this.ports): Promise<ClusterNode[] | undefined> {
    for (const port of ports) {
      const text = await redisCli(port, 'cluster', 'nodes');
      if (text !== undefined && text.trim() !== '') return parseClusterNodes(text);
    }
    return undefined;
  }

  /** The PID a node reports for itself. */
  async pidOf(port: number): Promise<number> {
    const info = await redisCli(port, 'info', 'server');
    const pid = Number(/^process_id:(\d+)/m.exec(info ?? '')?.[1]);
    if (!(pid > 0)) throw new Error(`node ${port} did not tell its PID`);
    return pid;
  }

  /**
   * Waits until a replica of `master` has taken over: it is flagged master and owns slots, and
   * every surviving node says cluster_state:ok.
   */
  async waitForPromotion(master: ClusterNode, timeoutMs: number): Promise<ClusterNode> {
    const survivors = this.ports.filter((p) => p !== master.port);
    return waitFor('a replica to be promoted', timeoutMs, async () => {
      const nodes = await this.topology(survivors);
      const promoted = nodes?.find(
        (n) =>
          n.id !== master.id &&
          n.flags.includes('master') &&
          !n.flags.some((f) => f.startsWith('fail')) &&
          n.slots.some((s) => master.slots.includes(s)),
      );
      if (!promoted) return undefined;
      for (const port of survivors) {
        const info = await redisCli(port, 'cluster', 'info');
        if (!info?.includes('cluster_state:ok')) return undefined;
      }
      return promoted;
    });
  }

  async stop(): Promise<void> {
    await RedisCluster.#stop(this.base, this.dir);
  }

  static async #stop(base: number, dir: string): Promise<void> {
    await run('bash', ['scripts/redis-cluster.sh', 'stop', String(base)], {
      cwd: ROOT,
      env: { ...process.env, CLUSTER_DIR: dir },
      timeout: 60_000,
    }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    // The script's lock file sits next to CLUSTER_DIR.
    await rm(`${dir}.${base}.lock`, { force: true });
  }
}

/** Deletes every key under `prefix` (SCAN MATCH prefix:* + DEL) from a Redis we share. */
export async function deletePrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: true });
  try {
    await redis.connect();
    return await new RedisStore(redis, prefix).deleteAllOwnKeys();
  } finally {
    redis.disconnect();
  }
}
