/** The registry of charts: what `npm run viz`, the inspection API and the model tests walk. */
import { capacityMachine } from './capacity.machine.ts';
import { connectionMachine } from './connection.machine.ts';
import { workspaceMachine } from './workspace.machine.ts';

export const CHARTS = [
  {
    id: 'connection',
    version: '1.0.0',
    description: 'ACPConnectionRecord lifecycle: one actor per ACP connection.',
    machine: connectionMachine,
  },
  {
    id: 'workspace',
    version: '1.0.0',
    description:
      'Workspace transport: HTTP/ACP migrations, rollback, cooldown and flap protection.',
    machine: workspaceMachine,
  },
  {
    id: 'capacity',
    version: '1.0.0',
    description:
      'Installation capacity: CapacityAlert warning/critical/resolution, one actor per installation.',
    machine: capacityMachine,
  },
] as const;

export type ChartId = (typeof CHARTS)[number]['id'];
