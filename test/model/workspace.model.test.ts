import { describe, expect, it } from 'vitest';
import type { WorkspacePolicy } from '../../machines/shared/workspace-policy.ts';
import { startService } from '../helpers.ts';
import { MODELS } from './models.ts';
import { generatePaths } from './paths.ts';
import { WorkspaceDriver } from './workspace.driver.ts';
import { WORKSPACE_ENV, windowRolls } from './workspace.model.ts';

for (const model of MODELS.workspace!) {
  const policy = (model.input as { policy: WorkspacePolicy }).policy;
  const generated = generatePaths(model);
  const name = `${policy.rolloutMode} rollout, ${policy.defaultProtocol.toUpperCase()} by default`;
  // Each path has its own service and key prefix: they run side by side (I/O-bound).
  describe.concurrent(
    `workspace chart (${name}): generated paths through HTTP on the real engine`,
    () => {
      it('includes a path on which a heartbeat pushes the oldest minute out of the window', () => {
        expect(generated.paths.filter(windowRolls).map((p) => p.name)).not.toEqual([]);
      });

      for (const path of generated.paths) {
        it(path.name, async () => {
          const svc = await startService(WORKSPACE_ENV);
          try {
            const driver = new WorkspaceDriver(svc);
            await driver.setup(policy, path.initialModel);
            for (const [i, step] of path.steps.entries()) {
              await driver.drive(step);
              await driver.check(step.model).catch((error: unknown) => {
                // The same error, so that its diff is shown, naming the step.
                if (error instanceof Error)
                  error.message = `after step ${i + 1} (${path.name.split(' → ')[i] ?? step.event.type}): ${error.message}`;
                throw error;
              });
            }
          } finally {
            await svc.close();
          }
        });
      }
    },
  );
}
