/**
 * Serves the OpenAPI document and the docs page, and refuses query parameters on the routes it
 * documents as taking none (query-guard.ts), as a feature module: mounted through the
 * composition root (src/modules.ts), so that src/http/app.ts does not import the documentation,
 * which imports the feature modules' schemas, which import app.ts (no import cycle).
 */
import type { AppModule } from '../../module-context.ts';
import { refuseQueryWhereNoneIsTaken } from './query-guard.ts';
import { mountApiDocs } from './serve.ts';

export const apiDocsModule: AppModule = {
  name: 'api-docs',
  init() {},
  middleware() {
    return refuseQueryWhereNoneIsTaken();
  },
  routes(app) {
    mountApiDocs(app);
  },
};
