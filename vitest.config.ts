import { defineConfig } from 'vitest/config';

/**
 * Two projects: "single" runs every test on the single Redis (REDIS_URL, default
 * 127.0.0.1:6379); "cluster" runs the store contract, HTTP, model, deployment, what-if and
 * fleet-metrics suites again on
 * a Redis Cluster. The cluster project exists only when TEST_REDIS_CLUSTER_NODES names one
 * (`.ci/run` starts it with scripts/redis-cluster.sh and sets it).
 */
const clusterNodes = process.env.TEST_REDIS_CLUSTER_NODES;

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests share one real Redis; every test uses its own key prefix, so files may run in parallel.
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'single', include: ['test/**/*.test.ts'] },
      },
      ...(clusterNodes
        ? [
            {
              extends: true as const,
              test: {
                name: 'cluster',
                include: [
                  'test/store/**/*.test.ts',
                  'test/http/**/*.test.ts',
                  'test/model/**/*.test.ts',
                  'test/deploy/**/*.test.ts',
                  'test/what-if/**/*.test.ts',
                  'test/metrics/fleet.test.ts',
                ],
                env: { TEST_REDIS_TARGET: 'cluster' },
              },
            },
          ]
        : []),
    ],
  },
});
