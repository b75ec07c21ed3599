/**
 * `npm run chaos`: the service as deployed (three processes behind a round-robin client) while
 * things break, one scenario after another:
 *
 *   1. kill -9 of one service process, restarted CHAOS_SECONDS / 2 later (shared Redis, own prefix)
 *   2. Redis (our own, AOF with fsync always) killed for CHAOS_SECONDS, restarted on its data dir
 *   3. Redis frozen with SIGSTOP for CHAOS_SECONDS, then SIGCONT
 *   4. Redis Cluster (3 + 3, scripts/redis-cluster.sh): a master killed, its replica promoted
 *
 * Prints a markdown table, writes it to bench/chaos-results.md, and exits 1 when a scenario lost,
 * double-counted or wrongly refused a heartbeat, or could not run to the end.
 *
 * Env: CHAOS_SECONDS (default 10) scales the outages and load phases; CHAOS_SCENARIOS picks
 * scenarios by number (e.g. "1,3"; a value that is not a scenario number, or a CHAOS_SECONDS that is
 * not a positive number, is one line on stderr and exit 2, and nothing is run or written); REDIS_URL (default redis://127.0.0.1:6379) is the shared Redis
 * of scenario 1, of which only this run's keys are touched.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import prettier from 'prettier';
import { ROOT } from './processes.ts';
import { type Outcome, renderChaos } from './chaos/report.ts';
import { SCENARIOS } from './chaos/catalog.ts';
import { chaosOptions, passed, runScenario } from './chaos/scenarios.ts';
import { readChaosEnv } from './chaos/env.ts';

// A bad setting is one line on stderr and exit 2, before anything runs or is written.
const env = readChaosEnv(process.env, SCENARIOS.length);
if ('error' in env) {
  process.stderr.write(`${env.error}\n`);
  process.exit(2);
}
const SECONDS = env.seconds;
const picked = env.picked;

const log = (message: string) => process.stdout.write(`[chaos] ${message}\n`);

function revision(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' });
    const dirty = git('status', '--porcelain', '--', 'src', 'machines').trim() !== '';
    return `${git('rev-parse', '--short', 'HEAD').trim()}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const options = chaosOptions(SECONDS, { log, signal: interrupt.signal });
  const outcomes: Outcome[] = [];
  for (const [i, scenario] of SCENARIOS.entries()) {
    if (!picked.includes(i + 1) || interrupt.signal.aborted) continue;
    try {
      outcomes.push(await runScenario(scenario, options));
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`${scenario.name} did not complete: ${message}`);
      outcomes.push({ name: scenario.name, error: message });
    }
  }

  const file = `${ROOT}bench/chaos-results.md`;
  const markdown = await prettier.format(
    renderChaos(outcomes, options, { date: new Date().toISOString(), revision: revision() }),
    { ...(await prettier.resolveConfig(file)), parser: 'markdown' },
  );
  await writeFile(file, markdown);
  process.stdout.write(`\n${markdown}\n`);
  log(`written to bench/chaos-results.md`);
  return outcomes.every((o) => !('error' in o) && passed(o)) ? 0 : 1;
}

// Ctrl-C aborts the scenario that runs, which still stops its processes and removes its store or
// keys; a second Ctrl-C exits at once.
const interrupt = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupt.signal.aborted) process.exit(130);
    log(`${signal}: cleaning up (again to exit at once)`);
    interrupt.abort(new Error(`interrupted by ${signal}`));
  });
}

process.exitCode = await main();
if (interrupt.signal.aborted) process.exitCode = 130;
