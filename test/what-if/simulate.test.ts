/**
 * The "done when": the simulator's `flaky-workspace` scenario runs briefly against the
 * embedded service in virtual time and rolls sim-ws-1 back once; a what-if over that period
 * with `minSuccessRate: 0.98` reports no rollback, and the original settings reproduce the real
 * one (same RollbackEvent id, time and evidence).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../sim/client.ts';
import { runFleet } from '../../sim/fleet.ts';
import { type Harness, VIRTUAL_EPOCH, embeddedHarness } from '../../sim/harness.ts';
import { SCENARIOS } from '../../sim/scenarios.ts';

let harness: Harness;
let api: ApiClient;
const from = new Date(VIRTUAL_EPOCH).toISOString();

beforeAll(async () => {
  harness = await embeddedHarness();
  api = new ApiClient(harness.url, harness.token);
  await runFleet(api, harness, {
    scenario: SCENARIOS['flaky-workspace'],
    installationId: 'sim-flaky-workspace',
    idPrefix: 'sim-',
    seed: 1,
    containers: 9,
    rounds: 12,
    intervalMs: 30_000,
  });
  await harness.settle();
});

afterAll(async () => {
  await harness.close();
});

async function whatIf(settings: unknown) {
  const res = await api.call<any>('POST', '/v1/workspaces/sim-ws-1/what-if', {
    from,
    to: new Date(harness.now()).toISOString(),
    settings,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe('what-if over a flaky-workspace simulation', () => {
  it('reproduces the real rollback with the settings in force', async () => {
    const real = await api.call<any>('GET', '/v1/workspaces/sim-ws-1/rollbacks');
    expect(real.body.items).toHaveLength(1);
    const [rollback] = real.body.items;

    const r = await whatIf({});
    expect(r.actual.matchesRecord).toBe(true);
    expect(r.summary.actual.rollback).toBe(1);
    expect(r.summary.changed).toBe(false);
    expect(r.actual.decisions.find((d: any) => d.kind === 'rollback')).toMatchObject({
      id: rollback.eventId,
      at: rollback.initiatedAt,
      evidence: rollback.metricsSnapshot,
    });
  });

  it('reports no rollback with minSuccessRate 0.98', async () => {
    const r = await whatIf({ thresholds: { minSuccessRate: 0.98 } });
    expect(r.summary.actual.rollback).toBe(1);
    expect(r.summary.whatIf.rollback).toBe(0);
    expect(r.whatIf.finalState).toBe('acp');
    expect(r.summary.firstDifference.actual.kind).toBe('rollback');
    expect(r.settings.candidate.thresholds.minSuccessRate).toBe(0.98);
  });
});

/** `npm run what-if` on sim-ws-1 from `from` to now with one `--set`; its stdout. */
async function whatIfCli(set: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      'sim/what-if.ts',
      '--workspace',
      'sim-ws-1',
      '--from',
      from,
      '--to',
      new Date(harness.now()).toISOString(),
      '--set',
      set,
      '--url',
      harness.url,
      '--token',
      harness.token,
    ],
    { cwd: new URL('../..', import.meta.url).pathname },
  );
  return stdout;
}

describe('npm run what-if', () => {
  it('prints the two runs side by side: the real rollback, and none at 98 %', async () => {
    const stdout = await whatIfCli('minSuccessRate=0.98');
    expect(stdout).toContain('settings: minSuccessRate 0.99 -> 0.98');
    expect(stdout).toMatch(/rollback [\d.]+ % of \d+ \(auto-threshold\)\s+-/);
    expect(stdout).toContain('what-if: 0 rollbacks');
    expect(stdout).toContain('actual:  1 rollbacks');
    expect(stdout).toContain('matches the audit records exactly');
  });

  it('does not call a run whose final state differs "no difference" when only a timer moved', async () => {
    const stdout = await whatIfCli('cooldownMinutes=1');
    // The same rollback in both runs; the candidate's one-minute cooldown is over by the end.
    expect(stdout).toContain('what-if: 1 rollbacks');
    expect(stdout).toContain(
      'no difference in decisions, but the final state differs: http.cooldown vs http.idle',
    );
    expect(stdout).not.toMatch(/^no difference$/m);
  });
});
