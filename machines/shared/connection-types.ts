/**
 * The connection chart's vocabulary (ACPConnectionRecord: statuses, thresholds, context and
 * events) and the pure functions its actions use: health from the rolling window, and the
 * reports it emits to its workspace and to its installation's capacity actor. Used by
 * machines/connection.machine.ts (and re-exported there).
 */
import { type OperationWindow, type WindowStats, windowStats } from './window.ts';
import { type ComparatorSets, CARET_1 } from './version.ts';
import type { DiagnosticEntry, ErrorCategory } from './diagnostics.ts';

export type ConnectionStatus =
  'connecting' | 'connected' | 'degraded' | 'error' | 'reconnecting' | 'rolledBack';

export const CONNECTION_STATUSES = [
  'connecting',
  'connected',
  'degraded',
  'error',
  'reconnecting',
  'rolledBack',
] as const satisfies readonly ConnectionStatus[];

/** Statuses in which a connection holds an ACP slot (capacity counts these). */
export const ACTIVE_CONNECTION_STATUSES: readonly ConnectionStatus[] = [
  'connecting',
  'connected',
  'degraded',
  'reconnecting',
];

export type ConnectionHealth = 'insufficient-data' | 'healthy' | 'degraded' | 'failing';

export interface ConnectionThresholds {
  /** Operations needed in the window before the success rate may drive a state change. */
  minSamples: number;
  /** Below this success rate (0-1) a connection is degraded. */
  degradedSuccessRate: number;
  /** Below this success rate (0-1) a degraded connection goes to error. */
  errorSuccessRate: number;
  /** Above this p95 latency (ms) a connection is degraded. */
  degradedLatencyP95Ms: number;
  /** No heartbeat for this long (ms) in connected/degraded counts as a drop. */
  heartbeatTimeoutMs: number;
  /** A connection that has not completed its handshake after this long (ms) fails. */
  handshakeTimeoutMs: number;
  /** First reconnect backoff (ms); doubles per attempt up to `reconnectMaxDelayMs`. */
  reconnectBaseDelayMs: number;
  reconnectMaxDelayMs: number;
  /** Automated reconnect attempts before the connection stays in `error`. */
  maxReconnectAttempts: number;
  /** A reconnect attempt not confirmed within this long (ms) fails. */
  reconnectTimeoutMs: number;
  /** Supported protocol versions, pre-parsed (see machines/shared/version.ts). */
  supportedVersions: ComparatorSets;
  /** Human-readable form of `supportedVersions`, for the recorded reason. */
  supportedRange: string;
}

export const DEFAULT_CONNECTION_THRESHOLDS: ConnectionThresholds = {
  minSamples: 100,
  degradedSuccessRate: 0.995,
  errorSuccessRate: 0.95,
  degradedLatencyP95Ms: 2000,
  heartbeatTimeoutMs: 90_000,
  handshakeTimeoutMs: 30_000,
  reconnectBaseDelayMs: 1_000,
  reconnectMaxDelayMs: 60_000,
  maxReconnectAttempts: 5,
  reconnectTimeoutMs: 30_000,
  supportedVersions: CARET_1,
  supportedRange: '^1.0.0',
};

export interface ConnectionError {
  code: string;
  category: ErrorCategory;
  message: string;
  at: number;
}

export interface ConnectionContext {
  connectionId: string;
  installationId: string;
  workspaceId: string;
  createdAt: number;
  protocolVersion: string | null;
  negotiatedCapabilities: string[];
  window: OperationWindow;
  health: ConnectionHealth;
  /** Event time (ms) of the newest heartbeat. */
  lastHeartbeat: number | null;
  /** Heartbeats whose timestamp was older than the window (counted, not recorded). */
  staleHeartbeats: number;
  rollbackTriggered: boolean;
  rollbackReason: string | null;
  reconnectAttempts: number;
  lastError: ConnectionError | null;
  diagnostics: DiagnosticEntry[];
  /** The status last reported to the workspace and the capacity actor (= the current state). */
  status: ConnectionStatus;
}

export interface ConnectionInput {
  connectionId: string;
  installationId: string;
  workspaceId: string;
  at: number;
}

