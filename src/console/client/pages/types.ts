/** The shapes of the /v1 answers the console reads (the parts it shows). */
export interface ConnectionRecord {
  connectionId: string;
  installationId: string;
  workspaceId: string;
  status: string;
  protocolVersion: string | null;
  successRate: number | null;
  successRateStatus: string;
  sampleSize: number;
  latencyP95: number | null;
  throughputPerMin: number;
  lastHeartbeat: string | null;
  health: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Capacity {
  installationId: string;
  state: string;
  activeConnections: number;
  capacity: number;
  capacityPercent: number;
  shedding: boolean;
  refusedConnections: number;
  thresholds: { warning: number; critical: number; resolve: number };
  openAlert: Alert | null;
}

export interface Alert {
  alertId: string;
  trigger: string;
  activeConnections: number;
  capacityPercent: number;
  /** The highest usage since the alert opened (the open alert's capacityPercent is today's). */
  peakPercent?: number;
  timestamp: string;
  resolvedAt: string | null;
  notified: boolean;
  notificationChannels: string[];
  workspaceIds?: string[];
}

export interface Workspace {
  workspaceId: string;
  installationId: string;
  transport: string;
  state: string;
  transportSince: string | null;
  migration: Record<string, unknown> | null;
  scheduledMigration: Record<string, unknown> | null;
  connections: {
    total: number;
    byStatus: Record<string, number>;
    onAcp: number;
    pending: number;
    onHttp: number;
    active: number;
  };
  health: {
    successRate: number | null;
    sampleSize: number;
    latencyP95: number | null;
    windowMinutes: number;
    verdict: string;
    minSuccessRate: number;
    minSamples: number;
  };
  cooldownUntil: string | null;
  autoMigrationBlocked: boolean;
  autoRollbacksInFlapWindow: number;
  lastRollback: Record<string, unknown> | null;
  settings: {
    rolloutMode: string;
    thresholds: {
      minSuccessRate: number;
      minSamples: number;
      flapLimit: number;
      flapWindowHours: number;
      cooldownMinutes: number;
      windowMinutes: number;
    };
  };
}

/** The protocol a connection is on, as the workspace record counts them. */
export function protocolOf(status: string): 'acp' | 'pending' | 'http' {
  if (status === 'rolled-back') return 'http';
  if (status === 'connected' || status === 'degraded') return 'acp';
  return 'pending';
}
