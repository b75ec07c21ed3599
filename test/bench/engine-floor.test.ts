/**
 * bench/engine-floor.ts: the engine without HTTP, run as `npm run bench` runs it (a child
 * process with the service's Node flags, on the real Redis), on short windows: it measures
 * both loops, prints its figures, and deletes every key it wrote. And the bound it feeds.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type EngineFloor, singleBound } from '../../bench/report.ts';
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

describe('bench/engine-floor.ts', () => {
  it('measures the SET and the heartbeat on the real engine, then deletes its keys', async () => {
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
        },
      },
    );
    expect(stdout).toContain('ConnectionService.heartbeat');
    const json = /^engine-floor (.*)$/m.exec(stdout)?.[1];
    expect(json).toBeDefined();
    const figures = JSON.parse(json!) as EngineFloor & { keyPrefix: string };
    for (const value of [figures.setUs, figures.heartbeatUs, figures.heartbeatsPerSec]) {
      expect(Number.isFinite(value) && value > 0).toBe(true);
    }
    expect(figures.keyPrefix).toMatch(/^bench:[0-9a-f]{12}-engine$/);
    const [, left] = await redis.scan('0', 'MATCH', `${figures.keyPrefix}:*`, 'COUNT', 100_000);
    expect(left).toEqual([]);
  }, 60_000);
});
