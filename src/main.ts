/**
 * Composition root: config -> redis -> store -> engine -> app. Exports start/stop so tests and
 * the benchmark run the real server (on port 0) in-process.
 */
import { type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo, Server as NetServer, type Socket } from 'node:net';
import { capacityBinding } from './capacity/capacity.ts';
import { type Clock, systemClock } from './clock.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { ConnectionService, connectionBinding } from './connections/connections.ts';
import { Engine, type EffectHandler } from './engine/engine.ts';
import { createApp } from './http/app.ts';
import { answerClientError } from './http/client-error.ts';
import { type Logger, createLogger, routeConsoleTo } from './logger.ts';
import { DomainEvents, type DomainEventMap } from './domain-events.ts';
import type { AppModule, ModuleContext } from './module-context.ts';
import { MODULES } from './modules.ts';
import { Services } from './services.ts';
import { type RedisClient, connectRedisClient, mastersShortOfReplicas } from './store/client.ts';
import { migrateLegacyQueues } from './store/legacy-queues.ts';
import { RedisStore } from './store/redis-store.ts';
import { LiveStreams } from './http/live-streams.ts';
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
  redis?: RedisClient;
  /** Run the timer poller, outbox reaper and module loops on intervals (default true). */
  background?: boolean;
  /** Feature modules (default: MODULES). */
  modules?: AppModule[];
}

/**
 * Connects to Redis Cluster (REDIS_CLUSTER_NODES) or a single node (REDIS_URL), or starts the
 * embedded in-process store when neither is set.
 */
export async function connectRedis(config: Config, logger: Logger): Promise<RedisClient> {
  if (config.redisUrl || config.redisClusterNodes.length > 0) {
    return connectRedisClient(
      {
        redisUrl: config.redisUrl,
        clusterNodes: config.redisClusterNodes,
        commandTimeoutMs: config.redisCommandTimeoutMs,
      },
      logger,
    );
  }
  const { default: RedisMock } = await import('ioredis-mock');
  logger.warn(
    'neither REDIS_URL nor REDIS_CLUSTER_NODES is set: running on the EMBEDDED in-process store. NOTHING IS DURABLE: every connection, timer and audit record is lost when this process exits, and no second process can share it.',
  );
  return new RedisMock();
}

/** On shutdown, how long a connection accepted just before may take to send its request. */
const FIRST_REQUEST_WAIT_MS = 1_000;

/** The port is taken (or not ours to bind): reported in one line, exit code 1. */
export class ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

