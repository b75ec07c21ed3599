/**
 * The one place that creates Redis clients: a single node (`REDIS_URL`), a Redis Cluster
 * (`REDIS_CLUSTER_NODES`), or the embedded in-process store when neither is set.
 *
 * Every client is set up to fail fast instead of hanging: commands time out after
 * `REDIS_COMMAND_TIMEOUT_MS`, nothing is queued while the connection is down (no offline queue),
 * and commands in flight when a connection drops are not silently re-sent. The caller sees a
 * StoreUnavailableError and answers 503; retries are the client's, made safe by request ids.
 */
import { Cluster, Command, Redis, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** A single-node client or a cluster client: the engine runs on both. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectOptions {
  redisUrl: string | undefined;
  /** Seed nodes `host:port`; when non-empty the cluster client is used. */
  clusterNodes: readonly string[];
  commandTimeoutMs: number;
}

/** How long one (re)connection attempt may take before it is abandoned and retried. */
const CONNECT_TIMEOUT_MS = 2_000;

/** Reconnect forever, at most a second apart, so the service heals by itself. */
const retryStrategy = (times: number) => Math.min(times * 100, 1_000);

function nodeOptions(o: RedisConnectOptions): RedisOptions {
  return {
    lazyConnect: true,
    enableAutoPipelining: true,
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // A command written before a disconnect may or may not have run: resending it blindly could
    // apply it twice. It fails instead, and the client retries with its request id.
    autoResendUnfulfilledCommands: false,
  };
}

/** Logs client errors as JSON, at most one line per second per kind (they repeat while down). */
function logErrors(client: RedisClient, logger: Logger, role: string): void {
  const last = new Map<string, number>();
  client.on('error', (error: Error) => {
    const now = Date.now();
    const key = error.message;
    if ((last.get(key) ?? 0) > now - 1_000) return;
    last.set(key, now);
    logger.warn('redis client error', { role, error: error.message });
  });
}

/**
 * Creates and connects the client described by `o`. Throws StoreUnavailable-style errors from
 * ioredis when the store cannot be reached at start.
 *
 * @example
 * const redis = await connectRedisClient({ redisUrl: 'redis://127.0.0.1:6379', clusterNodes: [], commandTimeoutMs: 1000 }, logger);
 */
export async function connectRedisClient(
  o: RedisConnectOptions,
  logger: Logger,
): Promise<RedisClient> {
  let client: RedisClient;
  if (o.clusterNodes.length > 0) {
    client = new Cluster(
      o.clusterNodes.map((hostPort) => {
        const i = hostPort.lastIndexOf(':');
        return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
      }),
      {
        lazyConnect: true,
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        clusterRetryStrategy: retryStrategy,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        retryDelayOnTryAgain: 100,
        slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
        maxRedirections: 8,
        redisOptions: (({ lazyConnect: _l, enableOfflineQueue: _q, ...rest }) => rest)(
          nodeOptions(o),
        ),
      },
    );
  } else if (o.redisUrl) {
    client = new Redis(o.redisUrl, { ...nodeOptions(o), retryStrategy });
  } else {
    throw new Error('connectRedisClient needs REDIS_URL or REDIS_CLUSTER_NODES');
  }
  logErrors(client, logger, 'commands');
  failFastWhileUnanswered(client, logger, o.commandTimeoutMs);
  // connect() rejects with "Connection is closed." whatever went wrong: the cause (refused,
  // WRONGPASS, no answer) is the last error the client emitted.
  let lastError: string | null = null;
  const remember = (error: Error) =>
    (lastError =
      error instanceof StoreUnavailableError || error.message === 'Command timed out'
        ? `no answer within REDIS_COMMAND_TIMEOUT_MS (${o.commandTimeoutMs} ms)`
        : error.message);
  client.on('error', remember);
  try {
    await client.connect().catch((error: unknown) => {
      const setting = o.clusterNodes.length > 0 ? 'REDIS_CLUSTER_NODES' : 'REDIS_URL';
      const message = error instanceof Error ? error.message : String(error);
      const reason = message.startsWith('Connection is closed') ? (lastError ?? message) : message;
      throw new Error(`cannot connect to Redis (${setting}): ${reason}`);
    });
    await checkSingleNode(client);
  } catch (error) {
    client.disconnect();
    throw error;
  } finally {
    client.off('error', remember);
  }
  return client;
}

/**
 * Fails when REDIS_URL names a node of a Redis Cluster (it answers MOVED for every key of the
 * other nodes: some requests would work, the others answer 500), or a database (`/5`) that cannot
 * be selected: ioredis only reports a refused SELECT as an error event and goes on in database 0,
 * another installation's keys.
 */
async function checkSingleNode(client: RedisClient): Promise<void> {
  if (client instanceof Cluster) return;
  // An ACL user without INFO (in @dangerous) skips the check, as ioredis' own ready check does.
  const info = await client.info('cluster').catch((error: unknown) => {
    if (error instanceof Error && error.message.startsWith('NOPERM')) return '';
    throw error;
  });
  if (/^cluster_enabled:1/m.test(info)) {
    throw new Error(
      'REDIS_URL names a node of a Redis Cluster, which serves only its own slots: set REDIS_CLUSTER_NODES instead',
    );
  }
  const db = Number(client.options.db ?? 0);
  if (db === 0) return;
  await client.select(db).catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`REDIS_URL names database ${db}, which Redis refuses: ${reason}`);
  });
}

