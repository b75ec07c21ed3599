/**
 * `npm run what-if -- --workspace <id> --from <iso> [--to <iso>] --set minSuccessRate=0.985
 * [--set ...] [--url http://127.0.0.1:3000 --token T] [--json]`
 *
 * Calls `POST /v1/workspaces/:id/what-if` of a running service and prints the recorded and the
 * candidate decisions side by side (or the answer as JSON with --json). A reference client: it
 * uses the public HTTP API only.
 */
import { parseArgs } from 'node:util';
import { decisionRows } from '../src/workspaces/what-if-rows.ts';
import { answerBody, fetchWithin, urlProblem } from './client.ts';
import { DEV_TOKEN } from './simulate.ts';

const USAGE = `usage: npm run what-if -- --workspace <id> --from <iso> [options]

  --workspace ID     the workspace to replay
  --from ISO         start of the range (UTC, e.g. 2026-01-05T09:00:00Z)
  --to ISO           end of the range (default: now)
  --set K=V          a candidate setting, repeatable: minSuccessRate, windowMinutes, minSamples,
                     cooldownMinutes, flapLimit, flapWindowHours, autoMigrateAfterMinutes,
                     migrationTimeoutMinutes, defaultProtocol, migrationEnabled, rolloutMode,
                     autoRollout
  --url URL          the service (default http://127.0.0.1:3000)
  --token T          bearer token (default the development operator token)
  --json             print the answer as JSON
`;

/** How long the service may take to answer (the replay runs in the request, over the journal). */
const TIMEOUT_MS = 60_000;

const TOP_LEVEL = new Set(['defaultProtocol', 'migrationEnabled', 'rolloutMode', 'autoRollout']);

interface Decision {
  at: string;
  kind: string;
  id: string;
  trigger: string | null;
  evidence: { successRate: number | null; sampleSize: number } | null;
}

interface Answer {
  workspaceId: string;
  from: string;
  to: string;
  settings: { recorded: Settings; candidate: Settings } | null;
  actual: {
    decisions: Decision[];
    finalState: string | null;
    recorded: Decision[];
    matchesRecord: boolean;
  };
  whatIf: { decisions: Decision[]; finalState: string | null };
  summary: {
    actual: Record<string, number>;
    whatIf: Record<string, number>;
    firstDifference: { actual: Decision | null; whatIf: Decision | null } | null;
  };
  coverage: { complete: boolean; journalFrom: string | null; eventsInRange: number };
}

