import { describe, it } from 'vitest';
import { startService } from '../helpers.ts';
import {
  checkConnection,
  connectionModel,
  driveConnection,
  setupConnection,
} from './connection.model.ts';
import { generatePaths } from './paths.ts';

const generated = generatePaths(connectionModel);

describe('connection chart, generated paths against the real engine on Redis via HTTP', () => {
  for (const path of generated.paths) {
    it(path.name, async () => {
      const svc = await startService();
      try {
        await setupConnection(svc);
        await checkConnection(svc, path.initial, path.initialTimers);
        for (const [i, step] of path.steps.entries()) {
          await driveConnection(svc, step.event);
          await checkConnection(svc, step.state, step.timers).catch((error: unknown) => {
            throw new Error(`after step ${i + 1} (${step.event.type}): ${String(error)}`);
          });
        }
      } finally {
        await svc.close();
      }
    });
  }
});
