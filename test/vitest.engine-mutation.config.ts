import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { UnloadableFileAsFailedTest } from './vitest.mutation.config.ts';

/**
 * The tests `npm run mutate:engine` (Stryker, stryker.engine.config.json) runs against each
 * mutant of the snapshot codec and the snapshot cache: their unit and property tests, which need
 * no Redis and run in about a second.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['test/engine/snapshot-codec.test.ts', 'test/engine/snapshot-cache.test.ts'],
    reporters: ['default', new UnloadableFileAsFailedTest()],
  },
});
