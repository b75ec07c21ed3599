/**
 * The operator console (issue 11, part 1): the page at `/` and the dead-letter routes it needs.
 */
import type { AppModule } from '../module-context.ts';
import { deadLetterRoutes } from './dead-letters.ts';
import { serveConsole } from './serve.ts';

/**
 * A console module serving the bundle from `dir` (default: `dist/console/`, see serve.ts).
 *
 * @example
 * start({ modules: [...MODULES.filter((m) => m.name !== 'console'), createConsoleModule(tmp)] });
 */
export function createConsoleModule(dir?: string): AppModule {
  return {
    name: 'console',
    init() {},
    routes(app, ctx) {
      deadLetterRoutes(app, ctx);
      serveConsole(app, dir);
    },
  };
}

export const consoleModule: AppModule = createConsoleModule();
