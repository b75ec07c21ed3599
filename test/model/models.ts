/** Every chart's model(s), by chart id: the coverage test requires one for each chart. */
import { DEFAULT_WORKSPACE_POLICY } from '../../machines/shared/workspace-policy.ts';
import { capacityModel } from './capacity.model.ts';
import { connectionModel } from './connection.model.ts';
import type { ModelOptions } from './paths.ts';
import { automatic, workspaceModel } from './workspace.model.ts';

export const MODELS: Record<string, ModelOptions[]> = {
  connection: [connectionModel],
  capacity: [capacityModel],
  workspace: [
    workspaceModel(automatic),
    workspaceModel({ ...DEFAULT_WORKSPACE_POLICY, defaultProtocol: 'acp' }, 'coarse'),
  ],
};