function listen(
  app: ReturnType<typeof createApp>,
  port: number,
  host: string,
  requestTimeoutMs: number,
): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    // A request whose headers or body stop arriving (a Content-Length larger than the body sent)
    // is answered 408 after requestTimeoutMs by answerClientError, checked every second at most,
    // instead of holding its socket for Node's default 5 minutes.
    const s = createServer(
      {
        requestTimeout: requestTimeoutMs,
        headersTimeout: Math.min(60_000, requestTimeoutMs),
        connectionsCheckingInterval: Math.min(1000, requestTimeoutMs),
      },
      app,
    );
    s.listen(port, host);
    s.once('listening', () => resolve(s));
    s.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        new ListenError(
          error.code === 'EADDRINUSE'
            ? `port ${port} on ${host} is already in use: stop the other process or set PORT`
            : `cannot listen on HOST=${host} PORT=${port}: ${error.message}`,
        ),
      );
    });
  });
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
  const store = new RedisStore(redis, config.keyPrefix, config.redisWait);
  if (config.redisWait.replicas > 0) {
    // A check, not a condition of starting: a master that does not answer it now is the
    // outage handling's (503), and a replica may connect later.
    const short = await mastersShortOfReplicas(redis, config.redisWait.replicas).catch(() => []);
    for (const m of short) {
      logger.warn(
        'REDIS_WAIT_REPLICAS asks for more replicas than a master has: its commits answer 503 replication-timeout until enough connect',
        { ...m, wanted: config.redisWait.replicas },
      );
    }
  }
  const migrated = await migrateLegacyQueues(redis, config.keyPrefix);
  if (migrated > 0)
    logger.info('moved old outbox and delivery jobs to the retry queues', { migrated });
  const events = new DomainEvents();
  const engine = new Engine({
    store,
    clock,
    logger,
    charts: [
      connectionBinding(config.connection, config.snapshotFormat),
      workspaceBinding(config.whatIfJournalEvents),
      capacityBinding(config.capacity, config.capacityPerWorker),
    ],
    effects: effectHandlers(logger, events),
    cacheSize: config.snapshotCacheSize,
    outboxLeaseMs: config.outboxLeaseMs,
    maxEffectAttempts: config.effects.maxAttempts,
    effectRetryBaseDelayMs: config.effects.baseDelayMs,
    effectRetryMaxDelayMs: config.effects.maxDelayMs,
    requestIdsPerActor: config.idempotencyKeysPerActor,
  });
  const settings = new SettingsService(store, clock);
  const workspaces = new WorkspaceService(
    engine,
    clock,
    settings,
    config.capacityPerWorker,
    logger,
  );
  const connections = new ConnectionService(
    engine,
    clock,
    config.connection,
    (installationId, workspaceId) => workspaces.ensure(installationId, workspaceId),
    (installationId, workspaceId) => workspaces.checkOwner(installationId, workspaceId),
  );
  connections.lastRollback = (installationId, workspaceId) =>
    workspaces.lastRollback(installationId, workspaceId);
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
    services: new Services(),
    events,
    streams: new LiveStreams(),
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
    extraMiddleware: modules.flatMap((m) => m.middleware?.(moduleContext) ?? []),
    extraRoutes: (a) => modules.forEach((m) => m.routes?.(a, moduleContext)),
  });
  const server = await listen(app, config.port, config.host, config.requestTimeoutMs).catch(
    async (error: unknown) => {
      for (const m of modules) await m.stop?.(moduleContext);
      if (!options.redis) redis.disconnect();
      throw error;
    },
  );
  server.keepAliveTimeout = 65_000;
  server.on('clientError', answerClientError);
  let draining = false;
  // Connections accepted that have not sent their first request yet. Node counts them as idle,
  // and server.close() would cut them with a request already on the wire: shutdown lets each
  // deliver it first (bounded by FIRST_REQUEST_WAIT_MS).
  const fresh = new Set<Socket>();
  let freshDrained: (() => void) | null = null;
  const settleFresh = (socket: Socket) => {
    if (fresh.delete(socket) && fresh.size === 0) freshDrained?.();
  };
  server.on('connection', (socket) => {
    fresh.add(socket);
    socket.once('close', () => settleFresh(socket));
  });
  // While draining, every answer tells its client to open its next request elsewhere. First in
  // line: the app answers some requests (/healthz) before a later listener would run.
  server.prependListener('request', (req, res: ServerResponse) => {
    settleFresh(req.socket);
    if (draining && !res.headersSent) res.setHeader('connection', 'close');
  });
  const attached = modules.flatMap((m) => (m.attach ? [m.attach(server, moduleContext)] : []));
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host}:${port}`;

  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  if (options.background ?? true) {
    const loop = (name: string, fn: () => Promise<unknown>, ms: number) => {
      let busy = false;
      const t = setInterval(() => {
        if (busy) return;
        busy = true;
        const run = fn()
          .catch((error: unknown) => logger.error(`${name} failed`, { error: String(error) }))
          .finally(() => {
            busy = false;
            running.delete(run);
          });
        running.add(run);
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
      Math.max(1000, Math.floor(Math.min(config.outboxLeaseMs / 3, config.effects.baseDelayMs))),
    );
  }
  if (config.devToken) {
    logger.warn(
      'no API_TOKENS or OPERATOR_TOKENS configured: the development operator token from the README is active',
    );
  }
  logger.info('listening', {
    url,
    redis:
      config.redisClusterNodes.length > 0 ? 'cluster' : config.redisUrl ? 'single' : 'embedded',
  });

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
    /**
     * Drains: stops accepting connections, ends live streams with a final event, lets in-flight
     * requests finish (cutting what is left after SHUTDOWN_GRACE_MS), stops the loops, waits for
     * running effects, then closes Redis. Each step is logged.
     */
    async stop() {
      draining = true;
      // A connection accepted but whose request is not read yet counts as idle to Node: each
      // gets up to FIRST_REQUEST_WAIT_MS to deliver it (a busy event loop reads it late).
      const firstRequests = () =>
        fresh.size === 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              freshDrained = resolve;
              setTimeout(resolve, FIRST_REQUEST_WAIT_MS).unref();
            });
      // Connections the kernel completed before the signal wait in its queue until the event
      // loop accepts them, and closing the listener would reset them: accept them first (one
      // more turn of the loop), and let those accepted deliver their requests meanwhile.
      await new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));
      await firstRequests();
      // Then stop accepting (a new connection is refused, so a client or balancer tries another
      // process), keeping the accepted sockets: http's close() would also cut the idle ones.
      // Resolves once every accepted connection has ended.
      const closed = new Promise<void>((resolve) =>
        NetServer.prototype.close.call(server, () => resolve()),
      );
      logger.info('shutdown: stopped accepting connections');
      await firstRequests();
      // A connection that has still sent nothing is idle (opened ahead of need, as HTTP clients
      // and balancers do) and is closed, as the keep-alive ones are below: waiting on it held a
      // shutdown until the client gave it up.
      for (const socket of fresh) socket.destroy();
      const streams = moduleContext.streams.closeAll();
      const sockets = attached.reduce((n, a) => n + a.close(), 0);
      logger.info('shutdown: closed live streams', { streams, sockets });
      // Keep-alive sockets go as soon as their request is answered.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 25);
      const cut = setTimeout(() => {
        logger.warn('shutdown: grace period over; closing the remaining connections', {
          graceMs: config.shutdownGraceMs,
        });
        server.closeAllConnections();
      }, config.shutdownGraceMs);
      await closed;
      clearInterval(sweep);
      clearTimeout(cut);
      logger.info('shutdown: in-flight requests finished');
      for (const t of timers) clearInterval(t);
      await Promise.allSettled([...running]);
      logger.info('shutdown: background loops stopped');
      await engine.idle();
      logger.info('shutdown: running effects finished');
      for (const m of modules) await m.stop?.(moduleContext);
      if (!options.redis) {
        await redis.quit().catch(() => redis.disconnect());
        logger.info('shutdown: store connection closed');
      }
    },
  };
}

/**
 * The process's last step: every line logged so far written out in order (the last ones were
 * once overtaken by a final synchronous flush, or lost), then exit with `code`.
 */
export async function exitAfterLogs(logger: Logger, code: number): Promise<never> {
  await logger.close();
  process.exit(code);
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  let logger: Logger | undefined;
  try {
    const config = loadConfig();
    logger = createLogger(config.logLevel);
    // Every line JSON: what ioredis (or any library) writes to the console goes through it too.
    routeConsoleTo(logger);
    const service = await start({ config, logger });
    const log = logger;
    let stopping = false;
    const shutdown = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info('shutdown: signal received', { signal });
      service.stop().then(
        async () => {
          log.info('shutdown: done');
          await exitAfterLogs(log, 0);
        },
        async (error: unknown) => {
          log.error('shutdown failed', { err: error });
          await exitAfterLogs(log, 1);
        },
      );
    };
    process.on('unhandledRejection', (reason) => {
      // A backstop: every background task handles its own errors; log what slipped through.
      log.error('unhandled rejection', { error: String(reason) });
    });
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  } catch (error) {
    const known = error instanceof ConfigError || error instanceof ListenError;
    process.stderr.write(
      `${known ? error.message : `cannot start: ${error instanceof Error ? error.message : String(error)}`}\n`,
    );
    if (logger) await exitAfterLogs(logger, 1);
    process.exit(1);
  }
}
