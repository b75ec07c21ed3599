/**
 * `GET /openapi.json` and the docs page `GET /docs` (Swagger UI from the swagger-ui-dist
 * package, served by this process: no CDN, works offline). Neither needs a token: the document
 * describes the API, it holds no data.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type express from 'express';
import { openApiDocument } from './document.ts';

const swaggerDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The only files /docs/assets/ serves, with their content types. */
const ASSETS = new Map([
  ['swagger-ui.css', 'text/css; charset=utf-8'],
  ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
  ['docs.js', 'text/javascript; charset=utf-8'],
]);

// No inline script: the page works under a strict Content-Security-Policy too. The page names
// its icon (none), so a browser does not ask for /favicon.ico, which is a 404 and a console error.
const DOCS_JS = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
  persistAuthorization: false,
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LumiLink ACP engine: API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs.js"></script>
</body>
</html>
`;

let assetCache: Map<string, Buffer> | null = null;
function asset(name: string): Buffer {
  assetCache ??= new Map();
  let data = assetCache.get(name);
  if (!data) {
    data = name === 'docs.js' ? Buffer.from(DOCS_JS) : readFileSync(join(swaggerDir, name));
    assetCache.set(name, data);
  }
  return data;
}

/**
 * Mounts `/openapi.json`, `/docs` and `/docs/assets/:file` (no token needed).
 *
 * @example
 * mountApiDocs(app); // before the catch-all 404
 */
export function mountApiDocs(app: express.Express): void {
  app.get('/openapi.json', (_req, res) => {
    res.set('cache-control', 'no-cache').json(openApiDocument());
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send(PAGE);
  });
  app.get('/docs/assets/:file', (req, res, next) => {
    const file = req.params.file;
    const type = ASSETS.get(file);
    if (!type) return next();
    res.set('content-type', type).set('cache-control', 'public, max-age=3600').send(asset(file));
  });
}
