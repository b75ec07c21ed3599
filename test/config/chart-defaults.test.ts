/**
 * The capacity thresholds are the capacity chart's (machines/capacity.machine.ts): unset, the
 * configuration takes the chart's defaults rather than a copy of them. The chart's module is
 * replaced here with other defaults, so a copy in src/config.ts would show.
 */
import { describe, expect, it, vi } from 'vitest';

const CHART_DEFAULTS = { warning: 0.8, critical: 0.9, resolve: 0.6, resolveAfterMs: 120_000 };

vi.mock('../../machines/capacity.machine.ts', async (importOriginal) => ({
  ...(await importOriginal<object>()),
  DEFAULT_CAPACITY_THRESHOLDS: CHART_DEFAULTS,
}));

describe('configuration defaults from the charts', () => {
  it('takes the thresholds of the capacity chart when no CAPACITY_* variable is set', async () => {
    const { loadConfig } = await import('../../src/config.ts');
    expect(loadConfig({}).capacity).toEqual(CHART_DEFAULTS);
  });
});
