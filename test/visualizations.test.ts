import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderVisualizations } from '../scripts/viz.ts';
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
