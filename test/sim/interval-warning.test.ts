/**
 * `npm run simulate` with rounds at least as far apart as the service's heartbeat timeout: every
 * connection times out between two of its heartbeats, so the run ends with the fleet in `error`
 * whatever the scenario. The simulator says so on stderr before it runs when it knows the
 * timeout (the embedded service: the config it starts), and says nothing against `--url`, whose
 * configuration it cannot read.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulationReport } from '../../sim/report.ts';
import { intervalWarning, simulate } from '../../sim/simulate.ts';
import { ManualClock } from '../../src/clock.ts';
import { DEFAULT_CONNECTION_THRESHOLDS } from '../../machines/shared/connection-types.ts';
import { OPERATOR, type TestService, startService } from '../helpers.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const TIMEOUT_MS = DEFAULT_CONNECTION_THRESHOLDS.heartbeatTimeoutMs;

const WARNING =
  `warning: --interval-ms ${TIMEOUT_MS} is not below the service's heartbeat timeout ` +
  `(HEARTBEAT_TIMEOUT_MS = ${TIMEOUT_MS} ms): every connection will be counted as dropped ` +
  `between two rounds and the run will end with the fleet in error; use an interval below ` +
  `${TIMEOUT_MS} ms`;

describe('--interval-ms at or above the heartbeat timeout', () => {
  it('the CLI warns once on stderr before the run, and the report (stdout) shows why', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'sim/cli.ts',
        '--scenario',
        'steady',
        '--containers',
        '3',
        '--rounds',
        '2',
        '--interval-ms',
        String(TIMEOUT_MS),
        '--json',
      ],
      { cwd: ROOT, timeout: 60_000 },
    );
    // First on stderr, before any progress line; once.
    expect(stderr.startsWith(`${WARNING}\n`), stderr).toBe(true);
    expect(stderr.split('warning:')).toHaveLength(2);
    // The report alone on stdout: the warning does not break --json.
    const report = JSON.parse(stdout) as SimulationReport;
    expect(report.mode).toBe('virtual');
    // What the warning announces: the connections timed out between the two rounds.
    expect(report.connections.entered.error).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('says nothing for an interval below the timeout', async () => {
    const warnings: string[] = [];
    await simulate({
      scenario: 'steady',
      containers: 1,
      rounds: 2,
      intervalMs: TIMEOUT_MS - 1,
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([]);
  });

  it('says nothing for a single round, which waits no interval', async () => {
    const warnings: string[] = [];
    const r = await simulate({
      scenario: 'steady',
      containers: 1,
      rounds: 1,
      intervalMs: TIMEOUT_MS,
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([]);
    expect(r.connections.final).toEqual({ connected: 1 });
  });

  it('warns from the timeout on, and not when the timeout is not known', () => {
    expect(intervalWarning(TIMEOUT_MS - 1, TIMEOUT_MS)).toBeNull();
    expect(`warning: ${intervalWarning(TIMEOUT_MS, TIMEOUT_MS)}`).toBe(WARNING);
    expect(intervalWarning(10 * TIMEOUT_MS, TIMEOUT_MS)).toContain(
      `--interval-ms ${10 * TIMEOUT_MS}`,
    );
    expect(intervalWarning(10 * TIMEOUT_MS, null)).toBeNull();
  });
});

describe('against --url', () => {
  let service: TestService;
  beforeAll(async () => {
    // The fleet stamps heartbeats with the real time: the service's clock starts there too.
    service = await startService({}, new ManualClock(Date.now()));
  });
  afterAll(async () => {
    await service.close();
  });

  it("says nothing: the service's HEARTBEAT_TIMEOUT_MS is not known", async () => {
    const warnings: string[] = [];
    // One round: nothing waits for the interval.
    const report = await simulate({
      scenario: 'steady',
      url: service.url,
      token: OPERATOR,
      containers: 1,
      rounds: 1,
      intervalMs: 10 * TIMEOUT_MS,
      onWarning: (m) => warnings.push(m),
    });
    expect(report.mode).toBe('real');
    expect(warnings).toEqual([]);
  });
});
