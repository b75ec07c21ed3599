/**
 * The what-if panel of the workspace page: candidate thresholds (prefilled from the workspace's
 * settings) replayed over a time range by `POST /v1/workspaces/:id/what-if`, and the decisions
 * as recorded beside those with the candidate settings. Built once per page visit, so a redraw
 * of the page keeps the form and the last answer.
 */
import { decisionRows } from '../../../workspaces/what-if-rows.ts';
import { api, errorBox, seg } from '../api.ts';
import { badge, fill, h, num, pct, stateKind, table, when } from '../dom.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The thresholds the form offers (wire names of `settings.thresholds`). */
const FIELDS = [
  ['minSuccessRate', 'min success rate', '0.0001'],
  ['minSamples', 'min samples', '1'],
  ['windowMinutes', 'window (min)', '1'],
  ['cooldownMinutes', 'cooldown (min)', '1'],
  ['flapLimit', 'flap limit', '1'],
] as const;
type Field = (typeof FIELDS)[number][0];
export type Thresholds = Record<Field, number>;

/** A decision of the chart, as the what-if answer lists it. */
interface Decision {
  at: string;
  kind: string;
  id: string;
  trigger: string | null;
  reason: string | null;
  evidence: { successRate?: number | null; sampleSize?: number } | null;
}
type Counts = Record<string, number>;
interface Run {
  decisions: Decision[];
  finalState: string | null;
}
interface Answer {
  actual: Run & { matchesRecord: boolean };
  whatIf: Run;
  summary: {
    actual: Counts;
    whatIf: Counts;
    changed: boolean;
    firstDifference: { actual: Decision | null; whatIf: Decision | null } | null;
  };
  coverage: { complete: boolean; journalFrom: string | null; eventsInRange: number };
}

/** One side of a row: the kind, the evidence (rate of samples) and who triggered it. */
function cell(d: Decision | undefined): HTMLElement | string {
  if (!d) return '–';
  const e = d.evidence;
  const rate =
    e && typeof e.successRate === 'number' ? ` ${pct(e.successRate)} of ${num(e.sampleSize)}` : '';
  return h(
    'span',
    { 'data-decision': d.kind },
    badge(d.kind, d.kind === 'rollback' ? 'bad' : stateKind(d.kind)),
    `${rate}${d.trigger ? ` (${d.trigger})` : ''}`,
  );
}

/** Both runs merged by time and record id: one row per decision, both sides where both made it. */
function rows(a: Answer): [string, HTMLElement | string, HTMLElement | string][] {
  return decisionRows(a.actual.decisions, a.whatIf.decisions).map((r) => [
    when(r.at),
    cell(r.actual),
    cell(r.whatIf),
  ]);
}

const count = (c: Counts) =>
  `${c.rollback ?? 0} rollbacks, ${c.hold ?? 0} holds, ${c['migration-started'] ?? 0} migrations started`;

function summary(a: Answer): HTMLElement {
  const first = a.summary.firstDifference;
  const firstAt = first?.actual?.at ?? first?.whatIf?.at;
  return h(
    'div',
    { 'data-what-if-summary': '' },
    h(
      'p',
      null,
      `As recorded: ${count(a.summary.actual)}; final state ${a.actual.finalState ?? '–'}. `,
      `With these settings: ${count(a.summary.whatIf)}; final state ${a.whatIf.finalState ?? '–'}. `,
      a.summary.changed ? `First difference at ${when(firstAt)}.` : 'No difference.',
    ),
    h(
      'p',
      { class: 'muted' },
      `${a.coverage.eventsInRange} journaled events in the range.`,
      a.coverage.complete
        ? ''
        : ` The journal does not reach back to "from" (replay starts at ${when(a.coverage.journalFrom)}).`,
      a.actual.matchesRecord
        ? ''
        : ' The replay with the recorded settings differs from the audit records.',
    ),
  );
}

/**
 * The panel for one workspace.
 *
 * @example
 * section.append(whatIfPanel('ws-1', workspace.settings.thresholds));
 */
export function whatIfPanel(workspaceId: string, current: Thresholds): HTMLElement {
  const input = (name: string, value: string, attrs: Record<string, string> = {}) =>
    h('input', { name, value, ...attrs });
  const from = input('from', new Date(Date.now() - DAY_MS).toISOString(), { size: '24' });
  const to = input('to', '', { size: '24', placeholder: 'now' });
  const out = h('div', { 'data-what-if-result': '' });
  // A value the browser refuses (below min, above max) stops the submit before the API is
  // asked: clear the last answer or error, which was about other values.
  const refused = () => fill(out);
  const numbers = FIELDS.map(([name, label, step]) => ({
    name,
    label,
    el: input(name, String(current[name]), {
      type: 'number',
      step,
      min: '0',
      // A success rate is a fraction (0.99), not a percentage.
      ...(name === 'minSuccessRate' ? { max: '1' } : {}),
    }),
  }));
  for (const { el } of numbers) el.addEventListener('invalid', refused);
  const run = h('button', { type: 'submit', class: 'primary' }, 'Run what-if');

  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    const thresholds: Partial<Thresholds> = {};
    for (const { name, el } of numbers) if (el.value !== '') thresholds[name] = Number(el.value);
    const body = {
      from: from.value.trim(),
      ...(to.value.trim() ? { to: to.value.trim() } : {}),
      settings: { thresholds },
    };
    run.disabled = true;
    fill(out, h('p', { class: 'muted' }, 'Replaying…'));
    try {
      const a = await api<Answer>('POST', `/v1/workspaces/${seg(workspaceId)}/what-if`, body);
      fill(
        out,
        table(['time', 'as recorded', 'with these settings'], rows(a), 'no decisions in the range'),
        summary(a),
      );
    } catch (error) {
      fill(out, errorBox(error));
    } finally {
      run.disabled = false;
    }
  }

  return h(
    'section',
    { class: 'card', 'data-section': 'what-if' },
    h('h2', null, 'What-if'),
    h(
      'p',
      { class: 'muted' },
      'Replays the recorded events of a time range (UTC, ISO 8601) with these thresholds. Writes nothing.',
    ),
    h(
      'form',
      { class: 'inline', onsubmit: (e: Event) => void submit(e) },
      h('label', null, 'from ', from),
      h('label', null, 'to ', to),
      numbers.map(({ label, el }) => h('label', null, `${label} `, el)),
      run,
    ),
    out,
  );
}
