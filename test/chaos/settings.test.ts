/**
 * `npm run chaos` with a setting it cannot use: one line on stderr, exit 2, before anything runs,
 * and bench/chaos-results.md (the measured table the README quotes) is left as it was. A typo such
 * as `CHAOS_SCENARIOS=5` used to run no scenario, exit 0 and overwrite the file with an empty
 * table.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const RESULTS = `${ROOT}bench/chaos-results.md`;

function chaos(env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/chaos.ts'],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 30_000 },
      (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

describe('npm run chaos refuses a bad setting before it runs', () => {
  it.each([
    [
      'CHAOS_SCENARIOS',
      '5',
      /^CHAOS_SCENARIOS must list scenario numbers from 1 to 4, such as 1,3 \(got "5": "5" is not one\)\n$/,
    ],
    [
      'CHAOS_SCENARIOS',
      '1,x',
      /^CHAOS_SCENARIOS must list scenario numbers from 1 to 4, such as 1,3 \(got "1,x": "x" is not one\)\n$/,
    ],
    ['CHAOS_SCENARIOS', '0', /"0" is not one\)\n$/],
    [
      'CHAOS_SECONDS',
      'ten',
      /^CHAOS_SECONDS must be a positive number of seconds, such as 10 \(got "ten"\)\n$/,
    ],
    ['CHAOS_SECONDS', '0', /^CHAOS_SECONDS must be a positive number of seconds/],
  ])(
    '%s=%s: exit 2, one line, nothing run or written',
    async (name, value, message) => {
      const before = { text: readFileSync(RESULTS, 'utf8'), mtime: statSync(RESULTS).mtimeMs };
      const r = await chaos({ [name]: value });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
      expect({ text: readFileSync(RESULTS, 'utf8'), mtime: statSync(RESULTS).mtimeMs }).toEqual(
        before,
      );
    },
    30_000,
  );
});
