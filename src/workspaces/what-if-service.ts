/**
 * `POST /v1/workspaces/:workspaceId/what-if`: loads the workspace's journal and its recorded
 * audit records, runs the pure replay (./what-if.ts) and lays the two runs side by side. Reads
 * only; writes nothing.
 */
import { z } from 'zod';
import type { Principal } from '../connections/connections.ts';
import type { RedisStore } from '../store/redis-store.ts';
import { STREAMS } from '../../machines/workspace.machine.ts';
import { invalidFields } from '../errors.ts';
import { utcTimestamp } from '../wire.ts';
import { decodeJournalEntry } from './journal-codec.ts';
import { applySettings, settingsBody, toWire } from './settings.ts';
import { type Decision, decisionOf, replayWhatIf } from './what-if.ts';
import { WORKSPACE, type WorkspaceService } from './workspaces.ts';

/** The request body: a time range and candidate settings in the settings route's wire format. */
export const whatIfBody = z
  .strictObject({
    from: utcTimestamp,
    /** Default: now. */
    to: utcTimestamp.optional(),
    settings: settingsBody,
  })
  .superRefine((b, ctx) => {
    if (b.to !== undefined && b.to <= b.from) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
    }
  });
export type WhatIfBody = z.output<typeof whatIfBody>;

/** Journal entries a replay reads at most (the journal's own cap is WHAT_IF_JOURNAL_EVENTS). */
const MAX_ENTRIES = 1_000_000;
/** Recorded audit records read per stream for the comparison. */
const MAX_RECORDS = 500;

type Counts = Record<Decision['kind'], number>;

function counts(decisions: readonly Decision[]): Counts {
  const c: Counts = {
    rollback: 0,
    hold: 0,
    'migration-started': 0,
    'migration-succeeded': 0,
    'migration-failed': 0,
    'migration-rolled-back': 0,
    'auto-migration-reenabled': 0,
  };
  for (const d of decisions) c[d.kind]++;
  return c;
}

const same = (a: Decision, b: Decision) => a.kind === b.kind && a.id === b.id && a.at === b.at;

/** The first place where two decision lists differ, or null. */
function firstDifference(actual: readonly Decision[], whatIf: readonly Decision[]) {
  for (let i = 0; i < Math.max(actual.length, whatIf.length); i++) {
    const a = actual[i];
    const b = whatIf[i];
    if (a && b && same(a, b)) continue;
    return { index: i, actual: a ?? null, whatIf: b ?? null };
  }
  return null;
}

/** The workspace's recorded audit records in [from, to], oldest first, as decisions. */
async function recordedDecisions(
  store: RedisStore,
  installationId: string,
  workspaceId: string,
  from: number,
  to: number,
): Promise<Decision[]> {
  const out: [string, Decision][] = [];
  for (const stream of Object.values(STREAMS).map((s) => s(workspaceId))) {
    const page = await store.auditPage(installationId, stream, { from, to, limit: MAX_RECORDS });
    for (const { member, json } of page) {
      // member = <15-digit ms>:<commit seq>.<position>.<record id> (see ActionPlan in planner.ts)
      const [time, rest = ''] = [member.slice(0, 15), member.slice(16)];
      const id = rest.split('.').slice(2).join('.');
      const record = JSON.parse(json) as Record<string, unknown>;
      const d = decisionOf({ stream, id, at: Number(time), record });
      if (d) out.push([member, d]);
    }
  }
  // Members order every stream of the workspace alike: time, then commit, then position.
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, d]) => d);
}

/**
 * Replays a workspace's journaled events over [from, to] with candidate settings and answers
 * what the chart would have decided, beside what it decided.
 *
 * @example
 * await whatIf(workspaces, principal, 'ws-1', { from, settings: { thresholds: { minSuccessRate: 0.98 } } });
 */
export async function whatIf(
  workspaces: WorkspaceService,
  principal: Principal,
  workspaceId: string,
  body: WhatIfBody,
) {
  const to = body.to ?? workspaces.clock.now();
  // The schema checks a `to` that was sent; the default one (now) is checked here.
  if (body.to === undefined && to < body.from) {
    throw invalidFields('body', [
      { field: 'from', message: 'must not be after now (the default `to`)' },
    ]);
  }
  const ref = await workspaces.resolve(principal, workspaceId);
  const { engine } = workspaces;
  const store = engine.store;
  const entries = (await store.journal(ref, MAX_ENTRIES)).map(decodeJournalEntry);
  const replay = replayWhatIf(engine.chart(WORKSPACE).binding.machine, entries, {
    from: body.from,
    to,
    candidate: (p) => applySettings(p, body.settings),
  });
  const recorded = await recordedDecisions(store, ref.installationId, workspaceId, body.from, to);
  const actual = replay?.actual ?? { decisions: [], finalState: null };
  const candidate = replay?.whatIf ?? { decisions: [], finalState: null };
  const journalFrom = replay?.coverage.journalFrom ?? null;
  return {
    workspaceId,
    from: new Date(body.from).toISOString(),
    to: new Date(to).toISOString(),
    settings: replay
      ? {
          recorded: toWire(replay.policyAtFrom),
          candidate: toWire(applySettings(replay.policyAtFrom, body.settings)),
        }
      : null,
    actual: {
      decisions: actual.decisions,
      finalState: actual.finalState,
      /** The audit records the service committed in the range. */
      recorded,
      matchesRecord:
        actual.decisions.length === recorded.length &&
        actual.decisions.every((d, i) => same(d, recorded[i]!)),
    },
    whatIf: { decisions: candidate.decisions, finalState: candidate.finalState },
    summary: {
      actual: counts(actual.decisions),
      whatIf: counts(candidate.decisions),
      changed: firstDifference(actual.decisions, candidate.decisions) !== null,
      firstDifference: firstDifference(actual.decisions, candidate.decisions),
    },
    coverage: {
      journalFrom: journalFrom === null ? null : new Date(journalFrom).toISOString(),
      complete: replay?.coverage.complete ?? false,
      eventsBefore: replay?.coverage.eventsBefore ?? 0,
      eventsInRange: replay?.coverage.eventsInRange ?? 0,
    },
  };
}
