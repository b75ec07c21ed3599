/**
 * The ACPConnectionRecord and the heartbeat answer as served, from a connection chart's
 * persisted snapshot: the seed's field names, wire-format values (kebab-case, ISO UTC).
 */
import type { ConnectionContext } from '../../machines/connection.machine.ts';
import { windowStats } from '../../machines/shared/window.ts';
import { type PersistedState, stateName } from '../engine/step.ts';
import { iso, toKebab } from '../wire.ts';

/** The ACPConnectionRecord as served: the seed's field names, wire-format values. */
export interface ConnectionRecord {
  connectionId: string;
  installationId: string;
  workspaceId: string;
  status: string;
  protocolVersion: string | null;
  negotiatedCapabilities: string[];
  /** Decimal 0-1 over the rolling hour, or null while there is insufficient data. */
  successRate: number | null;
  successRateStatus: 'ok' | 'insufficient-data';
  /** Success rate over whatever the window holds, for display even below the minimum. */
  observedSuccessRate: number | null;
  sampleSize: number;
  latencyP95: number | null;
  throughputPerMin: number;
  lastHeartbeat: string | null;
  rollbackTriggered: boolean;
  rollbackReason: string | null;
  health: string;
  reconnectAttempts: number;
  lastError: { code: string; category: string; message: string; at: string | null } | null;
  diagnostics: {
    at: string | null;
    from: string;
    to: string;
    event: string;
    cause: string;
    successRate: number | null;
    latencyP95: number | null;
    samples: number;
  }[];
  createdAt: string | null;
  version: number;
}

export function toRecord(
  state: PersistedState,
  version: number,
  minSamples: number,
): ConnectionRecord {
  const c = state.context as unknown as ConnectionContext;
  const s = windowStats(c.window, minSamples);
  return {
    connectionId: c.connectionId,
    installationId: c.installationId,
    workspaceId: c.workspaceId,
    status: toKebab(stateName(state.value)),
    protocolVersion: c.protocolVersion,
    negotiatedCapabilities: c.negotiatedCapabilities,
    successRate: s.successRate,
    successRateStatus: s.successRate === null ? 'insufficient-data' : 'ok',
    observedSuccessRate: s.rawSuccessRate,
    sampleSize: s.samples,
    latencyP95: s.latencyP95,
    throughputPerMin: Math.round(s.throughputPerMin * 100) / 100,
    lastHeartbeat: iso(c.lastHeartbeat),
    rollbackTriggered: c.rollbackTriggered,
    rollbackReason: c.rollbackReason,
    health: c.health,
    reconnectAttempts: c.reconnectAttempts,
    lastError: c.lastError ? { ...c.lastError, at: iso(c.lastError.at) } : null,
    diagnostics: c.diagnostics.map((d) => ({
      ...d,
      at: iso(d.at),
      from: toKebab(d.from),
      to: toKebab(d.to),
    })),
    createdAt: iso(c.createdAt),
    version,
  };
}

/** The short answer to a heartbeat: what changed, without the diagnostics history. */
export function toHeartbeatAck(state: PersistedState, version: number, minSamples: number) {
  const c = state.context as unknown as ConnectionContext;
  const s = windowStats(c.window, minSamples);
  return {
    connectionId: c.connectionId,
    status: toKebab(stateName(state.value)),
    health: c.health,
    successRate: s.successRate,
    sampleSize: s.samples,
    latencyP95: s.latencyP95,
    lastHeartbeat: iso(c.lastHeartbeat),
    version,
  };
}
