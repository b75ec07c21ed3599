import { describe, it } from 'vitest';
import { DEFAULT_WORKSPACE_POLICY } from '../../machines/shared/workspace-policy.ts';
import { startService } from '../helpers.ts';
import { generatePaths } from './paths.ts';
import {
  automatic,
  checkWorkspace,
  driveWorkspace,
  setupWorkspace,
  workspaceModel,
} from './workspace.model.ts';

const variants = [
  { name: 'automatic rollout, HTTP by default', policy: automatic },
  {
    name: 'ACP by default',
    policy: { ...DEFAULT_WORKSPACE_POLICY, defaultProtocol: 'acp' as const },
  },
];

for (const variant of variants) {
  const generated = generatePaths(workspaceModel(variant.policy));
  describe(`workspace chart (${variant.name}), generated paths against the real engine on Redis`, () => {
    for (const path of generated.paths) {
      it(path.name, async () => {
        const svc = await startService();
        try {
          await setupWorkspace(svc, variant.policy);
          await checkWorkspace(svc, path.initial, path.initialTimers);
          for (const [i, step] of path.steps.entries()) {
            await driveWorkspace(svc, step.event);
            await checkWorkspace(svc, step.state, step.timers).catch((error: unknown) => {
              throw new Error(`after step ${i + 1} (${step.event.type}): ${String(error)}`);
            });
          }
        } finally {
          await svc.close();
        }
      });
    }
  });
}
