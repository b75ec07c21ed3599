import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isGeneratedKind, parseVizArgs, renderVisualizations } from '../scripts/viz.ts';
import { CHARTS } from '../machines/index.ts';
import { describeChart, toStatelyConfig } from '../src/charts/catalog.ts';
import { definitionOf } from '../src/inspect/frames.ts';

describe('visualizations/', () => {
  for (const [name, content] of renderVisualizations()) {
    it(`${name} is current with machines/ (run npm run viz after changing a chart)`, () => {
      const committed = readFileSync(new URL(`../visualizations/${name}`, import.meta.url), 'utf8');
      expect(committed).toBe(content);
    });
  }

  it('holds no generated file of a chart that is not in the registry', () => {
    const committed = readdirSync(new URL('../visualizations/', import.meta.url)).filter(
      isGeneratedKind,
    );
    expect(committed.sort()).toEqual(
      [...renderVisualizations().keys()].filter(isGeneratedKind).sort(),
    );
  });

  it('has a definition and a diagram for every chart in the registry', () => {
    const files = [...renderVisualizations().keys()];
    for (const c of CHARTS)
      expect(files).toEqual(expect.arrayContaining([`${c.id}.json`, `${c.id}.mmd`]));
  });

  it('lists every state, delayed transition and guard of each chart in the index', () => {
    const index = renderVisualizations().get('README.md')!;
    for (const c of CHARTS) {
      const d = describeChart(c.machine);
      for (const s of d.states) expect(index).toContain(`\`${s.path}\``);
      for (const g of d.guards) expect(index).toContain(`\`${g}\``);
      for (const t of d.transitions.filter((t) => t.delay))
        expect(index).toContain(`after \`${t.delay}\``);
    }
  });

  it('names a negated guard by the guard it negates, in every view of the chart', () => {
    const workspace = CHARTS.find((c) => c.id === 'workspace')!.machine;
    const warming = describeChart(workspace).transitions.find(
      (t) => t.source === 'http.warming' && t.event === 'always',
    );
    // `not('autoMigrationEligible')`: shown as `not` alone, it said nothing about the condition.
    expect(warming?.guard).toBe('not(autoMigrationEligible)');
    expect(describeChart(workspace).guards).not.toContain('not');
    expect(JSON.stringify(toStatelyConfig(workspace))).toContain(
      '"guard":"not(autoMigrationEligible)"',
    );
    expect(renderVisualizations().get('workspace.mmd')).toContain(
      'http_warming --> http_idle : always [not(autoMigrationEligible)]',
    );
    expect(definitionOf(workspace)).toContain('{"type":"not(autoMigrationEligible)"}');
  });
});

describe('npm run viz', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  /** The script as `npm run viz` runs it, in its own process. */
  const viz = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/viz.ts', ...args], {
      cwd: root,
      encoding: 'utf8',
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('removes the generated files of a chart that no longer exists, and nothing else', () => {
    const real = readdirSync(join(root, 'visualizations')).sort();
    const out = mkdtempSync(join(tmpdir(), 'viz-'));
    try {
      const generated = [...renderVisualizations().keys()].sort();
      const first = viz('--out', out);
      expect(first.stderr).toBe('');
      expect(first.stdout).toBe(`wrote ${generated.length} file(s) to ${out}/\n`);
      expect(readdirSync(out).sort()).toEqual(generated);

      // A chart removed from machines/ left its files; the directory also holds other things.
      writeFileSync(join(out, 'retired.json'), '{}\n');
      writeFileSync(join(out, 'retired.mmd'), 'stateDiagram-v2\n');
      writeFileSync(join(out, 'notes.txt'), 'kept\n');
      writeFileSync(join(out, 'retired.md'), 'kept\n');
      writeFileSync(join(out, '.editor.json'), '{}\n');
      mkdirSync(join(out, 'drafts.json'));
      writeFileSync(join(out, 'drafts.json', 'a.json'), '{}\n');

      const check = viz('--check', '--out', out);
      expect(check.status).toBe(1);
      expect(check.stderr).toContain(`left over (no such chart): ${out}/retired.json`);
      expect(check.stderr).toContain(`left over (no such chart): ${out}/retired.mmd`);
      expect(readdirSync(out)).toContain('retired.json'); // --check changes nothing

      const second = viz('--out', out);
      expect(second.stdout).toBe(`wrote 0 file(s) to ${out}/, removed 2 left-over file(s)\n`);
      expect(readdirSync(out).sort()).toEqual(
        [...generated, '.editor.json', 'drafts.json', 'notes.txt', 'retired.md'].sort(),
      );
      expect(readdirSync(join(out, 'drafts.json'))).toEqual(['a.json']);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    // The committed directory was not touched.
    expect(readdirSync(join(root, 'visualizations')).sort()).toEqual(real);
  });

  it('refuses an --out without a directory and an unknown argument, naming them', () => {
    expect(parseVizArgs(['--check', '--out', 'x'])).toEqual({ check: true, out: 'x' });
    expect(() => parseVizArgs(['--out'])).toThrow('--out needs a directory');
    expect(() => parseVizArgs(['--out', '--check'])).toThrow('--out needs a directory');
    expect(() => parseVizArgs(['--chek'])).toThrow('unknown argument --chek');
    const refused = viz('--out');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('--out needs a directory');
  });
});
