/**
 * The chaos scenarios: what each one breaks (a service process, the Redis, a frozen Redis, a
 * Cluster master) and the store it runs on. The harness that runs them is scenarios.ts.
 */
import { type ClusterNode, RedisCluster, RedisServer, deletePrefix } from './redis.ts';
import { type ChaosOptions, type Scenario, type Store, pause } from './scenarios.ts';

/** The shared Redis: only keys under our prefix are written, and deleted afterwards. */
function sharedRedis(options: ChaosOptions): Promise<Store> {
  return Promise.resolve({
    env: { REDIS_URL: options.sharedRedisUrl, REDIS_CLUSTER_NODES: undefined },
    close: async (prefix) => {
      await deletePrefix(options.sharedRedisUrl, prefix);
    },
  });
}

interface OwnRedis extends Store {
  server: RedisServer;
}

/** A redis-server of our own (AOF, fsync always) that the scenario may kill or freeze. */
async function ownRedis(): Promise<OwnRedis> {
  const server = await RedisServer.start();
  return {
    server,
    env: { REDIS_URL: server.url, REDIS_CLUSTER_NODES: undefined },
    close: () => server.destroy(),
  };
}

interface OwnCluster extends Store {
  cluster: RedisCluster;
}

async function ownCluster(): Promise<OwnCluster> {
  const cluster = await RedisCluster.start();
  return {
    cluster,
    env: { REDIS_CLUSTER_NODES: cluster.nodes, REDIS_URL: undefined },
    close: () => cluster.stop(),
  };
}

/** kill -9 of one service process under load; the same process restarted later. */
export const serviceKilled: Scenario = {
  name: 'kill -9 of 1 of 3 processes',
  openStore: sharedRedis,
  async inject(run) {
    await run.kill(1);
    const start = Date.now();
    await pause(run.options.restartDelayMs, run.options.signal);
    const end = Date.now();
    await run.restart(1);
    const boot = (Date.now() - end) / 1000;
    return { start, end, note: `restarted after ${(end - start) / 1000} s, up in ${boot} s` };
  },
};

/** kill -9 of Redis; restarted on the same dir, so the AOF is reloaded. */
export const redisKilled: Scenario<OwnRedis> = {
  name: 'Redis killed, restarted with AOF',
  openStore: ownRedis,
  async inject(run, { server }) {
    await server.kill();
    const start = Date.now();
    await pause(run.options.faultMs, run.options.signal);
    const end = Date.now();
    await server.restart();
    return {
      start,
      end,
      note: `Redis back (AOF loaded) ${(Date.now() - end) / 1000} s after restart`,
    };
  },
};

/** Redis stops answering (SIGSTOP) but keeps its connections open, then resumes (SIGCONT). */
export const redisFrozen: Scenario<OwnRedis> = {
  name: 'Redis frozen (SIGSTOP)',
  openStore: ownRedis,
  async inject(run, { server }) {
    server.freeze();
    const start = Date.now();
    await pause(run.options.faultMs, run.options.signal).finally(() => server.thaw());
    return { start, end: Date.now() };
  },
};

/**
 * kill -9 of a cluster master that owns slots; its replica is promoted. The fault never ends
 * (the master stays dead), so recovery is counted from the kill.
 */
export const clusterMasterKilled: Scenario<OwnCluster> = {
  name: 'Cluster master killed, replica promoted',
  openStore: ownCluster,
  async inject(_run, { cluster }) {
    const nodes = await cluster.topology();
    const master: ClusterNode | undefined = nodes?.find(
      (n) => n.flags.includes('master') && n.slots.length > 0,
    );
    if (!master) throw new Error('no master owning slots in CLUSTER NODES');
    const pid = await cluster.pidOf(master.port);
    process.kill(pid, 'SIGKILL');
    const start = Date.now();
    const promoted = await cluster.waitForPromotion(master, 60_000);
    const seconds = (Date.now() - start) / 1000;
    return {
      start,
      end: start,
      note: `master ${master.port} killed; replica ${promoted.port} promoted after ${seconds} s`,
    };
  },
};

export const SCENARIOS: Scenario<any>[] = [
  serviceKilled,
  redisKilled,
  redisFrozen,
  clusterMasterKilled,
];
