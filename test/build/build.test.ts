/**
 * The production build: `npm run build` writes dist/, and plain `node dist/src/main.js` (no tsx)
 * serves the API on the embedded store, runs the Lua scripts copied next to the compiled code,
 * and shuts down cleanly on SIGTERM.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const main = join(dist, 'src', 'main.js');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

function freePort(): Promise<number> {
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

function exited(
  child: ChildProcess,
  ms: number,
): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    const timer = setTimeout(() => reject(new Error(`process did not exit within ${ms} ms`)), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

describe('production build', () => {
  let child: ChildProcess | undefined;
  let output = '';

  beforeAll(() => {
    execFileSync('npm', ['run', 'build'], { cwd: root, timeout: 120_000, stdio: 'pipe' });
  }, 130_000);

  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('emits JavaScript with .js imports and the runtime assets, and nothing from test/', () => {
    expect(existsSync(main)).toBe(true);
    expect(existsSync(join(dist, 'machines'))).toBe(true);
    expect(existsSync(join(dist, 'test'))).toBe(false);

    const js = filesUnder(dist).filter((f) => f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(20);
    for (const file of js) {
      const text = readFileSync(file, 'utf8');
      expect(text, relative(root, file)).not.toMatch(/from\s+['"]\.{1,2}\/[^'"]*\.ts['"]/);
    }

    // Every non-TypeScript file in src/ and machines/ (the Lua scripts) is copied unchanged.
    const assets = ['src', 'machines']
      .flatMap((d) => filesUnder(join(root, d)))
      .filter((f) => !f.endsWith('.ts'));
    expect(assets.filter((f) => f.endsWith('.lua')).length).toBeGreaterThanOrEqual(6);
    for (const asset of assets) {
      const copy = join(dist, relative(root, asset));
      expect(existsSync(copy), relative(root, copy)).toBe(true);
      expect(readFileSync(copy, 'utf8')).toBe(readFileSync(asset, 'utf8'));
    }
  });

  it('runs with plain node: healthz, a registration through the Lua scripts, clean SIGTERM', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // A minimal environment: no REDIS_URL / REDIS_CLUSTER_NODES (embedded store), no tokens
    // (the development operator token is active outside production).
    child = spawn(process.execPath, [main], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'development',
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));

    const deadline = Date.now() + 20_000;
    let health: Response | undefined;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
      health = await fetch(`${base}/healthz`).catch(() => undefined);
      if (health) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(health, `no answer on /healthz within 20 s:\n${output}`).toBeDefined();
    expect(health!.status).toBe(200);
    expect(await health!.json()).toMatchObject({ status: 'ok' });

    const listening = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { message?: string; redis?: string; url?: string })
      .find((l) => l.message === 'listening');
    expect(listening).toMatchObject({ redis: 'embedded', url: base });

    const res = await fetch(`${base}/v1/connections`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer dev-operator-token-change-me',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ connectionId: 'c1', installationId: 'inst-a', workspaceId: 'ws-1' }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      version: 1,
    });

    const again = await fetch(`${base}/v1/connections/c1`, {
      headers: { authorization: 'Bearer dev-operator-token-change-me' },
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ connectionId: 'c1', version: 1 });

    expect(child.kill('SIGTERM')).toBe(true);
    const result = await exited(child, 15_000);
    expect(result, output).toEqual({ code: 0, signal: null });
  }, 45_000);
});
