/** The printed figures table, the target verdicts and the JSON written next to them. */
import type { LostUpdateCheck } from './api.ts';
import type { PhaseFigures } from './load.ts';

export interface Scenario {
  key: string;
  label: string;
  figures: PhaseFigures;
  /** Absent for the baseline, which keeps no per-connection state. */
  check?: LostUpdateCheck;
}

export interface Target {
  name: string;
  scenario: string;
  requirement: string;
  observed: string;
  met: boolean;
}

const TARGETS = {
  singleRatio: 0.75,
  singleP99Ms: 25,
  batchRatio: 5,
  batchP99Ms: 250,
};

const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');

function table(header: string[], rows: string[][], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)].join('\n');
}

/** Evaluates the targets for every service scenario that has a baseline to compare with. */
export function evaluateTargets(baseline: PhaseFigures, scenarios: Scenario[]): Target[] {
  const targets: Target[] = [];
  for (const s of scenarios) {
    const f = s.figures;
    if (s.key.startsWith('single')) {
      const ratio = f.reqPerSec / baseline.reqPerSec;
      targets.push({
        name: 'single endpoint',
        scenario: s.label,
        requirement: `>= ${TARGETS.singleRatio}x baseline req/s and p99 < ${TARGETS.singleP99Ms} ms`,
        observed: `${f2(ratio)}x, p99 ${f1(f.p99Ms)} ms`,
        met: ratio >= TARGETS.singleRatio && f.p99Ms < TARGETS.singleP99Ms,
      });
    } else if (s.key.startsWith('batch')) {
      const ratio = f.heartbeatsPerSec / baseline.reqPerSec;
      targets.push({
        name: 'batch endpoint',
        scenario: s.label,
        requirement: `heartbeats/s >= ${TARGETS.batchRatio}x baseline req/s and p99 < ${TARGETS.batchP99Ms} ms`,
        observed: `${f2(ratio)}x, p99 ${f1(f.p99Ms)} ms`,
        met: ratio >= TARGETS.batchRatio && f.p99Ms < TARGETS.batchP99Ms,
      });
    }
  }
  const checked = scenarios.filter((s) => s.check);
  const lost = checked.reduce((n, s) => n + s.check!.lost, 0);
  const unexplained = checked.reduce((n, s) => n + s.check!.unexplained, 0);
  targets.push({
    name: 'zero lost updates',
    scenario: 'all service scenarios',
    requirement: 'lost = 0 after every scenario',
    observed: `lost ${lost}${unexplained ? `, ${unexplained} unexplained extra` : ''}`,
    met: checked.length > 0 && lost === 0,
  });
  return targets;
}

export function render(
  baseline: Scenario,
  scenarios: Scenario[],
  targets: Target[],
  cpuCount: number,
): string {
  const base = baseline.figures.reqPerSec;
  const all = [baseline, ...scenarios];
  const out: string[] = [];

  out.push(
    table(
      [
        'scenario',
        'req/s',
        'heartbeats/s',
        'p50 ms',
        'p99 ms',
        'req/s vs base',
        'hb/s vs base',
        'non-2xx',
        'lost',
      ],
      all.map((s) => [
        s.label,
        f0(s.figures.reqPerSec),
        f0(s.figures.heartbeatsPerSec),
        f2(s.figures.p50Ms),
        f2(s.figures.p99Ms),
        `${f2(s.figures.reqPerSec / base)}x`,
        `${f2(s.figures.heartbeatsPerSec / base)}x`,
        f0(s.figures.non2xx + s.figures.errors),
        s.check ? f0(s.check.lost) : '-',
      ]),
    ),
  );

  out.push('', 'Targets');
  out.push(
    table(
      ['target', 'scenario', 'requirement', 'observed', 'verdict'],
      targets.map((t) => [
        t.name,
        t.scenario,
        t.requirement,
        t.observed,
        t.met ? 'MET' : 'NOT MET',
      ]),
      5,
    ),
  );

  out.push('', 'Lost-update check (cumulative: every heartbeat acknowledged with 2xx so far)');
  for (const s of scenarios) {
    const c = s.check;
    if (!c) continue;
    const statuses = Object.entries(c.statuses)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    out.push(
      `  after ${s.label}: expected ${f0(c.expected)}, actual ${f0(c.actual)}, lost updates: ${c.lost}` +
        ` (applied but response cut off at stop: ${c.appliedUnacked}; unexplained extra: ${c.unexplained}; statuses: ${statuses})`,
    );
  }

  out.push(
    '',
    `Where the CPU goes (measured window, % of one core, ${cpuCount} cores in all; Redis is` +
      ` server-wide; "other" is every process outside the benchmark)`,
  );
  out.push(
    table(
      [
        'scenario',
        'load generator',
        'server process(es)',
        'redis',
        'other',
        'redis cmds/heartbeat',
      ],
      all.map((s) => [
        s.label,
        `${f1(s.figures.cpu.loadGenerator)}%`,
        s.figures.cpu.servers.map((c) => `${f1(c)}%`).join(' + '),
        `${f1(s.figures.cpu.redis)}%`,
        `${f1(s.figures.cpu.other)}%`,
        f2(s.figures.redisCommandsPerHeartbeat),
      ]),
    ),
  );

  const problems = all.filter((s) => s.figures.non2xx + s.figures.errors + s.figures.timeouts > 0);
  if (problems.length > 0) {
    out.push('', 'Non-2xx responses and socket errors');
    for (const s of problems) {
      const codes = Object.entries(s.figures.statusCodes)
        .filter(([code]) => !code.startsWith('2'))
        .map(([code, n]) => `${code}=${n}`)
        .join(' ');
      out.push(
        `  ${s.label}: ${codes || 'no non-2xx'}; socket errors ${s.figures.errors}, timeouts ${s.figures.timeouts}`,
      );
    }
  }
  return out.join('\n');
}
