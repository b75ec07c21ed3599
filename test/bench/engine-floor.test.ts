/**
 * bench/engine-floor.ts: the engine without HTTP, run as `npm run bench` runs it (a child
 * process with the service's Node flags, on the real Redis), on short windows: it measures
 * both loops, prints its figures, and deletes every key it wrote. And the bound it feeds.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type EngineFloor, batchBound, singleBound } from '../../bench/report.ts';
import { REDIS_URL } from '../helpers.ts';

const run = promisify(execFile);
const redis = new Redis(REDIS_URL, { lazyConnect: true });

afterAll(() => redis.disconnect());

describe('singleBound', () => {
  it('divides the baseline by its request with the SET replaced by the engine', () => {
    const floor: EngineFloor = { setUs: 10, heartbeatUs: 100, heartbeatsPerSec: 1 };
    expect(singleBound(180, floor)).toBeCloseTo(180 / 270, 10);
    // An engine that cost no more than the SET would leave the baseline's rate reachable.
    expect(singleBound(180, { ...floor, heartbeatUs: 10 })).toBe(1);
  });
});

describe('batchBound', () => {
  it('divides the baseline request by the engine heartbeat', () => {
    const floor: EngineFloor = { setUs: 10, heartbeatUs: 40, heartbeatsPerSec: 1 };
    expect(batchBound(180, floor)).toBeCloseTo(4.5, 10);
  });
});

describe('bench/engine-floor.ts', () => {
  const engineFloor = async (env: Record<string, string> = {}) => {
    const { stdout } = await run(
      process.execPath,
      ['--max-semi-space-size=64', '--import', 'tsx', 'bench/engine-floor.ts'],
      {
        env: {
          ...process.env,
          REDIS_URL,
          BENCH_SECONDS: '0.3',
          ENGINE_FLOOR_WARMUP_SECONDS: '0.1',
          ENGINE_FLOOR_JSON: '1',
          ...env,
        },
      },
    );
    const json = /^engine-floor (.*)$/m.exec(stdout)?.[1];
    expect(json).toBeDefined();
    const figures = JSON.parse(json!) as EngineFloor & { keyPrefix: string };
    for (const value of [figures.setUs, figures.heartbeatUs, figures.heartbeatsPerSec]) {
      expect(Number.isFinite(value) && value > 0).toBe(true);
    }
    expect(figures.keyPrefix).toMatch(/^bench:[0-9a-f]{12}-engine$/);
    const [, left] = await redis.scan('0', 'MATCH', `${figures.keyPrefix}:*`, 'COUNT', 100_000);
    expect(left).toEqual([]);
    return stdout;
  };

  it('measures the SET and the heartbeat on the real engine, then deletes its keys', async () => {
    const stdout = await engineFloor();
    expect(stdout).toContain('ConnectionService.heartbeat');
    expect(stdout).toContain('the single endpoint reaches at most');
  }, 60_000);

  it('starts calls in groups, as the batch scenario sends them, for the batch bound', async () => {
    const stdout = await engineFloor({ ENGINE_FLOOR_IN_FLIGHT: '20', ENGINE_FLOOR_GROUP: '10' });
    expect(stdout).toContain('20 in flight, started 10 at a time');
    expect(stdout).toContain('the batch endpoint reaches at most');
  }, 60_000);

  it('writes a CPU profile and a heap profile of the heartbeat window when asked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lumi-engine-floor-'));
    try {
      const cpu = join(dir, 'engine.cpuprofile');
      const heap = join(dir, 'engine.heapprofile');
      await engineFloor({ ENGINE_FLOOR_CPU_PROF: cpu, ENGINE_FLOOR_HEAP_PROF: heap });
      const cpuProfile = JSON.parse(readFileSync(cpu, 'utf8')) as { samples: number[] };
      expect(cpuProfile.samples.length).toBeGreaterThan(0);
      // The heap profile counts what the heartbeats allocated, the engine's frames among them.
      const { stdout } = await run(process.execPath, [
        '--import',
        'tsx',
        'bench/profile-summary.ts',
        heap,
      ]);
      expect(stdout).toMatch(/sampled allocations: \d+ MiB/);
      expect(stdout).toContain('src/engine');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses a group that does not divide the calls in flight', async () => {
    await expect(
      engineFloor({ ENGINE_FLOOR_IN_FLIGHT: '25', ENGINE_FLOOR_GROUP: '10' }),
    ).rejects.toThrow(/must be a multiple of ENGINE_FLOOR_GROUP/);
  }, 60_000);
});