/** Every event carries `at`: event time in ms (the engine stamps commands with its clock). */
export type ConnectionEvent =
  | { type: 'HANDSHAKE'; at: number; protocolVersion: string; negotiatedCapabilities: string[] }
  | {
      type: 'HEARTBEAT';
      /** The client's timestamp: the window counts the operations at this time. */
      at: number;
      /**
       * When the engine received it. A timestamp may run ahead of it within the accepted skew;
       * `lastHeartbeat` is never later than this.
       */
      receivedAt: number;
      succeeded: number;
      failed: number;
      latencyMs: number[];
    }
  | { type: 'DROPPED'; at: number; reason?: string }
  | { type: 'RECOVERED'; at: number }
  /** From the workspace when it reverts to HTTP, or `manual` from an operator for one connection. */
  | { type: 'ROLLBACK'; at: number; reason: string; manual?: true };

/**
 * What the success rate alone says of a connection: null without a rate (fewer than
 * `minSamples` operations, see `windowStats`), else `failing` below `errorSuccessRate`,
 * `degraded` below `degradedSuccessRate`, `healthy` otherwise. Part of {@link healthOf}.
 */
export function rateHealth(
  s: Pick<WindowStats, 'successRate'>,
  t: ConnectionThresholds,
): 'healthy' | 'degraded' | 'failing' | null {
  if (s.successRate === null) return null;
  if (s.successRate < t.errorSuccessRate) return 'failing';
  if (s.successRate < t.degradedSuccessRate) return 'degraded';
  return 'healthy';
}

/**
 * Whether latency alone degrades a connection: p95 above `degradedLatencyP95Ms` over at least
 * `minSamples` latency samples. Part of {@link healthOf}.
 */
export function latencyHigh(
  s: Pick<WindowStats, 'latencySamples' | 'latencyP95'>,
  t: ConnectionThresholds,
): boolean {
  return (
    s.latencySamples >= t.minSamples &&
    s.latencyP95 !== null &&
    s.latencyP95 > t.degradedLatencyP95Ms
  );
}

/** The connection's health from its window, as the chart records it (and its guards read it). */
export function healthOf(window: OperationWindow, t: ConnectionThresholds): ConnectionHealth {
  const s = windowStats(window, t.minSamples);
  const rate = rateHealth(s, t);
  const slow = latencyHigh(s, t);
  if (rate === null) return slow ? 'degraded' : 'insufficient-data';
  if (rate === 'failing') return 'failing';
  if (rate === 'degraded' || slow) return 'degraded';
  return 'healthy';
}

export type Cause = { to: ConnectionStatus; cause: string };
export const isActive = (status: ConnectionStatus) => ACTIVE_CONNECTION_STATUSES.includes(status);

/** A report for the workspace chart (`CONNECTION_REPORT`), addressed for the engine to route. */
// Reports carry no `at`: the engine stamps the receiver's event with its clock (decision time);
// a heartbeat's own time travels as `ops.at`, the minute its operations count for.
export function report(
  c: ConnectionContext,
  status: ConnectionStatus,
  ops: { at: number; succeeded: number; failed: number; latencyP95: number | null } | null,
) {
  return {
    type: 'CONNECTION_REPORT',
    to: { kind: 'workspace', id: c.workspaceId },
    connectionId: c.connectionId,
    status,
    ops,
  };
}

/**
 * A change in the slots held, for the installation's capacity chart (`CONNECTION_ACTIVE`);
 * `admission` for a new connection's first slot, which the capacity chart may refuse.
 */
export function capacityReport(c: ConnectionContext, delta: number, admission = false) {
  return {
    type: 'CONNECTION_ACTIVE',
    to: { kind: 'capacity', id: c.installationId },
    connectionId: c.connectionId,
    workspaceId: c.workspaceId,
    delta,
    ...(admission ? { admission: true } : {}),
  };
}

export function metricsAt(window: OperationWindow, t: ConnectionThresholds) {
  const s = windowStats(window, t.minSamples);
  return { successRate: s.rawSuccessRate, latencyP95: s.latencyP95, samples: s.samples };
}
