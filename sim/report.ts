/**
 * The final report: what the fleet observed in the answers, plus what the service says at the
 * end (connection statuses, workspaces, rollbacks, holds, migrations, capacity alerts and the
 * notifications sent for them), read through the same public API.
 */
import type {
  AlertRecord,
  ApiClient,
  CapacityAnswer,
  ConnectionAnswer,
  DecisionRecord,
  Delivery,
  MigrationRecord,
  RollbackRecord,
  Tally,
  WorkspaceAnswer,
} from './client.ts';
import type { Observations } from './fleet.ts';
import type { Scenario } from './scenarios.ts';

export interface SimulationReport {
  scenario: string;
  expected: string;
  seed: number;
  mode: 'virtual' | 'real';
  installationId: string;
  containers: number;
  workspaces: number;
  rounds: number;
  /** Service time the run covered (virtual time when embedded). */
  simulatedMs: number;
  wallMs: number;
  connections: {
    /** Status of every connection at the end, as the service lists them. */
    final: Record<string, number>;
    /** How many times a connection entered each status, as the answers said. */
    entered: Record<string, number>;
    transitions: Record<string, number>;
    unsupportedHandshakes: number;
    drops: number;
    reconnects: number;
  };
  heartbeats: Observations['heartbeats'];
  workspaceStates: Record<string, number>;
  migrations: {
    requested: number;
    refused: Record<string, number>;
    /** Latest status of each migration, counted. */
    byStatus: Record<string, number>;
  };
  rollbacks: {
    workspaceId: string;
    eventId: string;
    trigger: string;
    reasonCode: string;
    at: string | null;
    successRate: number | null;
    sampleSize: number | null;
    connections: number;
  }[];
  /** Rollbacks that a heartbeat answer announced with `rollback.eventId`. */
  rollbacksAnnounced: number;
  holds: { workspaceId: string; at: string | null }[];
  capacity: {
    capacity: number | null;
    state: string | null;
    activeConnections: number | null;
    capacityPercent: number | null;
    refusedConnections: number | null;
    statesSeen: string[];
    shedAnswers: number;
  };
  alerts: {
    alertId: string;
    trigger: string;
    capacityPercent: number;
    activeConnections: number;
    at: string;
    resolvedAt: string | null;
    notificationChannels: string[];
  }[];
  notifications: {
    sent: number;
    byChannel: Record<string, number>;
    byStatus: Record<string, number>;
  };
  requests: Tally;
}

const bump = (m: Record<string, number>, k: string, by = 1) => {
  m[k] = (m[k] ?? 0) + by;
};

async function get<T>(api: ApiClient, path: string): Promise<T | null> {
  const res = await api.call<T>('GET', path);
  return res.status === 200 ? res.body : null;
}

/** Reads the end state through the API and puts it next to what the fleet observed. */
export async function buildReport(
  api: ApiClient,
  input: {
    scenario: Scenario;
    seed: number;
    mode: 'virtual' | 'real';
    installationId: string;
    observed: Observations;
    wallMs: number;
  },
): Promise<SimulationReport> {
  const { observed, installationId } = input;
  const final: Record<string, number> = {};
  const connections = await api
    .all<ConnectionAnswer>(`/v1/connections?installationId=${installationId}`)
    .catch(() => []);
  for (const c of connections) bump(final, c.status);

  const workspaceStates: Record<string, number> = {};
  const migrationStatus: Record<string, number> = {};
  const rollbacks: SimulationReport['rollbacks'] = [];
  const holds: SimulationReport['holds'] = [];
  const notifications: SimulationReport['notifications'] = {
    sent: 0,
    byChannel: {},
    byStatus: {},
  };
  const countDeliveries = (deliveries: Delivery[]) => {
    for (const d of deliveries) {
      notifications.sent++;
      bump(notifications.byChannel, d.channel);
      bump(notifications.byStatus, d.status);
    }
  };

  for (const ws of observed.workspaces) {
    const view = await get<WorkspaceAnswer>(api, `/v1/workspaces/${ws}`);
    if (!view) continue;
    bump(workspaceStates, view.state);
    const migrations = await api.all<MigrationRecord>(`/v1/workspaces/${ws}/migrations`);
    // Entries are appended per status change, newest first: the first per id is its status.
    const latest = new Map<string, string>();
    for (const m of migrations) if (!latest.has(m.migrationId)) latest.set(m.migrationId, m.status);
    for (const status of latest.values()) bump(migrationStatus, status);
    for (const r of await api.all<RollbackRecord>(`/v1/workspaces/${ws}/rollbacks`)) {
      rollbacks.push({
        workspaceId: ws,
        eventId: r.eventId,
        trigger: r.trigger,
        reasonCode: r.reasonCode,
        at: r.initiatedAt ?? null,
        successRate: r.metricsSnapshot?.successRate ?? null,
        sampleSize: r.metricsSnapshot?.sampleSize ?? null,
        connections: r.connectionIds?.length ?? 0,
      });
      const deliveries = await get<{ items: Delivery[] }>(
        api,
        `/v1/installations/${installationId}/notifications/deliveries?sourceId=${encodeURIComponent(r.eventId)}`,
      );
      countDeliveries(deliveries?.items ?? []);
    }
    for (const d of await api.all<DecisionRecord & { at?: string }>(
      `/v1/workspaces/${ws}/decisions`,
    )) {
      if (d.decision === 'rollback-held') holds.push({ workspaceId: ws, at: d.at ?? null });
    }
  }
  rollbacks.sort((a, b) => String(a.at).localeCompare(String(b.at)));

  const capacity = await get<CapacityAnswer>(api, `/v1/installations/${installationId}/capacity`);
  const alertPage = await get<{ items: AlertRecord[] }>(
    api,
    `/v1/installations/${installationId}/capacity/alerts`,
  );
  const alerts = (alertPage?.items ?? []).map((a) => {
    countDeliveries(a.deliveries ?? []);
    return {
      alertId: a.alertId,
      trigger: a.trigger,
      capacityPercent: a.capacityPercent,
      activeConnections: a.activeConnections,
      at: a.timestamp,
      resolvedAt: a.resolvedAt,
      notificationChannels: a.notificationChannels,
    };
  });

  return {
    scenario: input.scenario.name,
    expected: input.scenario.expected,
    seed: input.seed,
    mode: input.mode,
    installationId,
    containers: observed.containers,
    workspaces: observed.workspaces.length,
    rounds: observed.rounds,
    simulatedMs: observed.endedAt - observed.startedAt,
    wallMs: input.wallMs,
    connections: {
      final,
      entered: observed.entered,
      transitions: observed.transitions,
      unsupportedHandshakes: observed.unsupportedHandshakes,
      drops: observed.drops,
      reconnects: observed.reconnects,
    },
    heartbeats: observed.heartbeats,
    workspaceStates,
    migrations: {
      requested: observed.migrationsRequested,
      refused: observed.migrationsRefused,
      byStatus: migrationStatus,
    },
    rollbacks,
    rollbacksAnnounced: Object.keys(observed.rollbacksAnswered).length,
    holds,
    capacity: {
      capacity: capacity?.capacity ?? observed.capacity,
      state: capacity?.state ?? null,
      activeConnections: capacity?.activeConnections ?? null,
      capacityPercent: capacity?.capacityPercent ?? null,
      refusedConnections: capacity?.refusedConnections ?? null,
      statesSeen: observed.capacityStates,
      shedAnswers: observed.shed,
    },
    alerts,
    notifications,
    requests: api.tally,
  };
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(2)} %`);
const counts = (m: Record<string, number>) =>
  Object.keys(m).length === 0
    ? 'none'
    : Object.entries(m)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
const duration = (ms: number) => {
  const s = Math.round(ms / 1000);
  return s >= 3600
    ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`
    : s >= 60
      ? `${Math.floor(s / 60)} min ${s % 60} s`
      : `${s} s`;
};

