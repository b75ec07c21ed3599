import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WORKSPACE_POLICY as P,
  healthVerdict,
} from '../../machines/shared/workspace-policy.ts';

describe('default workspace policy', () => {
  it('keeps new workspaces on HTTP with opt-in migration and no automatic rollout', () => {
    expect(P).toMatchObject({
      defaultProtocol: 'http',
      migrationEnabled: true,
      rolloutMode: 'optIn',
      autoRollout: false,
    });
  });

  it('rolls back below 99 % over 60 minutes once 100 operations were seen', () => {
    expect(P).toMatchObject({ minSuccessRate: 0.99, windowMinutes: 60, minSamples: 100 });
  });

  it('cools down 30 min, blocks after 3 rollbacks in 24 h, warms up 15 min, times out after 10 min', () => {
    expect(P).toMatchObject({
      cooldownMs: 30 * 60_000,
      flapLimit: 3,
      flapWindowMs: 24 * 3_600_000,
      autoMigrateAfterMs: 15 * 60_000,
      migrationTimeoutMs: 10 * 60_000,
    });
  });
});

describe('healthVerdict', () => {
  const verdict = (successRate: number | null, sampleSize: number) =>
    healthVerdict({ successRate, sampleSize }, P);

  it('is healthy exactly at the threshold and a breach just below it, with enough samples', () => {
    expect(verdict(0.99, 1000)).toBe('healthy');
    expect(verdict(0.9899, 1000)).toBe('breach');
  });

  it('counts exactly the minimum number of samples as enough', () => {
    expect(verdict(0.5, 100)).toBe('breach');
    expect(verdict(1, 100)).toBe('healthy');
  });

  it('holds a low rate seen over one sample too few', () => {
    expect(verdict(0.5, 99)).toBe('held');
  });

  it('has insufficient data when a good rate was seen over too few samples', () => {
    expect(verdict(1, 99)).toBe('insufficient-data');
  });

  it('has insufficient data without a rate, whatever the sample count says', () => {
    expect(verdict(null, 0)).toBe('insufficient-data');
    expect(verdict(null, 5000)).toBe('insufficient-data');
  });
});
