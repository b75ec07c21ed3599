/**
 * One simulation run: picks the harness (embedded in virtual time, or a URL in real time), drives
 * the fleet and builds the report. The CLI and the tests both call `simulate`.
 */
import { randomBytes } from 'node:crypto';
import { ApiClient, type ApiErrorBody, RETRY_WINDOW_MS, errorCode } from './client.ts';
import { type RoundProgress, runFleet } from './fleet.ts';
import { type Harness, embeddedHarness, remoteHarness } from './harness.ts';
import { type SimulationReport, buildReport } from './report.ts';
import { SCENARIOS, type ScenarioName } from './scenarios.ts';

export interface SimulateOptions {
  scenario: ScenarioName;
  /** A running service; when absent, one is started in-process in virtual time. */
  url?: string;
  /** Bearer token for `url` (an operator token: migrations and settings need one). */
  token?: string;
  containers?: number;
  rounds?: number;
  /** Time between heartbeat rounds; default 30 s virtual, 5 s real. */
  intervalMs?: number;
  seed?: number;
  /** Embedded only: CAPACITY_PER_WORKER (default 100). */
  capacity?: number;
  onRound?: (progress: RoundProgress) => void;
  /**
   * How long the service may answer only 503 `store-unavailable` (or `contention`,
   * `replication-timeout`) before the run fails; each is retried after its Retry-After
   * meanwhile. Default RETRY_WINDOW_MS (30 s).
   */
  retryWindowMs?: number;
  /** Told, before the run, what makes its outcome misleading (default: written to stderr). */
  onWarning?: (message: string) => void;
}

/** The development operator token of the README, for a local `npm start`. */
export const DEV_TOKEN = 'dev-operator-token-change-me';

/**
 * Asks the service once, before a run against it, whether `harness.token` is an operator token:
 * `GET /v1/installations/:id/dead-letters` (operator only; of the run's own fresh installation,
 * so there is nothing to read). Throws a one-line error when the answer is not 200: 401 (the
 * token is not accepted), 403 (an installation token), anything else with its status and code.
 * Its own client, so the report's request tally is the fleet's alone.
 *
 * @example
 * await checkOperatorToken(remoteHarness('http://127.0.0.1:3000', 'wrong'), 'sim-x');
 * // Error: the service at http://127.0.0.1:3000 did not accept the token (401 unauthorized: …)
 */
export async function checkOperatorToken(
  harness: Pick<Harness, 'url' | 'token'>,
  installationId: string,
  retryWindowMs = RETRY_WINDOW_MS,
): Promise<void> {
  const path = `/v1/installations/${encodeURIComponent(installationId)}/dead-letters`;
  const answer = await new ApiClient(harness.url, harness.token, retryWindowMs).call('GET', path);
  if (answer.status === 200) return;
  const error = (answer.body as Partial<ApiErrorBody> | null)?.error;
  const said = `${answer.status} ${errorCode(answer)}${error?.message ? `: ${error.message}` : ''}`;
  if (answer.status === 401)
    throw new Error(
      `the service at ${harness.url} did not accept the token (${said}); an operator token is needed`,
    );
  if (answer.status === 403)
    throw new Error(
      `the token is not an operator token (${said}); the simulator needs one of OPERATOR_TOKENS (it migrates workspaces as operator)`,
    );
  throw new Error(`checking the token at ${harness.url}: GET ${path} answered ${said}`);
}

/**
 * The warning for rounds at least as far apart as the service's heartbeat timeout: every
 * connection would be counted as dropped between two of its heartbeats and the run would end
 * with the fleet in `error`, whatever the scenario. Null when the interval is shorter, or when
 * the timeout is not known (against `--url`).
 *
 * @example
 * intervalWarning(90_000, 90_000); // '--interval-ms 90000 is not below …'
 */
export function intervalWarning(
  intervalMs: number,
  heartbeatTimeoutMs: number | null,
): string | null {
  if (heartbeatTimeoutMs === null || intervalMs < heartbeatTimeoutMs) return null;
  return (
    `--interval-ms ${intervalMs} is not below the service's heartbeat timeout ` +
    `(HEARTBEAT_TIMEOUT_MS = ${heartbeatTimeoutMs} ms): every connection will be counted as ` +
    `dropped between two rounds and the run will end with the fleet in error; ` +
    `use an interval below ${heartbeatTimeoutMs} ms`
  );
}

const warnOnStderr = (message: string) => {
  process.stderr.write(`warning: ${message}\n`);
};

/**
 * Runs one scenario and answers its report.
 *
 * @example
 * const report = await simulate({ scenario: 'flaky-workspace', seed: 7 });
 * report.rollbacks.length; // 1
 */
export async function simulate(options: SimulateOptions): Promise<SimulationReport> {
  const scenario = SCENARIOS[options.scenario];
  const seed = options.seed ?? 1;
  const harness: Harness = options.url
    ? remoteHarness(options.url, options.token ?? DEV_TOKEN)
    : await embeddedHarness(options.capacity === undefined ? {} : { capacity: options.capacity });
  // Against a shared service every run gets fresh ids: connection ids are global and a
  // workspace remembers its cooldowns and flap history.
  const tag =
    harness.mode === 'real' ? `${Date.now().toString(36)}${randomBytes(2).toString('hex')}-` : '';
  const installationId = `sim-${tag}${scenario.name}`;
  const intervalMs = options.intervalMs ?? (harness.mode === 'virtual' ? 30_000 : 5_000);
  const started = performance.now();
  try {
    const warn = options.onWarning ?? warnOnStderr;
    // One round waits no interval: nothing to warn about.
    const rounds = options.rounds ?? scenario.rounds;
    const warning = rounds > 1 ? intervalWarning(intervalMs, harness.heartbeatTimeoutMs) : null;
    if (warning !== null) warn(warning);
    // A wrong token would otherwise give a "successful" run of 401 answers.
    const retryWindowMs = options.retryWindowMs ?? RETRY_WINDOW_MS;
    if (harness.mode === 'real') await checkOperatorToken(harness, installationId, retryWindowMs);
    const api = new ApiClient(harness.url, harness.token, retryWindowMs);
    const observed = await runFleet(api, harness, {
      scenario,
      installationId,
      idPrefix: `sim-${tag}`,
      seed,
      intervalMs,
      ...(options.containers === undefined ? {} : { containers: options.containers }),
      ...(options.rounds === undefined ? {} : { rounds: options.rounds }),
      ...(options.onRound ? { onRound: options.onRound } : {}),
      onWarning: warn,
    });
    await harness.settle();
    return await buildReport(api, {
      // The expectation names the embedded ids (sim-ws-1): say the ids of this run.
      scenario: { ...scenario, expected: scenario.expected.replaceAll('sim-ws-', `sim-${tag}ws-`) },
      seed,
      mode: harness.mode,
      installationId,
      observed,
      wallMs: Math.round(performance.now() - started),
    });
  } finally {
    await harness.close();
  }
}
