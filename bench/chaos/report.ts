/** The chaos table: one markdown row per scenario, then the notes that explain the rows. */
import type { ChaosOptions, ScenarioResult } from './scenarios.ts';
import { passed } from './scenarios.ts';

/** A scenario that could not run to the end. */
export interface ScenarioFailure {
  name: string;
  error: string;
}

export type Outcome = ScenarioResult | ScenarioFailure;

const isFailure = (o: Outcome): o is ScenarioFailure => 'error' in o;

function answers(a: Record<string, number>): string {
  return Object.entries(a)
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
}

const num = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits);

/** Markdown for the README and bench/chaos-results.md (not yet Prettier-formatted). */
export function renderChaos(
  outcomes: Outcome[],
  options: ChaosOptions,
  meta: { date: string; revision: string },
): string {
  const rows = outcomes.map((o) => {
    if (isFailure(o)) return `| ${o.name} | did not complete | | | | | | | | | **FAIL** |`;
    const cells = [
      o.name,
      o.acked,
      o.stored,
      o.unacked,
      o.lost,
      o.appliedTwice,
      o.wronglyRefused,
      answers(o.answers),
      num(o.faultP99Ms),
      num(o.recoverySeconds, 1),
      passed(o) ? 'pass' : '**FAIL**',
    ];
    return `| ${cells.join(' | ')} |`;
  });
  const notes = outcomes.flatMap((o) => {
    if (isFailure(o)) {
      // The message and what the child printed, without the stack frames.
      const lines = o.error
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('at ') && !/^\^+$/.test(l));
      return [`- **${o.name}**: ${lines.slice(0, 4).join(' / ').replace(/`/g, "'")}`];
    }
    const lines: string[] = [];
    if (o.window.note) lines.push(o.window.note);
    lines.push(`slowest /readyz ${num(o.readyzSlowestMs)} ms`);
    if (o.duplicates > 0) lines.push(`${o.duplicates} retries answered \`duplicate: true\``);
    if (o.nonJsonLogLines > 0) lines.push(`${o.nonJsonLogLines} non-JSON log lines`);
    const samples = o.samples.map((s) => `  - \`${s.replace(/`/g, "'").replace(/\|/g, '/')}\``);
    return [`- **${o.name}**: ${lines.join('; ')}.`, ...samples];
  });
  return [
    `## Chaos results`,
    '',
    `${meta.date}, revision ${meta.revision}: ${options.processes} service processes behind a ` +
      `round-robin client, ${options.clients} virtual clients over ${options.connections} ` +
      `connections, outages of ${options.faultMs / 1000} s, REDIS_COMMAND_TIMEOUT_MS ` +
      `${options.commandTimeoutMs}, client timeout ${options.requestTimeoutMs} ms. Every heartbeat ` +
      `carries its own heartbeatId and is retried with it after a 5xx, a timeout or a network ` +
      `error.`,
    '',
    '| scenario | acked | stored | unacked | lost | applied twice | wrongly refused | answers | p99 in fault (ms) | healthy after (s) | verdict |',
    '| --- | --: | --: | --: | --: | --: | --: | --- | --: | --: | --- |',
    ...rows,
    '',
    '- **acked**: distinct heartbeat ids answered 2xx; **unacked**: ids sent but never answered ' +
      '2xx (each may or may not have been applied); **stored**: the sum of `sampleSize` read back ' +
      'through the API. Per connection, stored must lie in [acked, acked + unacked]: **lost** is ' +
      'what falls below, **applied twice** what lies above.',
    '- **wrongly refused**: 4xx answers to heartbeats for connected connections. **answers**: every ' +
      'attempt, retries included, by status (`network`: no answer, `timeout`: none within the ' +
      'client timeout).',
    '- **p99 in fault**: attempts sent from the start of the fault until healthy again. **healthy ' +
      'after**: from the end of the fault (for the cluster, from the kill) until `/readyz` is 200 ' +
      'on every process and a heartbeat succeeds.',
    '',
    ...notes,
    '',
  ].join('\n');
}
