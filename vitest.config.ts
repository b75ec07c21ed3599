import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests share one real Redis; every test uses its own key prefix, so files may run in parallel.
    pool: 'forks',
  },
});
