import { describe, expect, it } from 'vitest';
import { CHARTS } from '../../machines/index.ts';
import { MODELS } from './models.ts';
import { generatePaths } from './paths.ts';

/**
 * The generated paths must take every transition and reach every state of every chart. Adding a
 * transition (or a chart) without a way for the model to drive it fails here, naming it.
 */
describe('model coverage of the charts', () => {
  for (const chart of CHARTS) {
    it(`covers every state and transition of the ${chart.id} chart`, () => {
      const models = MODELS[chart.id];
      expect(
        models,
        `no model drives the ${chart.id} chart: add one to test/model/models.ts`,
      ).toBeDefined();
      const runs = models!.map((m) => generatePaths(m));
      const covered = new Set(runs.flatMap((r) => [...r.covered]));
      const visited = new Set(runs.flatMap((r) => [...r.states]));
      const { allTransitions, allStates } = runs[0]!;
      const sources = new Set([...covered].map((t) => t.split(' --')[0]!));
      const reached = (s: string) =>
        [...visited].some((v) => v === s || v.startsWith(`${s}.`)) || sources.has(s);
      const missingTransitions = allTransitions.filter((t) => !covered.has(t));
      const missingStates = allStates.filter((s) => !reached(s));
      const paths = runs.reduce((n, r) => n + r.paths.length, 0);
      console.log(
        `[coverage] ${chart.id}: states ${allStates.length - missingStates.length}/${allStates.length}, ` +
          `transitions ${allTransitions.length - missingTransitions.length}/${allTransitions.length}, ${paths} generated paths`,
      );
      expect(missingStates, `states no generated path reaches in ${chart.id}`).toEqual([]);
      expect(missingTransitions, `transitions no generated path takes in ${chart.id}`).toEqual([]);
    });
  }
});
