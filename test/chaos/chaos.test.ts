/**
 * Reduced versions of the first two `npm run chaos` scenarios (same code, bench/chaos/), on real
 * processes: three service processes behind a round-robin client, heartbeats retried with their
 * heartbeatId. Scenario 1 uses the shared Redis under its own prefix (deleted afterwards);
 * scenario 2 kills a redis-server of its own, on a free port with its own data dir.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Attempt } from '../../bench/chaos/load.ts';
import { type ScenarioResult, chaosOptions, runScenario } from '../../bench/chaos/scenarios.ts';
import { redisKilled, serviceKilled } from '../../bench/chaos/catalog.ts';

const COMMAND_TIMEOUT_MS = 1000;
/** While Redis is down every request must be answered within this (not hang). */
const ANSWER_BOUND_MS = COMMAND_TIMEOUT_MS + 1500;

const interrupt = new AbortController();
const options = chaosOptions(3, {
  clients: 10,
  connections: 12,
  warmupMs: 2000,
  faultMs: 3000,
  restartDelayMs: 3000,
  afterMs: 1000,
  commandTimeoutMs: COMMAND_TIMEOUT_MS,
  retryForMs: 15_000,
  healthyTimeoutMs: 20_000,
  signal: interrupt.signal,
});

let running: Promise<ScenarioResult> | undefined;
function run(scenario: Parameters<typeof runScenario>[0]): Promise<ScenarioResult> {
  running = runScenario(scenario, options);
  return running;
}

// A scenario stops its processes (by PID) and removes its Redis or keys in `finally`; after a
// timeout or failure, aborting it makes that happen now, and this waits until it has.
afterAll(async () => {
  interrupt.abort(new Error('test finished'));
  await running?.catch(() => undefined);
}, 60_000);

function expectNothingLostOrDoubled(r: ScenarioResult) {
  expect(r.acked).toBeGreaterThan(0);
  expect({
    lost: r.lost,
    appliedTwice: r.appliedTwice,
    wronglyRefused: r.wronglyRefused,
    samples: r.samples,
  }).toEqual({ lost: 0, appliedTwice: 0, wronglyRefused: 0, samples: expect.any(Array) });
  expect(r.stored).toBeGreaterThanOrEqual(r.acked);
  expect(r.stored).toBeLessThanOrEqual(r.acked + r.unacked);
  expect(r.recoverySeconds).toBeDefined();
}

const describeAttempt = (a: Attempt) => `${a.outcome} ${a.code ?? ''} after ${Math.round(a.ms)} ms`;

describe('chaos: three processes behind a round-robin client', () => {
  it('loses, doubles and wrongly refuses no heartbeat when one process is killed with -9 and restarted', async () => {
    const r = await run(serviceKilled);
    expectNothingLostOrDoubled(r);
  }, 120_000);

  it('answers 503 store-unavailable within the bound while Redis is down, and loses or doubles nothing once it is back with its AOF', async () => {
    const r = await run(redisKilled);
    const during = r.faultAttempts;
    expect(during.length).toBeGreaterThan(0);

    const hung = during.filter((a) => a.outcome === 'timeout' || a.ms > ANSWER_BOUND_MS);
    expect(hung.map(describeAttempt), `${hung.length} of ${during.length} hung`).toEqual([]);

    // Answered before Redis was restarted: 503 store-unavailable with Retry-After, nothing else.
    // Answered after: 200 is fine too.
    const wrong = during.filter((a) => {
      if (a.outcome === 503) return a.code !== 'store-unavailable' || a.retryAfter === undefined;
      if (a.outcome === 200) return a.startedAt + a.ms < r.window.end;
      return true;
    });
    expect(
      wrong.slice(0, 10).map(describeAttempt),
      `${wrong.length} of ${during.length} answered wrongly`,
    ).toEqual([]);

    expectNothingLostOrDoubled(r);
  }, 120_000);
});
