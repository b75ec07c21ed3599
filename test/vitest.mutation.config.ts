import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { type Reporter, type TestModule, experimental_getRunnerTask } from 'vitest/node';

/**
 * Stryker's vitest runner (9.6.1, also 10.0.0) builds a mutant's result from the tests it
 * collected. A test file whose import throws collects none, so a static mutant that stops a chart
 * from being built (`...publish(x)` with `publish` returning undefined) would be scored as
 * survived although every test of that file fails (stryker-js#6150). This reporter gives such a
 * file one failed test carrying its load error; files that loaded are left as they are.
 */
export class UnloadableFileAsFailedTest implements Reporter {
  onTestRunEnd(testModules: readonly TestModule[]) {
    for (const module of testModules) {
      const file = experimental_getRunnerTask(module);
      if (file.result?.state !== 'fail' || file.tasks.length > 0) continue;
      file.tasks.push({
        type: 'test',
        id: `${file.id}_load`,
        name: 'loads its imports',
        fullName: `${file.name} loads its imports`,
        fullTestName: 'loads its imports',
        mode: 'run',
        file,
        suite: file,
        meta: {},
        context: undefined as never, // built by vitest for a test that runs; this one never does
        annotations: [],
        artifacts: [],
        timeout: 0,
        result: { state: 'fail', errors: file.result.errors ?? [] },
      });
    }
  }
}

/**
 * The tests `npm run mutate` (Stryker) runs against each mutant of machines/: the chart tests,
 * the property tests, the model coverage test and the visualizations test. The HTTP and
 * path-model suites are left out: they build their paths at import time and take minutes, which
 * every mutant would pay (issue #9, section 4). Runs on its own too:
 * `npx vitest run -c test/vitest.mutation.config.ts`.
 */
export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: [
      'test/machines/**/*.test.ts',
      'test/property/**/*.test.ts',
      'test/model/coverage.test.ts',
      'test/visualizations.test.ts',
    ],
    reporters: ['default', new UnloadableFileAsFailedTest()],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