/** How often a store that stopped answering is probed with PING. */
const PROBE_EVERY_MS = 200;

/**
 * A circuit breaker on the client: once a command times out (a frozen or unreachable server),
 * every further command fails at once with StoreUnavailableError instead of waiting out its own
 * timeout, until a PING answers again. Without it, a request that runs several commands in a row
 * would wait for each timeout in turn. ioredis has no middleware hook, so the client's
 * `sendCommand` is wrapped, here and nowhere else.
 */
function failFastWhileUnanswered(client: RedisClient, logger: Logger, timeoutMs: number): void {
  const send = client.sendCommand.bind(client) as (command: Command, ...rest: unknown[]) => unknown;
  let open = false;
  const probe = () => {
    const ping = new Command('ping', [], { replyEncoding: 'utf8' });
    const timer = setTimeout(() => ping.reject(new Error('Command timed out')), timeoutMs);
    send(ping);
    ping.promise.then(
      () => {
        clearTimeout(timer);
        open = false;
        logger.info('redis answers again; commands flow', {});
      },
      () => {
        clearTimeout(timer);
        setTimeout(probe, PROBE_EVERY_MS).unref();
      },
    );
  };
  const trip = () => {
    if (open) return;
    open = true;
    logger.warn('redis stopped answering; failing commands fast until a PING answers', {
      timeoutMs,
    });
    setTimeout(probe, PROBE_EVERY_MS).unref();
  };
  (client as { sendCommand: (command: Command, ...rest: unknown[]) => unknown }).sendCommand = (
    command,
    ...rest
  ) => {
    // Only a ready client is guarded. While it (re)connects, what ioredis sends is its own
    // handshake (the ready check's INFO, SELECT, AUTH), and it refuses everything else itself (no
    // offline queue): failing the handshake fast would keep the connection from ever becoming
    // ready, so no PING could close the breaker after a Redis restart.
    if (open && client.status === 'ready') {
      command.reject(
        new StoreUnavailableError(
          'the store (Redis) did not answer; retry with the same request id',
          {
            cause: 'no answer within REDIS_COMMAND_TIMEOUT_MS',
          },
        ),
      );
      return command.promise;
    }
    const result = send(command, ...rest);
    command.promise.catch((error: unknown) => {
      if (error instanceof Error && error.message === 'Command timed out') trip();
    });
    return result;
  };
}

/**
 * A second connection for SUBSCRIBE (a subscribed connection can run nothing else). Unlike the
 * command client it queues its SUBSCRIBE until connected and re-subscribes after a reconnect.
 */
export function subscriberFor(client: RedisClient, logger: Logger): RedisClient {
  const sub =
    client instanceof Cluster
      ? client.duplicate(undefined, { enableOfflineQueue: true, lazyConnect: false })
      : client.duplicate({
          enableOfflineQueue: true,
          lazyConnect: false,
          commandTimeout: undefined,
        });
  logErrors(sub, logger, 'subscriber');
  return sub;
}

/**
 * The masters of a cluster (where keys live), or the client itself: for SCAN-style walks that
 * must visit every node.
 */
export function dataNodes(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** Whether `client` talks to a Redis Cluster. */
export const isCluster = (client: RedisClient): client is Cluster => client instanceof Cluster;

/**
 * The masters (`host:port`) with fewer connected replicas than `wanted`, from each one's
 * `INFO replication`. With `REDIS_WAIT_REPLICAS` above what a master has, every commit there
 * answers `replication-timeout`: the service says so when it starts, naming no credentials.
 *
 * @example
 * await mastersShortOfReplicas(redis, 1); // [{ master: '127.0.0.1:6379', replicas: 0 }]
 */
export async function mastersShortOfReplicas(
  client: RedisClient,
  wanted: number,
): Promise<{ master: string; replicas: number }[]> {
  const short: { master: string; replicas: number }[] = [];
  for (const node of dataNodes(client)) {
    const info = await node.info('replication');
    const replicas = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    if (replicas < wanted) {
      short.push({ master: `${node.options.host ?? '?'}:${node.options.port ?? '?'}`, replicas });
    }
  }
  return short;
}
