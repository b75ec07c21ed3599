/**
 * The workspace chart's own view of its connections: each one's last reported status and a
 * bounded rolling window of per-minute operation counts, fed by the connections' reports. The
 * workspace decides breach, hold or healthy from this alone (`healthVerdict`), so no count is
 * re-read or re-decided outside the chart.
 */
import {
  type HealthEvidence,
  type HealthVerdict,
  type WorkspacePolicy,
  healthVerdict,
} from './workspace-policy.ts';

/** A connection's status as its workspace knows it (the connection chart's state names). */
export type MemberStatus =
  'connecting' | 'connected' | 'degraded' | 'error' | 'reconnecting' | 'rolledBack';

/**
 * `[epochMinute, succeeded, failed, worst p95 latency reported in that minute | null]`, oldest
 * first, at most `windowMinutes` entries, only for operations since the transport began.
 */
export type WorkspaceWindow = [number, number, number, number | null][];

export interface ConnectionCounts {
  /** Connections not rolled back (they hold or seek an ACP session). */
  active: number;
  /** Of those, connected or degraded: on ACP. */
  onAcp: number;
  /** Of those, connecting, reconnecting or in error: not (yet) on ACP. */
  pending: number;
  /** Rolled back: on HTTP. */
  onHttp: number;
}

const MINUTE = 60_000;

export function countMembers(members: Record<string, MemberStatus>): ConnectionCounts {
  const counts = { active: 0, onAcp: 0, pending: 0, onHttp: 0 };
  for (const status of Object.values(members)) {
    if (status === 'rolledBack') {
      counts.onHttp++;
      continue;
    }
    counts.active++;
    if (status === 'connected' || status === 'degraded') counts.onAcp++;
    else counts.pending++;
  }
  return counts;
}

/** The connections that are not rolled back, in a stable order. */
export function liveMembers(members: Record<string, MemberStatus>): string[] {
  return Object.keys(members)
    .filter((id) => members[id] !== 'rolledBack')
    .sort();
}

/** What the chart knows when it absorbs a report. */
export interface WindowOwner {
  policy: WorkspacePolicy;
  members: Record<string, MemberStatus>;
  window: WorkspaceWindow;
  /** When the transport began: heartbeats timed in an earlier minute are not counted. */
  since: number;
  /** The active members when the owner already counted them (else they are counted here). */
  active?: number;
}

export interface Report {
  connectionId: string;
  status: MemberStatus;
  /** A heartbeat's operations and its own time (the minute they count for). */
  ops: { at: number; succeeded: number; failed: number; latencyP95: number | null } | null;
}

/** The members and window after one report (pure; the inputs are not modified). */
export function absorbReport(
  owner: WindowOwner,
  r: Report,
): { members: Record<string, MemberStatus>; window: WorkspaceWindow } {
  const members =
    owner.members[r.connectionId] === r.status
      ? owner.members
      : { ...owner.members, [r.connectionId]: r.status };
  if (!r.ops || r.ops.succeeded + r.ops.failed === 0) return { members, window: owner.window };
  const minute = Math.floor(r.ops.at / MINUTE);
  // Reports arrive after the transport began (the window is emptied then); a heartbeat timed in
  // the minute of the change counts (clients send whole seconds, and its operations were
  // reported after the change), one timed in an earlier minute belongs to the old transport.
  if (minute < Math.floor(owner.since / MINUTE)) return { members, window: owner.window };
  const last = owner.window.at(-1);
  const head = Math.max(minute, last?.[0] ?? minute);
  const first = head - owner.policy.windowMinutes + 1;
  if (minute < first) return { members, window: owner.window };
  // The common case: more operations in the newest minute, nothing to evict.
  if (last?.[0] === minute && owner.window[0]![0] >= first) {
    const window = owner.window.slice();
    window[window.length - 1] = [
      minute,
      last[1] + r.ops.succeeded,
      last[2] + r.ops.failed,
      worst(last[3], r.ops.latencyP95),
    ];
    return { members, window };
  }
  const window: WorkspaceWindow = [];
  let placed = false;
  for (const entry of owner.window) {
    if (entry[0] < first) continue;
    if (!placed && entry[0] > minute) {
      window.push([minute, r.ops.succeeded, r.ops.failed, r.ops.latencyP95]);
      placed = true;
    }
    if (entry[0] === minute) {
      window.push([
        minute,
        entry[1] + r.ops.succeeded,
        entry[2] + r.ops.failed,
        worst(entry[3], r.ops.latencyP95),
      ]);
      placed = true;
    } else {
      window.push(entry);
    }
  }
  if (!placed) window.push([minute, r.ops.succeeded, r.ops.failed, r.ops.latencyP95]);
  return { members, window };
}

const worst = (a: number | null, b: number | null) =>
  a === null ? b : b === null ? a : Math.max(a, b);

/** The evidence every decision records (`metricsSnapshot`), from the chart's own window. */
export function evidenceOf(owner: WindowOwner): HealthEvidence {
  const head = owner.window.at(-1)?.[0] ?? 0;
  const first = head - owner.policy.windowMinutes + 1;
  let ok = 0;
  let ko = 0;
  let p95: number | null = null;
  for (const [minute, s, f, l] of owner.window) {
    if (minute < first) continue;
    ok += s;
    ko += f;
    p95 = worst(p95, l);
  }
  const samples = ok + ko;
  return {
    successRate: samples === 0 ? null : ok / samples,
    sampleSize: samples,
    latencyP95: p95,
    windowMinutes: owner.policy.windowMinutes,
    activeConnections: owner.active ?? countMembers(owner.members).active,
    capacityPercent: null,
  };
}

/**
 * The minutes the window covers, from its oldest counted minute to its newest (at least 1): what
 * its operations are spread over.
 */
export function coveredMinutes(owner: Pick<WindowOwner, 'policy' | 'window'>): number {
  const head = owner.window.at(-1)?.[0];
  if (head === undefined) return 1;
  const first = Math.max(owner.window[0]![0], head - owner.policy.windowMinutes + 1);
  return Math.max(1, head - first + 1);
}

/** The verdict of the window against the policy. */
export function verdictOf(owner: WindowOwner): HealthVerdict {
  return healthVerdict(evidenceOf(owner), owner.policy);
}
