/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, e.g. from `BENCH_CPU_PROF=<dir> npm run bench`):
 * the top self-time frames, and self time grouped by where the code lives (Express, zod, XState,
 * ioredis, the engine, GC, ...), as % of the profile's non-idle samples after start-up
 * (module loading and tsx transpiling are left out).
 *
 *   npx tsx bench/profile-summary.ts <file.cpuprofile | dir> [top=25]
 *
 * A directory sums every `.cpuprofile` in it (e.g. both processes of a two-process run).
 * A `.heapprofile` (BENCH_HEAP_PROF=1) is summarised the same way by bytes allocated, freed
 * objects included: where the garbage the collector's frames pay for is made.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Start-up (module loading, tsx transpiling): left out of every percentage. */
const STARTUP = /^node:internal\/modules|node_modules\/(tsx|esbuild|get-tsconfig)\//;

/** Where a frame lives, by its script URL (first match wins). */
const GROUPS: [string, RegExp][] = [
  [
    'express / router / body-parser / http glue',
    /node_modules\/(express|router|body-parser|raw-body|iconv-lite|finalhandler|send|content-type|type-is|media-typer|mime|qs|on-finished|statuses|depd|path-to-regexp|cookie|vary|accepts|negotiator|destroy|unpipe|ee-first|http-errors|safe-buffer|encodeurl|escape-html|parseurl|fresh|range-parser|etag|proxy-addr|forwarded|ipaddr|merge-descriptors|setprototypeof|toidentifier|bytes|content-disposition|utils-merge|methods|serve-static|is-promise)\//,
  ],
  ['zod', /node_modules\/zod\//],
  ['xstate', /node_modules\/xstate\//],
  [
    'ioredis / redis parser',
    /node_modules\/(ioredis|redis-parser|redis-errors|denque|cluster-key-slot|standard-as-callback|lodash)/,
  ],
  ['machines/ (charts)', /\/machines\//],
  ['src/engine', /\/src\/engine\//],
  ['src/store', /\/src\/store\//],
  ['src/http', /\/src\/http\//],
  ['src/connections', /\/src\/connections\//],
  ['other src/', /\/src\//],
  [
    'node: http / net / streams',
    /^node:(_http|http|net|stream|internal\/streams|internal\/http|_stream)/,
  ],
  ['node: other', /^node:/],
  ['other node_modules', /node_modules/],
];

function groupOf(node: ProfileNode): string {
  const { functionName, url } = node.callFrame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return '(program: V8/native outside JS)';
  if (url === '') {
    if (/^(stringify|parse)$/.test(functionName)) return `JSON (native ${functionName})`;
    return '(native, no script)';
  }
  for (const [name, re] of GROUPS) if (re.test(url)) return name;
  return 'other';
}

function load(path: string): Profile[] {
  if (statSync(path).isDirectory()) {
    return readdirSync(path)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => JSON.parse(readFileSync(join(path, f), 'utf8')) as Profile);
  }
  return [JSON.parse(readFileSync(path, 'utf8')) as Profile];
}

interface HeapNode {
  callFrame: ProfileNode['callFrame'];
  selfSize: number;
  children: HeapNode[];
}

/** Bytes allocated by group and by frame in a sampled allocation profile. */
export function summariseHeap(path: string, top = 25): string {
  const root = (JSON.parse(readFileSync(path, 'utf8')) as { head: HeapNode }).head;
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  let total = 0;
  const visit = (node: HeapNode): void => {
    if (node.selfSize > 0 && !STARTUP.test(node.callFrame.url)) {
      const frame = frameName(node.callFrame);
      self.set(frame, (self.get(frame) ?? 0) + node.selfSize);
      const g = groupOf({ id: 0, callFrame: node.callFrame });
      groups.set(g, (groups.get(g) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children) visit(child);
  };
  visit(root);
  const pct = (v: number) => `${((100 * v) / total).toFixed(1).padStart(5)} %`;
  const lines = [`sampled allocations: ${(total / 2 ** 20).toFixed(0)} MiB`, '', 'bytes by group:'];
  for (const [g, v] of [...groups].sort((a, b) => b[1] - a[1])) lines.push(`  ${pct(v)}  ${g}`);
  lines.push('', `top ${top} frames by bytes allocated:`);
  for (const [f, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${pct(v)}  ${f}`);
  }
  return lines.join('\n');
}

function frameName({ functionName, url, lineNumber }: ProfileNode['callFrame']): string {
  const short = url
    .replace(/^.*\/(node_modules\/)/, '$1')
    .replace(/^file:\/\/.*?\/(src|machines|bench)\//, '$1/');
  return `${functionName || '(anonymous)'} ${short ? `${short}:${lineNumber + 1}` : ''}`.trim();
}

export function summarise(path: string, top = 25): string {
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  let total = 0;
  let startup = 0;
  for (const profile of load(path)) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    // Self time of a sample = the delta to the next sample (V8's convention).
    profile.samples.forEach((id, i) => {
      const node = byId.get(id)!;
      if (node.callFrame.functionName === '(idle)') return;
      if (STARTUP.test(node.callFrame.url)) {
        startup += profile.timeDeltas[i + 1] ?? 0;
        return;
      }
      const dt = profile.timeDeltas[i + 1] ?? 0;
      const frame = frameName(node.callFrame);
      self.set(frame, (self.get(frame) ?? 0) + dt);
      const g = groupOf(node);
      groups.set(g, (groups.get(g) ?? 0) + dt);
      total += dt;
    });
  }
  const pct = (v: number) => `${((100 * v) / total).toFixed(1).padStart(5)} %`;
  const lines = [
    `non-idle samples: ${(total / 1e6).toFixed(1)} s of CPU (start-up module loading, ${(startup / 1e6).toFixed(1)} s, left out)`,
    '',
    'self time by group:',
  ];
  for (const [g, v] of [...groups].sort((a, b) => b[1] - a[1])) lines.push(`  ${pct(v)}  ${g}`);
  lines.push('', `top ${top} frames by self time:`);
  for (const [f, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${pct(v)}  ${f}`);
  }
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, top] = process.argv.slice(2);
  if (!path) {
    throw new Error(
      'usage: tsx bench/profile-summary.ts <file.cpuprofile | dir | file.heapprofile> [top]',
    );
  }
  const summary = path.endsWith('.heapprofile') ? summariseHeap : summarise;
  console.log(summary(path, Number(top ?? 25)));
}
