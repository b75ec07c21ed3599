/**
 * Production build: `npm run build` -> dist/, runnable with plain `node dist/src/main.js`.
 *
 * 1. Removes dist/.
 * 2. Compiles src/ and machines/ with tsconfig.build.json (`.ts` import specifiers are rewritten
 *    to `.js`), keeping the source layout: src/x.ts -> dist/src/x.js.
 * 3. Bundles the operator console (src/console/client, vite.console.config.ts) into dist/console/.
 * 4. Copies every non-TypeScript file under src/ and machines/ (the Lua scripts, and any other
 *    asset loaded at runtime through `new URL('./...', import.meta.url)`) to the same place.
 * 5. Checks that every `new URL('./...', import.meta.url)` in the output points at something that
 *    exists, so an asset kept outside src/ or machines/ fails the build instead of production.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(root, 'dist');
const sourceDirs = ['src', 'machines'];

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

rmSync(outDir, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], {
  cwd: root,
  stdio: 'inherit',
});

// The operator console (src/console/client) bundled into dist/console/, served at `/`.
await build({ configFile: join(root, 'vite.console.config.ts'), logLevel: 'warn' });

let assets = 0;
for (const dir of sourceDirs) {
  for (const file of walk(join(root, dir))) {
    if (file.endsWith('.ts')) continue;
    cpSync(file, join(outDir, relative(root, file)));
    assets++;
  }
}

// `new URL('./lua/x.lua', import.meta.url)` or a template such as `./lua/${name}.lua`: the part
// before the first `${` must exist (for a template, that is the directory).
const assetRef = /new URL\(\s*(['"`])(\.{1,2}\/[^'"`]*)\1\s*,\s*import\.meta\.url\s*\)/g;
const missing: string[] = [];
for (const file of walk(outDir)) {
  if (!file.endsWith('.js')) continue;
  for (const match of readFileSync(file, 'utf8').matchAll(assetRef)) {
    const spec = match[2]!;
    const fixed = spec.split('${')[0]!;
    const target = join(dirname(file), fixed);
    if (!existsSync(target)) missing.push(`${relative(root, file)}: ${spec}`);
  }
}
if (missing.length > 0) {
  process.stderr.write(`build: runtime assets missing from dist/:\n  ${missing.join('\n  ')}\n`);
  process.exit(1);
}

process.stdout.write(
  `build: dist/ ready (${assets} assets copied, console in dist/console/); run: node dist/src/main.js\n`,
);
