/**
 * Builds the operator console (src/console/client) into dist/console/, which the service
 * serves at `/` (src/console/serve.ts). Everything is bundled: no CDN, no external fonts.
 * `npm run build:console`; `npm start` and `npm run build` run it too.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./src/console/client', import.meta.url)),
  base: './',
  logLevel: 'warn',
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('./dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
  },
});
