/**
 * The last lines of a process come out whole and in order: a final synchronous flush once wrote
 * `shutdown: done` before `shutdown: store connection closed`, whose write was still in flight.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support.ts';

describe('the last log lines before exit', () => {
  it('are written whole and in order, a write in flight first', async () => {
    const pad = 1_000_000;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/log-exit-child.ts', String(pad)],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message: string; pad?: string });
    expect(lines.map((l) => l.message)).toEqual([
      'shutdown: store connection closed',
      'shutdown: done',
    ]);
    expect(lines[0]!.pad).toHaveLength(pad);
  });
});
