/**
 * Feature modules plugged into the composition root. A module builds its services from the
 * shared context, may register chart effect handlers and commit listeners, adds its routes
 * (behind the same auth and error handling as every /v1 route), and may run a background loop.
 * `src/main.ts` calls them in the order of MODULES.
 */
import type { AppModule } from './module-context.ts';
import { automationModule } from './automation/module.ts';
import { apiDocsModule } from './http/openapi/module.ts';
import { capacityModule } from './capacity/module.ts';
import { consoleModule } from './console/module.ts';
import { inspectModule } from './inspect/module.ts';
import { metricsModule } from './metrics/module.ts';
import { notificationsModule } from './notifications/module.ts';

/** The modules, in init order. */
export const MODULES: AppModule[] = [
  metricsModule,
  notificationsModule,
  capacityModule,
  inspectModule,
  automationModule,
  apiDocsModule,
  consoleModule,
];
