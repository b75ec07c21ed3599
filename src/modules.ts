/**
 * Feature modules plugged into the composition root. A module builds its services from the
 * shared context, may register chart effect handlers and commit listeners, adds its routes
 * (behind the same auth and error handling as every /v1 route), and may run a background loop.
 * `src/main.ts` calls them in the order of MODULES.
 */
import type { RedisClient as Redis } from './store/client.ts';
import type express from 'express';
import { automationModule } from './automation/module.ts';
import { capacityModule } from './capacity/module.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { DomainEvents } from './domain-events.ts';
import { inspectModule } from './inspect/module.ts';
import { metricsModule } from './metrics/module.ts';
import { notificationsModule } from './notifications/module.ts';
import type { ConnectionService } from './connections/connections.ts';
import type { Engine } from './engine/engine.ts';
import type { LiveStreams } from './http/live-streams.ts';
import type { Logger } from './logger.ts';
import type { RedisStore } from './store/redis-store.ts';
import type { SettingsService } from './workspaces/settings.ts';
import type { WorkspaceService } from './workspaces/workspaces.ts';

export interface ModuleContext {
  config: Config;
  clock: Clock;
  logger: Logger;
  redis: Redis;
  store: RedisStore;
  engine: Engine;
  connections: ConnectionService;
  workspaces: WorkspaceService;
  settings: SettingsService;
  /** Services modules expose to each other, by name (see SERVICES in notifications/types). */
  services: Map<string, unknown>;
  events: DomainEvents;
  /** Open SSE streams; every stream registers here so shutdown can end it cleanly. */
  streams: LiveStreams;
}

export interface AppModule {
  name: string;
  /** Builds services, registers effects (engine.registerEffect) and listeners. */
  init(ctx: ModuleContext): void | Promise<void>;
  /** Middleware mounted before every route (e.g. request metrics). */
  middleware?(app: express.Express, ctx: ModuleContext): void;
  /** Adds routes; called after every module's init. Routes are already authenticated. */
  routes?(app: express.Express, ctx: ModuleContext): void;
  /** Background work run every `pollMs` (when the service runs its loops). */
  poll?: { ms: number; run(ctx: ModuleContext): Promise<unknown> };
  /** Called on shutdown, before Redis disconnects. */
  stop?(ctx: ModuleContext): Promise<void>;
}

/** The modules, in init order. */
export const MODULES: AppModule[] = [
  metricsModule,
  notificationsModule,
  capacityModule,
  inspectModule,
  automationModule,
];
