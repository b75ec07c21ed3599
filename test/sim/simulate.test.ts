/**
 * The fleet simulator's scenarios, run briefly against the embedded service in virtual time:
 * each ends with the outcome it is built to show. The sizes are small to keep the file short;
 * the scenario logic is the one `npm run simulate` runs. Then the CLIs against `--url`: a real
 * service on real Redis (its token checked before the run), and a port nothing listens on.
 */
import { execFile } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, fetchWithin } from '../../sim/client.ts';
import { runFleet } from '../../sim/fleet.ts';
import { type Harness, embeddedHarness } from '../../sim/harness.ts';
import { SCENARIOS } from '../../sim/scenarios.ts';
import { type SimulationReport, count, formatReport } from '../../sim/report.ts';
import { ManualClock } from '../../src/clock.ts';
import { simulate } from '../../sim/simulate.ts';
import { OPERATOR, TOKEN_A, type TestService, startService } from '../helpers.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;

/** Runs a CLI of sim/ in a child process: its exit code and both outputs. */
async function cli(
  script: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A port on 127.0.0.1 that nothing listens on (taken, then freed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('npm run simulate', () => {
  it('steady: a healthy fleet is never rolled back and raises no alert', async () => {
    const r = await simulate({ scenario: 'steady', containers: 9, rounds: 10, seed: 3 });
    expect(r.rollbacks).toEqual([]);
    expect(r.alerts).toEqual([]);
    expect(r.workspaceStates).toEqual({ acp: 3 });
    expect(r.connections.entered.connected).toBeGreaterThanOrEqual(9);
    expect(r.heartbeats.sent).toBeGreaterThan(80);
  });

  it("an old agent's move to HTTP is not counted as a rollback in the progress line", async () => {
    const rollbacksShown: number[] = [];
    const r = await simulate({
      scenario: 'steady',
      containers: 10,
      rounds: 2,
      seed: 1,
      onRound: (p) => rollbacksShown.push(p.rollbacks),
    });
    // One container speaks ACP 2.0.0 and moves its session to HTTP: no workspace rolled back.
    expect(r.connections.unsupportedHandshakes).toBe(1);
    expect(r.connections.final['rolled-back']).toBe(1);
    expect(r.rollbacks).toEqual([]);
    expect(rollbacksShown).toEqual([0, 0]);
  });

  it('says one container, one workspace and one round in the singular', async () => {
    const r = await simulate({ scenario: 'steady', containers: 1, rounds: 1, seed: 1 });
    const text = formatReport(r);
    expect(text).toContain('1 container in 1 workspace, 1 round,');
    // Nothing sent is "none", not "0 (none; none)".
    expect(r.notifications.sent).toBe(0);
    expect(text).toMatch(/^notifications sent: +none$/m);
    expect(count(2, 'container')).toBe('2 containers');
    expect(count(0, 'operation')).toBe('0 operations');
  });

  it('warns before the run when --rounds end before what the scenario is built around', async () => {
    const said = async (scenario: 'flaky-workspace' | 'outage', rounds: number) => {
      const warnings: string[] = [];
      const r = await simulate({
        scenario,
        containers: 3,
        rounds,
        onWarning: (m) => warnings.push(m),
      });
      return { warnings, rollbacks: r.rollbacks.length };
    };
    expect(await said('flaky-workspace', 4)).toEqual({
      warnings: [
        '--rounds 4 ends before sim-ws-1 slips (from round 5): the run will show no rollback',
      ],
      rollbacks: 0,
    });
    expect(await said('outage', 2)).toEqual({
      warnings: [
        '--rounds 2 ends before the burst of failures (from round 3): the run will show no rollback',
      ],
      rollbacks: 0,
    });
    expect((await said('outage', 3)).warnings).toEqual([]);
  });

  it('starts the rounds --interval-ms apart: the time a round takes is not added to it', async () => {
    const embedded = await embeddedHarness();
    let taken = 0;
    const passes: number[] = [];
    // As against --url: time passes while a round's requests are answered (7 s per round here).
    const harness: Harness = {
      ...embedded,
      now: () => embedded.now() + taken,
      pass: async (ms) => {
        passes.push(ms);
        await embedded.pass(ms);
      },
    };
    try {
      await runFleet(new ApiClient(harness.url, harness.token), harness, {
        scenario: SCENARIOS.steady,
        installationId: 'sim-steady',
        idPrefix: 'sim-',
        seed: 1,
        intervalMs: 30_000,
        containers: 2,
        rounds: 3,
        onRound: () => {
          taken += 7_000;
        },
      });
    } finally {
      await embedded.close();
    }
    expect(passes).toEqual([23_000, 23_000]);
  });

  it('flaky-workspace: exactly one automatic rollback, of the flaky workspace only', async () => {
    const r = await simulate({ scenario: 'flaky-workspace', containers: 9, rounds: 12, seed: 1 });
    expect(r.rollbacks).toHaveLength(1);
    expect(r.rollbacks[0]).toMatchObject({
      workspaceId: 'sim-ws-1',
      trigger: 'auto-threshold',
      reasonCode: 'success-rate-below-threshold',
      connections: 3,
    });
    expect(r.rollbacks[0]!.successRate).toBeLessThan(0.99);
    expect(r.workspaceStates).toEqual({ acp: 2, 'http.cooldown': 1 });
    expect(r.connections.final['rolled-back']).toBe(3);
    expect(r.notifications.byChannel.toast).toBeGreaterThanOrEqual(1);
  });

  it('outage: a burst of failures rolls back at least one workspace', async () => {
    const r = await simulate({ scenario: 'outage', containers: 9, rounds: 10, seed: 2 });
    expect(r.rollbacks.length).toBeGreaterThanOrEqual(1);
    expect(r.rollbacks.every((b) => b.trigger === 'auto-threshold')).toBe(true);
    expect(r.connections.entered['rolled-back']).toBeGreaterThanOrEqual(1);
  });

  it('capacity-surge: a warning, then a critical alert, then 503 capacity-shed', async () => {
    const r = await simulate({ scenario: 'capacity-surge', capacity: 20, rounds: 6, seed: 4 });
    expect(r.containers).toBe(20); // 97 % of 20, rounded up
    expect(r.capacity.statesSeen).toEqual(expect.arrayContaining(['warning', 'critical']));
    expect(r.capacity.statesSeen.indexOf('warning')).toBeLessThan(
      r.capacity.statesSeen.indexOf('critical'),
    );
    expect(r.alerts).toHaveLength(1); // one alert, escalated
    expect(r.alerts[0]).toMatchObject({ trigger: 'critical', resolvedAt: null });
    // One notification when it opened as a warning, one when it escalated.
    expect(r.notifications.sent).toBeGreaterThanOrEqual(2);
    expect(r.capacity.shedAnswers).toBeGreaterThanOrEqual(1);
    expect(r.requests.errorCodes['capacity-shed']).toBe(r.capacity.shedAnswers);
    expect(r.capacity.refusedConnections).toBe(r.capacity.shedAnswers);
  });

  it('migration-wave: every workspace that users opted in ends on ACP', async () => {
    const r = await simulate({ scenario: 'migration-wave', containers: 10, rounds: 8, seed: 5 });
    expect(r.workspaceStates).toEqual({ acp: 5 });
    expect(r.migrations.requested).toBe(5);
    expect(r.migrations.byStatus).toEqual({ succeeded: 5 });
    // The old agent (ACP 2.0.0) was refused, then moved its session to HTTP.
    expect(r.connections.unsupportedHandshakes).toBe(1);
    expect(r.connections.transitions['connecting -> error']).toBe(1);
    expect(r.connections.final['rolled-back']).toBe(1);
    expect(r.rollbacks).toEqual([]);
  });

  it('the same seed gives the same run', async () => {
    const strip = (r: SimulationReport) => ({ ...r, wallMs: 0, requests: null });
    const a = await simulate({ scenario: 'flaky-workspace', containers: 6, rounds: 8, seed: 9 });
    const b = await simulate({ scenario: 'flaky-workspace', containers: 6, rounds: 8, seed: 9 });
    expect(strip(a).heartbeats).toEqual(strip(b).heartbeats);
    expect(a.rollbacks.map((x) => x.at)).toEqual(b.rollbacks.map((x) => x.at));
  });

  it('the CLI prints the report as JSON with --json', async () => {
    const { stdout } = await run(
      'npx',
      [
        'tsx',
        'sim/cli.ts',
        '--scenario',
        'flaky-workspace',
        '--containers',
        '9',
        '--rounds',
        '12',
        '--json',
      ],
      { cwd: ROOT, timeout: 60_000 },
    );
    const report = JSON.parse(stdout) as SimulationReport;
    expect(report.scenario).toBe('flaky-workspace');
    expect(report.mode).toBe('virtual');
    expect(report.rollbacks.filter((b) => b.trigger === 'auto-threshold')).toHaveLength(1);
  }, 60_000);
});

describe('npm run simulate --url: the service is checked before the run', () => {
  let service: TestService;
  beforeAll(async () => {
    // The fleet stamps heartbeats with the real time: the service's clock starts there too.
    service = await startService({}, new ManualClock(Date.now()));
  });
  afterAll(async () => {
    await service.close();
  });

  const connections = async () =>
    (
      (await service.api('GET', '/v1/connections')).body as { items: { connectionId: string }[] }
    ).items.map((c) => c.connectionId);

  const against = (token: string, ...more: string[]) => [
    '--scenario',
    'steady',
    '--url',
    service.url,
    '--token',
    token,
    '--containers',
    '3',
    '--rounds',
    '1',
    '--interval-ms',
    '10',
    ...more,
  ];

  it('a token the service does not accept fails at once with exit 1 and one line', async () => {
    const r = await cli('sim/cli.ts', against('wrong-token-xxxxxxxxxxxx'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `simulation failed: the service at ${service.url} did not accept the token (401 unauthorized: the bearer token is not valid); an operator token is needed\n`,
    );
    // Nothing was sent but the check: no connection of the run exists.
    expect(await connections()).toEqual([]);
  });

  it('an installation token fails with exit 1: it is not an operator token', async () => {
    const r = await cli('sim/cli.ts', against(TOKEN_A));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^simulation failed: the token is not an operator token \(403 forbidden: reading dead letters needs an operator token\); [^\n]*\n$/,
    );
    expect(await connections()).toEqual([]);
  });

  it('an operator token passes the check and the run reports from the service', async () => {
    const r = await cli('sim/cli.ts', against(OPERATOR, '--json'));
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as SimulationReport;
    expect(report.mode).toBe('real');
    expect(report.containers).toBe(3);
    // Every answer of the run was a success: the token was fit for all of it.
    expect(Object.keys(report.requests.byStatus).sort()).toEqual(['200', '201']);
    expect(report.connections.final).toEqual({ connected: 3 });
    expect(report.heartbeats.sent).toBe(3);
    expect(report.migrations.requested).toBe(1);
  });

  it("the expected outcome names this run's workspace, not the embedded id", async () => {
    const report = await simulate({
      scenario: 'flaky-workspace',
      url: service.url,
      token: OPERATOR,
      containers: 3,
      rounds: 1,
      intervalMs: 10,
    });
    const prefix = report.installationId.replace(/flaky-workspace$/, '');
    expect(prefix).toMatch(/^sim-[0-9a-z]+-$/);
    expect(report.expected).toBe(
      `exactly one automatic rollback (auto-threshold), of ${prefix}ws-1 only`,
    );
  });

  it('--capacity with --url is a usage error (exit 2): it sets only the embedded service', async () => {
    const before = await connections();
    const r = await cli('sim/cli.ts', against(OPERATOR, '--capacity', '20'));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^--capacity is for the embedded service only: /);
    expect(r.stderr).toContain('usage: npm run simulate');
    expect(await connections()).toEqual(before);
  });
});

/**
 * `npm run simulate --scenario steady --url <a port nothing listens on>` with `args`, which must
 * be a usage error: exit 2, nothing on stdout, before anything is sent. Its stderr.
 */
async function simulateUsageError(args: string[]): Promise<string> {
  const port = await closedPort();
  const r = await cli('sim/cli.ts', [
    '--scenario',
    'steady',
    '--url',
    `http://127.0.0.1:${port}`,
    ...args,
  ]);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  return r.stderr;
}

describe('npm run simulate --token ""', () => {
  it('is a usage error (exit 2) rather than a run with the development token', async () => {
    expect(await simulateUsageError(['--token', ''])).toMatch(
      /^--token is empty \(an unset variable\?\): give the operator token, or leave --token out for the development one\n\nusage: npm run simulate/,
    );
  });
});

describe('npm run simulate --token without --url', () => {
  it('is a usage error (exit 2) rather than an embedded run that never uses the token', async () => {
    const r = await cli('sim/cli.ts', ['--scenario', 'steady', '--token', OPERATOR]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^--token is for --url only: [^\n]*\n\nusage: npm run simulate/);
  });
});

describe('an unreachable --url', () => {
  it('npm run simulate names the URL and the cause', async () => {
    const port = await closedPort();
    const r = await cli('sim/cli.ts', [
      '--scenario',
      'steady',
      '--url',
      `http://127.0.0.1:${port}`,
      '--rounds',
      '1',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `simulation failed: cannot reach http://127.0.0.1:${port}: ECONNREFUSED 127.0.0.1:${port}\n`,
    );
  });

  it('npm run what-if names the URL and the cause', async () => {
    const port = await closedPort();
    const r = await cli('sim/what-if.ts', [
      '--workspace',
      'ws-1',
      '--from',
      '2026-01-05T09:00:00Z',
      '--url',
      `http://127.0.0.1:${port}/`,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `what-if failed: cannot reach http://127.0.0.1:${port}: ECONNREFUSED 127.0.0.1:${port}\n`,
    );
  });
});

describe('an https:// --url of a plain http service', () => {
  it('both CLIs say that TLS failed and why, not a line of OpenSSL internals', async () => {
    const plain = createHttpServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(plain.address() as { port: number }).port}`;
    try {
      const said = `cannot reach ${url}: TLS failed: wrong version number (it does not speak TLS: an http:// URL?)\n`;
      const sim = await cli('sim/cli.ts', ['--scenario', 'steady', '--url', url, '--rounds', '1']);
      expect(sim.code).toBe(1);
      expect(sim.stderr).toBe(`simulation failed: ${said}`);
      const whatIf = await cli('sim/what-if.ts', [
        '--workspace',
        'ws-1',
        '--from',
        '2026-01-05T09:00:00Z',
        '--url',
        url,
      ]);
      expect(whatIf.code).toBe(1);
      expect(whatIf.stderr).toBe(`what-if failed: ${said}`);
    } finally {
      plain.closeAllConnections();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });
});

describe('a --url that is not a service address is a usage error (exit 2), sent nowhere', () => {
  const whatIf = (url: string) =>
    cli('sim/what-if.ts', ['--workspace', 'ws-1', '--from', '2026-01-05T09:00:00Z', '--url', url]);
  const simulateAt = (url: string) =>
    cli('sim/cli.ts', ['--scenario', 'steady', '--url', url, '--rounds', '1']);

  it('a user name or password in it: refused, and the password is never printed', async () => {
    const port = await closedPort();
    const url = `http://ops:s3cret-pw@127.0.0.1:${port}`;
    for (const r of [await simulateAt(url), await whatIf(url)]) {
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(
        /^--url must not carry a user name or password: give the token with --token\n\nusage: npm run /,
      );
      expect(r.stderr).not.toContain('s3cret-pw');
    }
  });

  it('not an http(s) URL: the same one line for both CLIs', async () => {
    for (const url of ['not-a-url', '']) {
      for (const r of [await simulateAt(url), await whatIf(url)]) {
        expect(r.code, url).toBe(2);
        expect(r.stderr).toMatch(
          /^--url must be an http:\/\/ or https:\/\/ URL, e.g. http:\/\/127\.0\.0\.1:3000\n\nusage: npm run /,
        );
      }
    }
  }, 60_000);
});

describe('npm run simulate: numbers out of range are usage errors (exit 2)', () => {
  it('an --interval-ms beyond what a Node timer waits, instead of rounds 1 ms apart', async () => {
    expect(await simulateUsageError(['--interval-ms', '3000000000'])).toMatch(
      /^--interval-ms must be a whole number from 1 to 2147483647\n\nusage:/,
    );
  });

  it('a --capacity beyond the numbers JavaScript holds exactly, not an error about the environment', async () => {
    const r = await cli('sim/cli.ts', ['--scenario', 'steady', '--capacity', '99999999999999999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^--capacity must be a whole number at most 9007199254740991\n\nusage:/,
    );
  });

  it('a seed beyond 32 bits (it would repeat the run of a small one), or not in decimal digits', async () => {
    for (const seed of ['4294967297', '1e3']) {
      const r = await cli('sim/cli.ts', ['--scenario', 'steady', '--seed', seed]);
      expect(r.code, seed).toBe(2);
      expect(r.stderr).toMatch(/^--seed must be a whole number from 0 to 4294967295\n\nusage:/);
    }
  });
});

describe('a --url that answers, but not as the service', () => {
  it('both CLIs say so in one line (exit 1), not as a JSON parse error', async () => {
    const page = createHttpServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><p>not here</p>');
    });
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(page.address() as { port: number }).port}`;
    try {
      const said = `${url} answered 404 (text/html) with a body that is not JSON: is it the service?\n`;
      const sim = await cli('sim/cli.ts', ['--scenario', 'steady', '--url', url, '--rounds', '1']);
      expect(sim.code).toBe(1);
      expect(sim.stderr).toBe(`simulation failed: ${said}`);
      const whatIf = await cli('sim/what-if.ts', [
        '--workspace',
        'ws-1',
        '--from',
        '2026-01-05T09:00:00Z',
        '--url',
        url,
      ]);
      expect(whatIf.code).toBe(1);
      expect(whatIf.stderr).toBe(`what-if failed: ${said}`);
    } finally {
      await new Promise<void>((resolve) => page.close(() => resolve()));
    }
  });

  it('npm run what-if: an error answer without a body (a 502 of a proxy) is named, not a TypeError', async () => {
    const gateway = createHttpServer((_req, res) => {
      res.writeHead(502);
      res.end();
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`;
    try {
      const r = await cli('sim/what-if.ts', [
        '--workspace',
        'ws-1',
        '--from',
        '2026-01-05T09:00:00Z',
        '--url',
        url,
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`what-if failed: ${url} answered 502 without an error in its body\n`);
    } finally {
      await new Promise<void>((resolve) => gateway.close(() => resolve()));
    }
  });
});

describe('a --url that accepts the connection and never answers', () => {
  it('npm run what-if gives up after its time limit, naming the URL, instead of hanging', async () => {
    const silent = createHttpServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      await expect(fetchWithin(url, '/v1/workspaces/ws-1/what-if', {}, 300)).rejects.toThrow(
        `no answer from ${url} within 0.3 s`,
      );
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
