/** The printed figures table, the target verdicts and the JSON written next to them. */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import prettier from 'prettier';
import type { LostUpdateCheck } from './api.ts';
import { ROOT } from './processes.ts';
import type { PhaseFigures } from './load.ts';
import type { MemoryFigures } from './memory.ts';

export interface Scenario {
  key: string;
  label: string;
  figures: PhaseFigures;
  /** Absent for the baseline, which keeps no per-connection state. */
  check?: LostUpdateCheck;
  /** Round robin: heartbeats of connected connections refused (4xx); must be 0. */
  wrongRefusals?: number;
  /** Redis bytes per connection, where measured. */
  memory?: MemoryFigures;
  /** Resident set size of the service process after the phase (scale rows), bytes. */
  serviceRss?: number;
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
  bytesPerConnection: 2048,
  scaleConnections: 100_000,
  scaleDrop: 0.2,
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

/** Evaluates the targets of issue 12 on the scenarios that were run. */
export function evaluateTargets(baseline: PhaseFigures, scenarios: Scenario[]): Target[] {
  const targets: Target[] = [];
  for (const s of scenarios) {
    const f = s.figures;
    if (s.key === 'single-1proc') {
      const ratio = f.reqPerSec / baseline.reqPerSec;
      targets.push({
        name: 'single endpoint',
        scenario: s.label,
        requirement: `>= ${TARGETS.singleRatio}x baseline req/s and p99 < ${TARGETS.singleP99Ms} ms`,
        observed: `${f2(ratio)}x, p99 ${f1(f.p99Ms)} ms`,
        met: ratio >= TARGETS.singleRatio && f.p99Ms < TARGETS.singleP99Ms,
      });
    } else if (s.key === 'batch-1proc') {
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
    scenario: 'every service scenario',
    requirement: 'lost = 0 after every scenario',
    observed: `lost ${lost}${unexplained ? `, ${unexplained} unexplained extra` : ''}`,
    met: checked.length > 0 && lost === 0,
  });
  const rr = scenarios.filter((s) => s.wrongRefusals !== undefined);
  if (rr.length > 0) {
    const wrong = rr.reduce((n, s) => n + s.wrongRefusals!, 0);
    targets.push({
      name: 'zero wrong refusals',
      scenario: 'round robin over 2 processes',
      requirement: 'no heartbeat of a connected connection refused',
      observed: `${wrong} refused`,
      met: wrong === 0,
    });
  }
  const scale = scenarios
    .filter((s) => s.key.startsWith('batch-scale-') && s.memory)
    .sort((x, y) => x.memory!.connections - y.memory!.connections);
  const largest = scale.at(-1);
  if (largest) {
    const size = largest.memory!.connections;
    targets.push({
      name: 'Redis bytes per connection',
      scenario: largest.label,
      requirement: `<= ${TARGETS.bytesPerConnection} B at ${f0(TARGETS.scaleConnections)} connections`,
      observed: `${f0(largest.memory!.bytesPerConnection)} B at ${f0(size)}`,
      met:
        size >= TARGETS.scaleConnections &&
        largest.memory!.bytesPerConnection <= TARGETS.bytesPerConnection,
    });
  }
  const small = scale[0];
  if (small && largest && small !== largest) {
    const ratio = largest.figures.heartbeatsPerSec / small.figures.heartbeatsPerSec;
    targets.push({
      name: 'heartbeats/s flat with size',
      scenario: `${f0(largest.memory!.connections)} vs ${f0(small.memory!.connections)} connections`,
      requirement: `within ${TARGETS.scaleDrop * 100} % at ${f0(TARGETS.scaleConnections)}`,
      observed: `${f2(ratio)}x`,
      met:
        largest.memory!.connections >= TARGETS.scaleConnections && ratio >= 1 - TARGETS.scaleDrop,
    });
  }
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
        'vs base',
        'CPU µs/hb',
        'redis cmds/hb',
        'scripts/hb',
        'redis B/conn',
        'non-2xx',
        'wrong refusals',
        'lost',
      ],
      all.map((s) => {
        const f = s.figures;
        const hb = Number.isFinite(f.heartbeatsPerSec);
        return [
          s.label,
          f0(f.reqPerSec),
          f0(f.heartbeatsPerSec),
          f2(f.p50Ms),
          f2(f.p99Ms),
          `${f2((hb ? f.heartbeatsPerSec : f.reqPerSec) / base)}x`,
          f0(f.serverCpuUsPerHeartbeat),
          f2(f.redisCommandsPerHeartbeat),
          f2(f.redisScriptsPerHeartbeat),
          s.memory ? f0(s.memory.bytesPerConnection) : '-',
          f0(f.non2xx + f.errors),
          s.wrongRefusals === undefined ? '-' : f0(s.wrongRefusals),
          s.check ? f0(s.check.lost) : '-',
        ];
      }),
    ),
  );
  out.push(
    '  (registration rows: req/s = connections registered + handshaken per second, CPU and',
    '   commands per connection; heartbeat rows: CPU of the service process(es) and Redis',
    '   commands, script calls included, per accepted heartbeat)',
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

  const measured = scenarios.filter((s) => s.memory);
  if (measured.length > 0) {
    out.push('', 'Redis bytes per connection (MEMORY USAGE of every key group under the prefix)');
    for (const s of measured) {
      const m = s.memory!;
      out.push(
        `  ${s.label}: ${f0(m.bytesPerConnection)} B over ${f0(m.keys)} keys` +
          (s.serviceRss === undefined ? '; ' : `, service RSS ${f0(s.serviceRss / 1e6)} MB; `) +
          m.groups
            .slice(0, 6)
            .map(
              (g) =>
                `${g.group} ${g.bytesPerConnection} B${g.entries === undefined ? '' : ` (${g.entryType}: ${f0(g.entries)} entries, ${g.bytesPerEntry} B each)`}`,
            )
            .join(', '),
      );
    }
  }

  out.push(
    '',
    `Where the CPU goes (measured window, % of one core, ${cpuCount} cores in all; Redis is` +
      ` server-wide; "other" is every process outside the benchmark)`,
  );
  out.push(
    table(
      ['scenario', 'load generator', 'server process(es)', 'redis', 'other', 'command mix per hb'],
      all.map((s) => [
        s.label,
        `${f1(s.figures.cpu.loadGenerator)}%`,
        s.figures.cpu.servers.map((c) => `${f1(c)}%`).join(' + '),
        `${f1(s.figures.cpu.redis)}%`,
        `${f1(s.figures.cpu.other)}%`,
        Object.entries(s.figures.redisCommandMix)
          .slice(0, 6)
          .map(([k, v]) => `${k} ${v}`)
          .join(' '),
      ]),
      6,
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

/** The engine without HTTP, measured by bench/engine-floor.ts. */
export interface EngineFloor {
  /** CPU µs of one `SET` of a heartbeat-sized value, 50 in flight. */
  setUs: number;
  /** CPU µs of one `ConnectionService.heartbeat`, 50 in flight over 1,000 connections. */
  heartbeatUs: number;
  /** Heartbeats per second that process reached doing nothing else. */
  heartbeatsPerSec: number;
}

/**
 * The most the single endpoint can reach, as a multiple of the baseline's rate: its request is
 * the baseline's with the `SET` replaced by the engine, so it costs at least
 * `baselineUs - setUs + heartbeatUs` of CPU.
 */
export function singleBound(baselineUs: number, floor: EngineFloor): number {
  return baselineUs / (baselineUs - floor.setUs + floor.heartbeatUs);
}

/**
 * The most the batch endpoint can reach, in heartbeats/s as a multiple of the baseline's
 * req/s, when it uses as much CPU as the baseline did: each heartbeat costs at least the
 * engine's `heartbeatUs` (measured with as many in flight as the batch scenario keeps, 8
 * requests of 100), where a baseline request costs `baselineUs`. The batch's HTTP share (a
 * hundredth of a request per heartbeat) is left out. A process that keeps more of the cores
 * busy than the baseline (V8's parallel scavenges) can measure above it: it bounds CPU per
 * heartbeat, not the share of the machine a process gets.
 */
export function batchBound(baselineUs: number, floor: EngineFloor): number {
  return baselineUs / floor.heartbeatUs;
}

/** What {@link writeResults} writes to bench/results.json. */
export interface ResultsInput {
  revision: string;
  benchSeconds: number;
  warmupSeconds: number;
  baselineSeconds: number;
  connections: number;
  batchSize: number;
  scale: number[];
  baseline: Scenario;
  scenarios: Scenario[];
  targets: Target[];
  rejectedItems: Map<number, number>;
  errorSamples: string[];
  /** The engine without HTTP (bench/engine-floor.ts) and the single endpoint's bound from it. */
  engineFloor: (EngineFloor & { singleBound: number }) | null;
  /** The same with 800 in flight, as the batch scenario, and the batch endpoint's bound. */
  engineFloorBatch: (EngineFloor & { batchBound: number }) | null;
}

/** Writes the run's figures to bench/results.json (prettier-formatted); returns the path. */
export async function writeResults(input: ResultsInput): Promise<string> {
  const { baseline, scenarios } = input;
  const results = {
    finishedAt: new Date().toISOString(),
    revision: input.revision,
    node: process.version,
    cpus: cpus().length,
    benchSeconds: input.benchSeconds,
    warmupSeconds: input.warmupSeconds,
    baselineSeconds: input.baselineSeconds,
    connections: input.connections,
    batchSize: input.batchSize,
    scale: input.scale,
    scenarios: Object.fromEntries(
      [baseline, ...scenarios].map((s) => [
        s.key,
        {
          label: s.label,
          ...s.figures,
          reqPerSecVsBaseline: s.figures.reqPerSec / baseline.figures.reqPerSec,
          heartbeatsPerSecVsBaseline: s.figures.heartbeatsPerSec / baseline.figures.reqPerSec,
          lostUpdateCheck: s.check ?? null,
          wrongRefusals: s.wrongRefusals ?? null,
          memory: s.memory ?? null,
          serviceRss: s.serviceRss ?? null,
        },
      ]),
    ),
    targets: input.targets,
    rejectedBatchItems: Object.fromEntries(input.rejectedItems),
    errorSamples: input.errorSamples,
    engineFloor: input.engineFloor,
    engineFloorBatch: input.engineFloorBatch,
  };
  const file = `${ROOT}bench/results.json`;
  // Formatted like the rest of the repo so `prettier --check .` stays green.
  const json = await prettier.format(JSON.stringify(results), {
    ...(await prettier.resolveConfig(file)),
    parser: 'json',
  });
  await writeFile(file, json);
  return file;
}
