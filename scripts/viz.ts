/**
 * Generates visualizations/ from machines/: per chart a Stately-importable JSON definition and
 * a Mermaid diagram, plus a Markdown index. Writes only the files that changed and removes the
 * generated files of charts that no longer exist (`*.json`, `*.mmd` it did not generate this
 * run; nothing else). `--check` fails (exit 1) when a file is stale or left over, changing
 * nothing. `--out <dir>` works on another directory (default visualizations/).
 */
import {
  type Dirent,
  mkdirSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHARTS } from '../machines/index.ts';
import { describeChart, toIndex, toMermaid, toStatelyConfig } from '../src/charts/catalog.ts';

export function renderVisualizations(): Map<string, string> {
  const files = new Map<string, string>();
  const described = CHARTS.map((c) => ({ ...c, d: describeChart(c.machine) }));
  for (const c of described) {
    files.set(`${c.id}.json`, JSON.stringify(toStatelyConfig(c.machine), null, 2) + '\n');
    files.set(`${c.id}.mmd`, toMermaid(c.d));
  }
  files.set('README.md', toIndex(described));
  return files;
}

/**
 * The kinds of file a chart is generated as (`<chart>.json`, `<chart>.mmd`; never a dotfile): a
 * left-over one of these is a removed chart's.
 */
export function isGeneratedKind(name: string): boolean {
  return !name.startsWith('.') && (name.endsWith('.json') || name.endsWith('.mmd'));
}

export interface VizResult {
  /** Files written (or, with `check`, that would be): missing or changed. */
  stale: string[];
  /** Generated files of charts that no longer exist: removed (or, with `check`, found). */
  leftOver: string[];
}

/**
 * Brings `dir` up to date with `files`: writes the ones whose content differs and removes the
 * files of the generated kinds that `files` does not name. Other files and directories are
 * never touched. With `check`, only reports.
 */
export function syncVisualizations(
  dir: string,
  files: Map<string, string> = renderVisualizations(),
  check = false,
): VizResult {
  if (!check) mkdirSync(dir, { recursive: true });
  const stale: string[] = [];
  for (const [name, content] of files) {
    let current: string | null;
    try {
      current = readFileSync(join(dir, name), 'utf8');
    } catch {
      current = null;
    }
    if (current === content) continue;
    stale.push(name);
    if (!check) writeFileSync(join(dir, name), content);
  }
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    entries = []; // --check of a directory that does not exist: every file is stale
  }
  const leftOver = entries
    .filter((e) => e.isFile() && isGeneratedKind(e.name) && !files.has(e.name))
    .map((e) => e.name)
    .sort();
  if (!check) for (const name of leftOver) unlinkSync(join(dir, name));
  return { stale, leftOver };
}

const DEFAULT_DIR = fileURLToPath(new URL('../visualizations/', import.meta.url));

/** `--check`, `--out <dir>`; an error message for anything else. */
export function parseVizArgs(args: readonly string[]): { check: boolean; out: string | null } {
  let check = false;
  let out: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--check') check = true;
    else if (a === '--out') {
      const dir = args[++i];
      if (dir === undefined || dir === '' || dir.startsWith('--'))
        throw new Error('--out needs a directory: npm run viz -- --out <dir>');
      out = dir;
    } else throw new Error(`unknown argument ${a}: the options are --check and --out <dir>`);
  }
  return { check, out };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let options: ReturnType<typeof parseVizArgs>;
  try {
    options = parseVizArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  const { check, out } = options;
  const dir = out === null ? DEFAULT_DIR : resolve(out);
  const shown = out === null ? 'visualizations/' : `${out.replace(/\/+$/, '')}/`;
  const { stale, leftOver } = syncVisualizations(dir, renderVisualizations(), check);
  if (check) {
    for (const name of stale) console.error(`stale: ${shown}${name}`);
    for (const name of leftOver) console.error(`left over (no such chart): ${shown}${name}`);
    if (stale.length + leftOver.length > 0) process.exit(1);
    console.log('visualizations are current');
  } else {
    const removed = leftOver.length > 0 ? `, removed ${leftOver.length} left-over file(s)` : '';
    console.log(`wrote ${stale.length} file(s) to ${shown}${removed}`);
  }
}
