/**
 * What a feature module is and what it is given: the plug-in point of the composition root.
 * Kept apart from the list of modules (src/modules.ts), so that modules and the list that names
 * them do not import each other.
 */
import type { Server } from 'node:http';
import type { RedisClient as Redis } from './store/client.ts';
import type express from 'express';
import type { RequestHandler } from 'express';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { DomainEvents } from './domain-events.ts';
import type { ConnectionService } from './connections/connections.ts';
import type { Engine } from './engine/engine.ts';
import type { LiveStreams } from './http/live-streams.ts';
import type { Logger } from './logger.ts';
import type { RedisStore } from './store/redis-store.ts';
import type { Services } from './services.ts';
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
  /** Services modules expose to each other, under typed keys (src/services.ts). */
  services: Services;
  events: DomainEvents;
  /** Open SSE streams; every stream registers here so shutdown can end it cleanly. */
  streams: LiveStreams;
}

export interface AppModule {
  name: string;
  /** Builds services, registers effects (engine.registerEffect) and listeners. */
  init(ctx: ModuleContext): void | Promise<void>;
  /** Middleware run before every route, heartbeat lane included (e.g. request metrics). */
  middleware?(ctx: ModuleContext): RequestHandler;
  /** Adds routes; called after every module's init. Routes are already authenticated. */
  routes?(app: express.Express, ctx: ModuleContext): void;
  /**
   * Called once the server listens, for what needs the server itself (e.g. WebSocket upgrades).
   * Shutdown calls the returned `close()` with the live streams, before in-flight requests are
   * waited for; it returns how many connections it closed.
   */
  attach?(server: Server, ctx: ModuleContext): { close(): number };
  /** Background work run every `pollMs` (when the service runs its loops). */
  poll?: { ms: number; run(ctx: ModuleContext): Promise<unknown> };
  /** Called on shutdown, before Redis disconnects. */
  stop?(ctx: ModuleContext): Promise<void>;
}