type Settings = Record<string, unknown> & { thresholds: Record<string, unknown> };

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}`);
  process.exit(2);
}

/** `--set minSuccessRate=0.985` as the settings route's wire format. */
function settingsOf(sets: readonly string[]): Settings {
  const settings: Settings = { thresholds: {} };
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) fail(`--set ${s}: expected NAME=VALUE`);
    const name = s.slice(0, eq).replace(/^thresholds\./, '');
    const raw = s.slice(eq + 1);
    const value =
      raw === 'true'
        ? true
        : raw === 'false'
          ? false
          : raw !== '' && !Number.isNaN(Number(raw))
            ? Number(raw)
            : raw;
    if (TOP_LEVEL.has(name)) settings[name] = value;
    else settings.thresholds[name] = value;
  }
  if (Object.keys(settings.thresholds).length === 0)
    delete (settings as Partial<Settings>).thresholds;
  return settings;
}

const pct = (r: number | null) => (r === null ? 'n/a' : `${(r * 100).toFixed(2)} %`);

function cell(d: Decision | undefined): string {
  if (!d) return '-';
  const e = d.evidence;
  const why =
    e && (d.kind === 'rollback' || d.kind === 'hold')
      ? ` ${pct(e.successRate)} of ${e.sampleSize}`
      : '';
  return `${d.kind}${why}${d.trigger ? ` (${d.trigger})` : ''}`;
}

/** The two decision lists merged by time and record id, one row per decision. */
function formatAnswer(a: Answer): string {
  const lines: string[] = [];
  lines.push(`what-if for workspace ${a.workspaceId}, ${a.from} .. ${a.to}`);
  if (a.settings) {
    const changed: string[] = [];
    const flat = (s: Settings): Record<string, unknown> => {
      const { thresholds, ...rest } = s;
      return { ...rest, ...thresholds };
    };
    const before = flat(a.settings.recorded);
    const after = flat(a.settings.candidate);
    for (const k of Object.keys(after)) {
      if (before[k] !== after[k]) changed.push(`${k} ${String(before[k])} -> ${String(after[k])}`);
    }
    lines.push(`settings: ${changed.length ? changed.join(', ') : 'as recorded'}`);
  }
  const cov = a.coverage;
  lines.push(
    `journal: ${cov.eventsInRange} events in range${cov.complete ? '' : ` (trimmed: replay starts at ${cov.journalFrom ?? 'nothing recorded'})`}`,
  );
  const sorted = decisionRows(a.actual.decisions, a.whatIf.decisions);
  const table = [['time', 'actual (recorded settings)', 'what-if (candidate settings)']];
  for (const r of sorted)
    table.push([r.at.replace('T', ' ').slice(0, 19), cell(r.actual), cell(r.whatIf)]);
  const widths = [0, 1].map((i) => Math.max(...table.map((row) => row[i]!.length)));
  lines.push('');
  for (const [i, row] of table.entries()) {
    lines.push(`${row[0]!.padEnd(widths[0]!)}  ${row[1]!.padEnd(widths[1]!)}  ${row[2]}`.trimEnd());
    if (i === 0)
      lines.push(`${'-'.repeat(widths[0]!)}  ${'-'.repeat(widths[1]!)}  ${'-'.repeat(28)}`);
  }
  if (sorted.length === 0) lines.push('(no decisions in the range)');
  lines.push('');
  const count = (c: Record<string, number>) =>
    `${c.rollback} rollbacks, ${c.hold} holds, ${c['migration-started']} migrations started, ${c['migration-succeeded']} succeeded, ${c['migration-failed']} failed`;
  lines.push(`actual:  ${count(a.summary.actual)}; final state ${a.actual.finalState ?? 'n/a'}`);
  lines.push(`what-if: ${count(a.summary.whatIf)}; final state ${a.whatIf.finalState ?? 'n/a'}`);
  const first = a.summary.firstDifference;
  lines.push(
    first
      ? `first difference at ${(first.actual ?? first.whatIf)!.at}: ${cell(first.actual ?? undefined)} vs ${cell(first.whatIf ?? undefined)}`
      : a.actual.finalState === a.whatIf.finalState
        ? 'no difference'
        : // A timer's length (a cooldown, a migration timeout) can change the state without a decision.
          `no difference in decisions, but the final state differs: ${a.actual.finalState ?? 'n/a'} vs ${a.whatIf.finalState ?? 'n/a'}`,
  );
  // A trimmed journal starts the replay after `from`: the decisions before its start are
  // recorded but in neither run, which is not a replay that went wrong.
  const start = cov.complete ? null : cov.journalFrom;
  const unreplayed = start === null ? 0 : a.actual.recorded.filter((d) => d.at < start).length;
  const rest = a.actual.recorded.slice(unreplayed);
  const restMatches =
    rest.length === a.actual.decisions.length &&
    rest.every((d, i) => {
      const e = a.actual.decisions[i]!;
      return d.kind === e.kind && d.id === e.id && d.at === e.at;
    });
  lines.push(
    a.actual.matchesRecord
      ? 'the replay with the recorded settings matches the audit records exactly'
      : unreplayed > 0 && restMatches
        ? `note: ${unreplayed} recorded decisions in the range come before the journal's start (${start}) and are in neither run; the replay matches the audit records after it (see --json: actual.recorded)`
        : 'note: the replay with the recorded settings differs from the audit records (see --json: actual.recorded)',
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        workspace: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        set: { type: 'string', multiple: true, default: [] },
        url: { type: 'string', default: 'http://127.0.0.1:3000' },
        token: { type: 'string', default: DEV_TOKEN },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    fail((error as Error).message);
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (!args.workspace) fail('--workspace is required');
  if (!args.from) fail('--from is required');
  const urlError = urlProblem(args.url);
  if (urlError) fail(urlError);
  const body = {
    from: args.from,
    ...(args.to ? { to: args.to } : {}),
    settings: settingsOf(args.set),
  };
  const base = args.url.replace(/\/+$/, '');
  const path = `/v1/workspaces/${encodeURIComponent(args.workspace)}/what-if`;
  let res: Response;
  try {
    res = await fetchWithin(
      base,
      path,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${args.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      },
      TIMEOUT_MS,
    );
  } catch (error) {
    process.stderr.write(`what-if failed: ${(error as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  const answer = await answerBody(res, base);
  if (!res.ok) {
    // A proxy's 502 or 504 may come with no body at all.
    const e = (answer as { error?: { code: string; message: string } } | null)?.error;
    process.stderr.write(
      e
        ? `what-if failed: ${res.status} ${e.code}: ${e.message}\n`
        : `what-if failed: ${base} answered ${res.status} without an error in its body\n`,
    );
    process.exit(1);
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
    return;
  }
  // No checkpoint at all (settings: null): both runs are empty, which a table would show as
  // "no difference" beside the real decisions the service made.
  if ((answer as Answer).settings === null) {
    process.stderr.write(
      `what-if failed: nothing recorded to replay for workspace ${args.workspace}: its journal is empty (the service runs with WHAT_IF_JOURNAL_EVENTS=0, or nothing happened to the workspace since it journals)\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`${formatAnswer(answer as Answer)}\n`);
}

await main().catch((error: unknown) => {
  process.stderr.write(
    `what-if failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
});
