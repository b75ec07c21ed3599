import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeChart } from '../../src/charts/catalog.ts';
import { Stepper } from '../../src/engine/step.ts';
import { MODELS } from '../model/models.ts';
import { statePath } from '../model/paths.ts';

/** Any sequence of the models' events leaves every chart in one of its own states, under 32 KB. */
describe('chart properties over random event sequences (fast-check)', () => {
  for (const [id, models] of Object.entries(MODELS)) {
    for (const [i, model] of models.entries()) {
      it(`keeps the ${id} chart (model ${i + 1}) inside its states and under the payload limit`, () => {
        const states = new Set(describeChart(model.machine).states.map((s) => s.path));
        fc.assert(
          fc.property(fc.array(fc.constantFrom(...model.events), { maxLength: 40 }), (events) => {
            const stepper = new Stepper(model.machine);
            let snapshot = stepper.initial(model.input).snapshot;
            for (const event of events) {
              snapshot = stepper.step(snapshot, event).snapshot;
              expect(states.has(statePath(snapshot))).toBe(true);
              expect(JSON.stringify(stepper.persist(snapshot)).length).toBeLessThan(32 * 1024);
            }
          }),
          { numRuns: 200 },
        );
      });
    }
  }
});
