/**
 * `npm run simulate` stopped mid-run with Ctrl-C (SIGINT) or SIGTERM: one line on stderr, exit
 * 130 / 143, and on a terminal the progress bar's cursor and line wrapping given back (the bar
 * hides the cursor while it runs). The terminal is a real pseudo-terminal, from util-linux
 * `script`, and the Ctrl-C is the byte 0x03 typed into it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
/** Long enough never to end by itself while the test runs. */
const ARGS = ['--import', 'tsx', 'sim/cli.ts', '--scenario', 'steady', '--rounds', '100000'];

const HIDE_CURSOR = '\u001b[?25l';
const SHOW_CURSOR = '\u001b[?25h';

/** Resolves with everything `child` wrote once `seen` appears in it, and at exit with all. */
function outputOf(child: ChildProcess) {
  let text = '';
  const waiting: { seen: string; resolve: () => void }[] = [];
  const take = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const w of waiting.filter((w) => text.includes(w.seen))) w.resolve();
  };
  running.add(child);
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    text: () => text,
    until: (seen: string) =>
      text.includes(seen)
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiting.push({ seen, resolve })),
    exited,
  };
}

/** Children still running when a test ends (it failed): stopped, so no run is left behind. */
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  running.clear();
});

describe('npm run simulate interrupted', () => {
  it('Ctrl-C on a terminal: the cursor is shown again, one line, exit 130', async () => {
    const command = [process.execPath, ...ARGS].join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out = outputOf(child);
    await out.until('simulating ['); // the bar is drawn: the cursor is hidden
    child.stdin.write('\u0003');
    const { code } = await out.exited;
    const text = out.text();
    expect(code).toBe(130);
    expect(text.lastIndexOf(SHOW_CURSOR)).toBeGreaterThan(text.lastIndexOf(HIDE_CURSOR));
    expect(text).toContain('simulation interrupted by SIGINT: no report');
  }, 60_000);

  it('SIGINT without a terminal: the same line on stderr and exit 130, not death by the signal', async () => {
    const child = spawn(process.execPath, ARGS, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = outputOf(child);
    await out.until('round 1/100000');
    child.kill('SIGINT');
    expect(await out.exited).toEqual({ code: 130, signal: null });
    expect(out.text()).toMatch(/\nsimulation interrupted by SIGINT: no report\n$/);
  }, 60_000);

  it('SIGTERM to `npm run simulate` itself reaches the simulator (npm execs it): none is orphaned', async () => {
    // As a supervisor or `kill <pid>` sends it: to npm's process, not to its process group.
    // The script used to run `tsx` under `sh`, which npm's forwarded signal did not reach: the
    // simulator ran on, orphaned, and npm exited without its report or its line.
    const child = spawn('npm', ['run', '-s', 'simulate', '--', ...ARGS.slice(3)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = outputOf(child);
    await out.until('round 1/100000');
    child.kill('SIGTERM');
    expect((await out.exited).code).toBe(143);
    // The line is the simulator's own: the signal reached it, and it stopped.
    expect(out.text()).toMatch(/\nsimulation interrupted by SIGTERM: no report\n/);
  }, 60_000);
});
