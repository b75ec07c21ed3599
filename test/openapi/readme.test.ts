/**
 * The README's API examples run top to bottom on a fresh store: the ```sh blocks of the API
 * sections that use `$U` (rule in ./readme.ts) run with bash and the real curl against the real
 * service, started as `npm start` starts it (no token configured, not production: the
 * development operator token is active) on a fresh key prefix and the wall clock. Every command
 * must exit 0 and get a non-error JSON answer, and what a trailing comment promises
 * (`# "state": "acp"`) must hold.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { DEV_OPERATOR_TOKEN } from '../../src/config.ts';
import { type TestService, startService } from '../helpers.ts';
import { apiShellBlocks, curlCommands, isRunnable, script } from './readme.ts';

/** The wall clock: the examples stamp heartbeats with `date -u`. */
class WallClock extends ManualClock {
  override now(): number {
    return Date.now();
  }
}

const hasCurl = spawnSync('sh', ['-c', 'command -v curl && command -v bash']).status === 0;

/** Finds `value` under `key` anywhere in `json`. */
function holds(json: unknown, key: string, value: string): boolean {
  if (json === null || typeof json !== 'object') return false;
  return Object.entries(json).some(([k, v]) => (k === key && v === value) || holds(v, key, value));
}

describe('README API examples', () => {
  const blocks = apiShellBlocks();
  const runnable = blocks.filter(isRunnable);

  it('marks every curl example of the API sections as runnable (it uses $U)', () => {
    const escaped = blocks.filter((b) => !isRunnable(b) && /\bcurl\b/.test(b.text));
    expect(escaped.map((b) => `README.md:${b.line}`)).toEqual([]);
    expect(runnable.length).toBeGreaterThanOrEqual(3);
  });

  describe('run top to bottom against a fresh service', () => {
    let service: TestService;
    let out: string;
    let run: { status: number | null; stderr: string };

    beforeAll(async () => {
      expect(hasCurl, 'curl and bash are needed to run the README examples').toBe(true);
      service = await startService(
        { NODE_ENV: 'development', OPERATOR_TOKENS: '', API_TOKENS: '[]' },
        new WallClock(Date.now()),
      );
      out = mkdtempSync(join(tmpdir(), 'readme-curl-'));
      // Asynchronously: the service answers from this process's event loop.
      run = await new Promise((resolve, reject) => {
        const child = spawn('bash', ['-c', script(runnable, service.url, out)], {
          stdio: ['ignore', 'ignore', 'pipe'],
          timeout: 60_000,
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (status) => resolve({ status, stderr }));
      });
    });

    afterAll(async () => {
      await service?.close();
      if (out) rmSync(out, { recursive: true, force: true });
    });

    it('starts with the development operator token active, as npm start does', () => {
      expect(service.config.tokens.has(DEV_OPERATOR_TOKEN)).toBe(true);
      expect(service.config.tokens.size).toBe(1);
    });

    it('exits 0, and every command gets a non-error JSON answer', () => {
      expect(run.status, run.stderr).toBe(0);
      const commands = curlCommands(runnable);
      const answered = readdirSync(out).filter((f) => f.endsWith('.status')).length;
      expect(answered, 'every curl command ran').toBe(commands.length);
      commands.forEach((command, i) => {
        const status = Number(readFileSync(join(out, `${i + 1}.status`), 'utf8'));
        const text = readFileSync(join(out, `${i + 1}.body`), 'utf8');
        const where = `${command.text}\n=> ${status} ${text.slice(0, 500)}`;
        expect(status, where).toBeGreaterThanOrEqual(200);
        expect(status, where).toBeLessThan(300);
        const body = JSON.parse(text) as Record<string, unknown>;
        expect(body.error, where).toBeUndefined();
        for (const { key, value } of command.promises) {
          expect(holds(body, key, value), `${where}\nexpected "${key}": "${value}"`).toBe(true);
        }
      });
    });
  });
});
