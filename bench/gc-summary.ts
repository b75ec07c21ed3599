/**
 * Garbage collection per benchmark phase, from a service log written with
 * `BENCH_SERVICE_LOG=<file> BENCH_NODE_ARGS=--trace-gc`: how many scavenges and mark-compacts
 * each scale phase had, their pauses, and the share of the phase they took. The CPU profile says
 * how much GC costs; this says which collector pays it (young-generation scavenges, or marking
 * the old generation).
 *
 *   BENCH_SERVICE_LOG=/tmp/gc.log BENCH_NODE_ARGS=--trace-gc BENCH_ONLY=scale npx tsx bench/run.ts
 *   npx tsx bench/gc-summary.ts /tmp/gc.log [service-scale]
 *
 * `--trace-gc` times count from each isolate's start; the log's `[bench <epoch ms>] <name>
 * started` line (written when the process was spawned) lines them up with the phase marks, to
 * within the process's start-up. Only the process's busiest isolate is counted (a service also
 * has a module-loader thread).
 */
import { readFileSync } from 'node:fs';

interface Collection {
  isolate: string;
  at: number;
  kind: string;
  /** Main-thread pause, ms. */
  pause: number;
  /** Incremental marking steps before a mark-compact, ms (also on the main thread). */
  steps: number;
}

const GC_LINE =
  /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+) ms: (Scavenge|Mark-Compact|Mark-Sweep|Minor Mark-Compact)\b[^,]*, ([\d.]+) \/ [\d.]+ ms(?:\s+\(\+ ([\d.]+) ms in \d+ steps)?/;
const MARK = /^\[bench (\d+)\] (.*)$/;

export function summariseGc(text: string, process = 'service-scale'): string {
  let spawnedAt: number | null = null;
  const phases = new Map<string, { start: number; end?: number }>();
  const collections: Collection[] = [];
  for (const line of text.split('\n')) {
    const mark = MARK.exec(line);
    if (mark) {
      const at = Number(mark[1]);
      const what = mark[2]!;
      if (what === `${process} started`) spawnedAt = at;
      const phase = /^(\S+) (start|end)$/.exec(what);
      if (phase && spawnedAt !== null) {
        if (phase[2] === 'start') phases.set(phase[1]!, { start: at - spawnedAt });
        else {
          const p = phases.get(phase[1]!);
          if (p) p.end = at - spawnedAt;
        }
      }
      continue;
    }
    if (!line.startsWith(`${process}: `)) continue;
    const gc = GC_LINE.exec(line.slice(process.length + 2));
    if (!gc) continue;
    collections.push({
      isolate: gc[1]!,
      at: Number(gc[2]),
      kind: gc[3]!,
      pause: Number(gc[4]),
      steps: gc[5] ? Number(gc[5]) : 0,
    });
  }
  const perIsolate = new Map<string, number>();
  for (const c of collections) perIsolate.set(c.isolate, (perIsolate.get(c.isolate) ?? 0) + 1);
  const main = [...perIsolate].sort((a, b) => b[1] - a[1])[0]?.[0];
  const lines: string[] = [];
  for (const [name, { start, end }] of phases) {
    if (end === undefined) continue;
    const seconds = (end - start) / 1000;
    lines.push(`${name} (${seconds.toFixed(1)} s, from its warm-up to the end of its measurement)`);
    const byKind = new Map<string, { count: number; pause: number; steps: number }>();
    for (const c of collections) {
      if (c.isolate !== main || c.at < start || c.at > end) continue;
      const k = byKind.get(c.kind) ?? { count: 0, pause: 0, steps: 0 };
      k.count++;
      k.pause += c.pause;
      k.steps += c.steps;
      byKind.set(c.kind, k);
    }
    for (const [kind, k] of byKind) {
      const share = (100 * (k.pause + k.steps)) / (seconds * 1000);
      lines.push(
        `  ${kind}: ${k.count} times, ${k.pause.toFixed(0)} ms of pauses` +
          (k.steps > 0 ? ` + ${k.steps.toFixed(0)} ms of incremental marking` : '') +
          ` (${(k.pause / k.count).toFixed(1)} ms each), ${share.toFixed(1)} % of the phase`,
      );
    }
  }
  return lines.length > 0 ? lines.join('\n') : 'no phase marks or no --trace-gc lines found';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, name] = process.argv.slice(2);
  if (!file) throw new Error('usage: tsx bench/gc-summary.ts <service log> [process name]');
  console.log(summariseGc(readFileSync(file, 'utf8'), name));
}
