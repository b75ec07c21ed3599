/**
 * Composition root: config -> redis -> store -> engine -> app. Exports start/stop so tests and
 * the benchmark run the real server (on port 0) in-process.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { capacityBinding } from './capacity/capacity.ts';
import { type Clock, systemClock } from './clock.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { ConnectionService, connectionBinding } from './connections/connections.ts';
import { Engine, type EffectHandler } from './engine/engine.ts';
import { createApp } from './http/app.ts';
import { type Logger, createLogger } from './logger.ts';
import { DomainEvents, type DomainEventMap } from './domain-events.ts';
import { type AppModule, MODULES, type ModuleContext } from './modules.ts';
import { RedisStore } from './store/redis-store.ts';
import { SettingsService } from './workspaces/settings.ts';
import { WorkspaceService, workspaceBinding } from './workspaces/workspaces.ts';

export interface Service {
  config: Config;
  engine: Engine;
  store: RedisStore;
  connections: ConnectionService;
  workspaces: WorkspaceService;
  settings: SettingsService;
  /** Shared with modules; `services` holds what each module exposes. */
  modules: ModuleContext;
  app: ReturnType<typeof createApp>;
  /** Present after start(). */
  url: string;
  server: Server;
  stop(): Promise<void>;
}

export interface StartOptions {
  config?: Config;
  clock?: Clock;
  logger?: Logger;
  /** An existing client (tests share one); otherwise one is created from config. */
  redis?: Redis;
  /** Run the timer poller, outbox reaper and module loops on intervals (default true). */
  background?: boolean;
  /** Feature modules (default: MODULES). */
  modules?: AppModule[];
}

/** Connects to Redis, or starts the embedded in-process store when no REDIS_URL is set. */
export async function connectRedis(config: Config, logger: Logger): Promise<Redis> {
  if (config.redisUrl) {
    const redis = new Redis(config.redisUrl, {
      enableAutoPipelining: true,
      maxRetriesPerRequest: 3,
    });
    await redis.ping();
    return redis;
  }
  const { default: RedisMock } = await import('ioredis-mock');
  logger.warn(
    'REDIS_URL is not set: running on the EMBEDDED in-process store. NOTHING IS DURABLE: every connection, timer and audit record is lost when this process exits, and no second process can share it. Set REDIS_URL for real use.',
  );
  return new RedisMock();
}

export function effectHandlers(
  logger: Logger,
  events: DomainEvents,
): Record<string, EffectHandler> {
  return {
    requestReconnect: (effect) => {
      // The container transport that performs the reconnect is not part of this service yet;
      // the request is durable in the outbox and logged for the transport to pick up.
      logger.info('reconnect requested', { connectionId: effect.actorId, params: effect.params });
    },
    scheduleTransportChange: (effect) => {
      logger.info('transport change to HTTP scheduled', {
        connectionId: effect.actorId,
        params: effect.params,
      });
    },
    // Delivery (toast stream, webhook, email) and transcripts subscribe to the domain event.
    notifyUsers: async (effect) => {
      const p = effect.params as Omit<DomainEventMap['rollback'], 'effectId' | 'at'>;
      logger.info('user notification', {
        workspaceId: effect.actorId,
        kind: p.kind,
        eventId: p.eventId,
      });
      await events.emit('rollback', { ...p, effectId: effect.id, at: effect.createdAt });
    },
    scheduleReview: (effect) => {
      logger.info('rollback review requested', {
        workspaceId: effect.actorId,
        params: effect.params,
      });
    },
  };
}

export async function start(options: StartOptions = {}): Promise<Service> {
  const config = options.config ?? loadConfig();
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const redis = options.redis ?? (await connectRedis(config, logger));
  const store = new RedisStore(redis, config.keyPrefix);
  const events = new DomainEvents();
  const engine = new Engine({
    store,
    clock,
    logger,
    charts: [
      connectionBinding(config.connection),
      workspaceBinding(),
      capacityBinding(config.capacity),
    ],
    effects: effectHandlers(logger, events),
    cacheSize: config.snapshotCacheSize,
    outboxLeaseMs: config.outboxLeaseMs,
  });
  const settings = new SettingsService(store, clock);
  const workspaces = new WorkspaceService(
    engine,
    clock,
    settings,
    config.capacityPerWorker,
    logger,
  );
  engine.onCommit(workspaces.onCommit);
  const connections = new ConnectionService(
    engine,
    clock,
    config.connection,
    (installationId, workspaceId) => workspaces.ensure(installationId, workspaceId),
  );
  const moduleContext: ModuleContext = {
    config,
    clock,
    logger,
    redis,
    store,
    engine,
    connections,
    workspaces,
    settings,
    services: new Map(),
    events,
  };
  const modules = options.modules ?? MODULES;
  for (const m of modules) await m.init(moduleContext);
  const app = createApp({
    config,
    connections,
    workspaces,
    settings,
    store,
    logger,
    extraMiddleware: (a) => modules.forEach((m) => m.middleware?.(a, moduleContext)),
    extraRoutes: (a) => modules.forEach((m) => m.routes?.(a, moduleContext)),
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
  });
  server.keepAliveTimeout = 65_000;
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host}:${port}`;

  const timers: NodeJS.Timeout[] = [];
  if (options.background ?? true) {
    const loop = (name: string, fn: () => Promise<unknown>, ms: number) => {
      let busy = false;
      const t = setInterval(() => {
        if (busy) return;
        busy = true;
        fn()
          .catch((error: unknown) => logger.error(`${name} failed`, { error: String(error) }))
          .finally(() => (busy = false));
      }, ms);
      t.unref();
      timers.push(t);
    };
    loop('timer poller', () => engine.fireDueTimers(), config.timerPollMs);
    for (const m of modules) {
      if (m.poll) loop(`${m.name} poll`, () => m.poll!.run(moduleContext), m.poll.ms);
    }
    loop(
      'outbox reaper',
      () => engine.reapOutbox(),
      Math.max(1000, Math.floor(config.outboxLeaseMs / 3)),
    );
  }
  if (config.devToken) {
    logger.warn(
      'no API_TOKENS or OPERATOR_TOKENS configured: the development operator token from the README is active',
    );
  }
  logger.info('listening', { url, redis: config.redisUrl ? 'external' : 'embedded' });

  return {
    config,
    engine,
    store,
    connections,
    workspaces,
    settings,
    modules: moduleContext,
    app,
    url,
    server,
    async stop() {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await workspaces.idle();
      await engine.idle();
      for (const m of modules) await m.stop?.(moduleContext);
      if (!options.redis) redis.disconnect();
    },
  };
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  try {
    const service = await start();
    const shutdown = () => {
      void service.stop().then(() => process.exit(0));
    };
    process.on('unhandledRejection', (reason) => {
      // A backstop: every background task handles its own errors; log what slipped through.
      service.modules.logger.error('unhandled rejection', { error: String(reason) });
    });
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
