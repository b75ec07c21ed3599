import { describe, it } from 'vitest';
import { capacityModule } from '../../src/capacity/module.ts';
import { startService } from '../helpers.ts';
import { CAPACITY_ENV, CapacityDriver, capacityModel } from './capacity.model.ts';
import { generatePaths } from './paths.ts';

const generated = generatePaths(capacityModel);

describe('capacity chart, generated paths against the real engine on Redis via HTTP', () => {
  for (const path of generated.paths) {
    it(path.name, async () => {
      const svc = await startService(CAPACITY_ENV, undefined, [capacityModule]);
      try {
        // Refusals at critical are the chart's (its veto in the registration's commit), not
        // the service's check of the count before it, which would answer them first.
        svc.connections.admissionChecks.length = 0;
        const driver = new CapacityDriver(svc);
        // The actor is created by the first repair recount; the model's initial state is its start.
        await driver.service.repair('inst-a');
        await driver.check(path.initial, path.initialTimers);
        for (const [i, step] of path.steps.entries()) {
          await driver.drive(step.event);
          await driver.check(step.state, step.timers).catch((error: unknown) => {
            throw new Error(`after step ${i + 1} (${step.event.type}): ${String(error)}`);
          });
        }
      } finally {
        await svc.close();
      }
    });
  }
});
