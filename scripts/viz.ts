/**
 * Generates visualizations/ from machines/: per chart a Stately-importable JSON definition and
 * a Mermaid diagram, plus a Markdown index. `--check` fails (exit 1) when the files are stale.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
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

const dir = new URL('../visualizations/', import.meta.url);
if (import.meta.url === `file://${process.argv[1]}`) {
  const check = process.argv.includes('--check');
  mkdirSync(dir, { recursive: true });
  let stale = 0;
  for (const [name, content] of renderVisualizations()) {
    const url = new URL(name, dir);
    let current: string | null = null;
    try {
      current = readFileSync(url, 'utf8');
    } catch {
      current = null;
    }
    if (current === content) continue;
    stale++;
    if (check) console.error(`stale: visualizations/${name}`);
    else writeFileSync(url, content);
  }
  if (check && stale > 0) process.exit(1);
  console.log(check ? 'visualizations are current' : `wrote ${stale} file(s) to visualizations/`);
}
