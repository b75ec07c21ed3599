/**
 * Faults the tests inject themselves: a redis-server of our own on a free port (never the shared
 * 6379), stopped, frozen and restarted by PID; and the service as a real child process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Ports freePort handed out in this process, not yet bound by whoever asked for them. */
const handedOut = new Set<number>();

function bindFree(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * A free port the OS picks, or, when TEST_PORT_RANGE is set (`7800-7849`, on a machine shared
 * with other work), a free one of that range not handed out before by this process.
 */
export async function freePort(): Promise<number> {
  const range = /^(\d+)-(\d+)$/.exec(process.env.TEST_PORT_RANGE ?? '');
  if (!range) return bindFree(0);
  for (let port = Number(range[1]); port <= Number(range[2]); port++) {
    if (handedOut.has(port)) continue;
    const free = await bindFree(port).catch(() => null);
    if (free === null) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port left in TEST_PORT_RANGE=${range[0]}`);
}

/** A free port whose cluster bus port (+10000) is free too, for a cluster-enabled OwnRedis. */
export async function freeClusterPort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = await freePort();
    if (port + 10_000 <= 65_535 && (await bindFree(port + 10_000).catch(() => null)) !== null) {
      return port;
    }
  }
  throw new Error('no free port with a free cluster bus port');
}

/** redis-server arguments of a Redis Cluster node (its nodes.conf in the server's own dir). */
export const CLUSTER_NODE_ARGS = [
  '--cluster-enabled',
  'yes',
  '--cluster-config-file',
  'nodes.conf',
  '--cluster-node-timeout',
  '2000',
];

/** Polls `check` every 50 ms until it is true; throws after `withinMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  withinMs = 20_000,
): Promise<void> {
  const end = Date.now() + withinMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A redis-server of this test, with append-only persistence in its own directory. */
export class OwnRedis {
  #proc: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'lumi-outage-'));
  constructor(
    readonly port: number,
    /** Further redis-server arguments, e.g. ['--replicaof', '127.0.0.1', '6390']. */
    readonly extraArgs: string[] = [],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--dir',
        this.dir,
        ...this.extraArgs,
      ],
      { stdio: 'ignore' },
    );
    this.#proc = proc;
    await until(`redis-server on ${this.port}`, async () => {
      const { Redis } = await import('ioredis');
      const probe = new Redis(this.port, '127.0.0.1', {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on('error', () => {});
      try {
        await probe.connect();
        return (await probe.ping()) === 'PONG';
      } finally {
        probe.disconnect();
      }
    });
  }

  /** SIGKILL: the server dies at once; what was fsynced to the AOF survives. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    this.#proc = null;
  }

  freeze(): void {
    this.#proc?.kill('SIGSTOP');
  }

  thaw(): void {
    this.#proc?.kill('SIGCONT');
  }

  async destroy(): Promise<void> {
    this.thaw();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The service as a real process (`node --import tsx src/main.ts`), its output kept. */
export class ServiceProcess {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(env: Record<string, string>) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (c: Buffer) => (this.stdout += c.toString()));
    this.proc.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
  }

  /** Resolves once the process logged that it listens. */
  async listening(): Promise<void> {
    await until('the service to listen', () => this.stdout.includes('"listening"'), 30_000);
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}
