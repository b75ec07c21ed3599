/**
 * `npm run lint` lints the sources, not what tools leave in the working tree: every folder
 * .gitignore lists (a build, coverage, mutation reports, the sandbox of an interrupted Stryker
 * run, which is a mutated copy of every source file) is ignored by ESLint too, as Prettier
 * ignores them by reading .gitignore itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run lint', () => {
  it('ignores every folder .gitignore lists, and still lints the sources', async () => {
    const folders = readFileSync(join(root, '.gitignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.endsWith('/') || line === 'node_modules');
    expect(folders).toContain('.stryker-tmp/');
    const eslint = new ESLint({ cwd: root });
    for (const folder of folders) {
      const file = join(root, folder, 'sandbox', 'src', 'config.ts');
      expect(await eslint.isPathIgnored(file), folder).toBe(true);
    }
    expect(await eslint.isPathIgnored(join(root, 'src', 'config.ts'))).toBe(false);
    expect(await eslint.isPathIgnored(join(root, 'sim', 'cli.ts'))).toBe(false);
  });
});
