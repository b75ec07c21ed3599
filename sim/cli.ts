/**
 * `npm run simulate -- --scenario <name> [--url http://host:port --token T] [--containers N]
 * [--rounds N] [--interval-ms MS] [--capacity N] [--seed S] [--json]`
 *
 * Without --url the service runs embedded in virtual time; with it, in real time against that
 * service. The progress bar goes to stderr; the report (text, or JSON with --json) to stdout.
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { urlProblem } from './client.ts';
import type { RoundProgress } from './fleet.ts';
import { formatReport } from './report.ts';
import { SCENARIO_NAMES, isScenarioName } from './scenarios.ts';
import { simulate } from './simulate.ts';

const USAGE = `usage: npm run simulate -- --scenario <${SCENARIO_NAMES.join('|')}> [options]

  --url URL          a running service (real time); default: an embedded one in virtual time
  --token T          bearer token for --url (operator; default the development token)
  --containers N     fleet size (default per scenario; capacity-surge: 97 % of capacity)
  --rounds N         heartbeat rounds (default per scenario)
  --interval-ms MS   time between rounds (default 30000 virtual, 5000 real; at most
                     2147483647); keep it below the service's HEARTBEAT_TIMEOUT_MS
                     (embedded: warned on stderr)
  --capacity N       embedded only: CAPACITY_PER_WORKER (default 100)
  --seed S           PRNG seed, 0 to 4294967295 (default 1): the same seed gives the same run
  --json             print the report as JSON
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(2);
}

/** Node's timers wait at most this long: a longer real-time --interval-ms would fire after 1 ms. */
const MAX_INTERVAL_MS = 2 ** 31 - 1;
/** The PRNG mixes the seed as 32 bits: 2^32 + 1 would give the run of seed 1. */
const MAX_SEED = 2 ** 32 - 1;

/** A whole number in decimal digits (`1e3`, `0x10` and an empty value are refused). */
function integer(
  name: string,
  value: string | undefined,
  min: number,
  max?: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  // Beyond 2^53 the digits are not the number read (and CAPACITY_PER_WORKER refuses it).
  if (/^\d+$/.test(value) && !Number.isSafeInteger(n))
    fail(`--${name} must be a whole number at most ${Number.MAX_SAFE_INTEGER}`);
  if (!/^\d+$/.test(value) || n < min || (max !== undefined && n > max))
    fail(
      `--${name} must be a whole number ${max === undefined ? `≥ ${min}` : `from ${min} to ${max}`}`,
    );
  return n;
}

function progressReporter(): { update(p: RoundProgress): void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format:
          'simulating [{bar}] round {value}/{total} | {clock} | live {live} | rollbacks {rollbacks} | shed {shed}',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(p) {
        const payload = {
          clock: new Date(p.at).toISOString().slice(11, 19),
          live: p.live,
          rollbacks: p.rollbacks,
          shed: p.shed,
        };
        if (!started) {
          bar.start(p.rounds, p.round, payload);
          started = true;
        } else bar.update(p.round, payload);
      },
      stop: () => bar.stop(),
    };
  }
  // Not a terminal (CI, a pipe): a plain line every tenth of the run.
  let last = -1;
  return {
    update(p) {
      const tenth = Math.floor((p.round * 10) / p.rounds);
      if (tenth === last && p.round !== p.rounds) return;
      last = tenth;
      process.stderr.write(
        `round ${p.round}/${p.rounds} at ${new Date(p.at).toISOString()}: live ${p.live}, rollbacks ${p.rollbacks}, shed ${p.shed}\n`,
      );
    },
    stop() {},
  };
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        scenario: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        containers: { type: 'string' },
        rounds: { type: 'string' },
        'interval-ms': { type: 'string' },
        capacity: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const scenario = values.scenario;
  if (!scenario || !isScenarioName(scenario))
    fail(`unknown or missing --scenario: ${scenario ?? ''}`);
  const urlError = values.url === undefined ? null : urlProblem(values.url);
  if (urlError) fail(urlError);
  if (values.token === '')
    fail(
      '--token is empty (an unset variable?): give the operator token, or leave --token out for the development one',
    );
  if (values.url === undefined && values.token !== undefined)
    fail(
      '--token is for --url only: the embedded service makes its own operator token (did you mean to add --url?)',
    );
  if (values.url && values.capacity !== undefined)
    fail(
      "--capacity is for the embedded service only: with --url the capacity is that service's CAPACITY_PER_WORKER",
    );
  const containers = integer('containers', values.containers, 1);
  const rounds = integer('rounds', values.rounds, 1);
  const intervalMs = integer('interval-ms', values['interval-ms'], 1, MAX_INTERVAL_MS);
  const capacity = integer('capacity', values.capacity, 1);
  const seed = integer('seed', values.seed, 0, MAX_SEED);
  const progress = progressReporter();
  // Ctrl-C mid-run: the bar hid the cursor and turned off line wrapping, and dying by the signal
  // would leave the terminal so. Give it back and say that the run was cut short.
  const interrupted = (signal: NodeJS.Signals) => {
    progress.stop();
    process.stderr.write(
      `simulation interrupted by ${signal}: no report${values.url ? ` (the connections it registered stay on ${values.url})` : ''}\n`,
    );
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const report = await simulate({
      scenario,
      ...(values.url ? { url: values.url } : {}),
      ...(values.token ? { token: values.token } : {}),
      ...(containers === undefined ? {} : { containers }),
      ...(rounds === undefined ? {} : { rounds }),
      ...(intervalMs === undefined ? {} : { intervalMs }),
      ...(capacity === undefined ? {} : { capacity }),
      ...(seed === undefined ? {} : { seed }),
      onRound: (p) => progress.update(p),
    });
    progress.stop();
    process.stdout.write(
      values.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${formatReport(report)}\n`,
    );
  } catch (error) {
    progress.stop();
    process.stderr.write(
      `simulation failed: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = 1;
  }
}

await main();