/** `n` and the noun, in the plural unless `n` is 1: "1 container", "3 containers". */
export const count = (n: number, noun: string, nouns = `${noun}s`) =>
  `${n} ${n === 1 ? noun : nouns}`;

/** The report as text for a terminal. */
export function formatReport(r: SimulationReport): string {
  const lines = [
    `scenario ${r.scenario} (seed ${r.seed}, ${r.mode} time): ${count(r.containers, 'container')} in ${count(r.workspaces, 'workspace')}, ${count(r.rounds, 'round')}, ${duration(r.simulatedMs)} of service time in ${(r.wallMs / 1000).toFixed(1)} s`,
    `expected: ${r.expected}`,
    '',
    `connections at the end:   ${counts(r.connections.final)}`,
    `statuses entered:         ${counts(r.connections.entered)}`,
    `transitions seen:         ${counts(r.connections.transitions)}`,
    `handshakes refused (2.0.0): ${r.connections.unsupportedHandshakes}; drops ${r.connections.drops}; reconnects ${r.connections.reconnects}`,
    `heartbeats:               ${r.heartbeats.sent} sent, ${count(r.heartbeats.operations, 'operation')}, ${r.heartbeats.failedOperations} failed`,
    `workspaces at the end:    ${counts(r.workspaceStates)}`,
    `migrations:               ${r.migrations.requested} requested; log by latest status: ${counts(r.migrations.byStatus)}${Object.keys(r.migrations.refused).length ? `; refused: ${counts(r.migrations.refused)}` : ''}`,
    `rollbacks:                ${r.rollbacks.length} (${r.rollbacksAnnounced} announced in the heartbeat answer that caused it)`,
    ...r.rollbacks.map(
      (b) =>
        `  ${b.at ?? '?'}  ${b.workspaceId}  ${b.trigger} (${b.reasonCode})  success ${pct(b.successRate)} over ${b.sampleSize === null ? '? operations' : count(b.sampleSize, 'operation')}, ${count(b.connections, 'connection')}`,
    ),
    `holds (rate low, too few samples): ${r.holds.length}`,
    `capacity:                 ${r.capacity.state ?? '?'}, ${r.capacity.activeConnections ?? '?'} of ${r.capacity.capacity ?? '?'} active (${pct(r.capacity.capacityPercent)}); states seen: ${r.capacity.statesSeen.join(' -> ') || '–'}; registrations shed (503): ${r.capacity.shedAnswers}`,
    `alerts:                   ${r.alerts.length}`,
    ...r.alerts.map(
      (a) =>
        `  ${a.at}  ${a.trigger} at ${pct(a.capacityPercent)} (${a.activeConnections} active)${a.resolvedAt ? `, resolved ${a.resolvedAt}` : ', open'}; channels: ${a.notificationChannels.join(', ') || '–'}`,
    ),
    `notifications sent:       ${r.notifications.sent === 0 ? 'none' : `${r.notifications.sent} (${counts(r.notifications.byChannel)}; ${counts(r.notifications.byStatus)})`}`,
    `requests:                 ${r.requests.requests}; ${counts(r.requests.byStatus)}${Object.keys(r.requests.errorCodes).length ? `; errors: ${counts(r.requests.errorCodes)}` : ''}`,
  ];
  return lines.join('\n');
}
