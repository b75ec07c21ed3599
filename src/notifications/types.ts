/** The contract between the notifications module and the features that notify. */
import { serviceKey } from '../services.ts';
export type Channel = 'toast' | 'email' | 'webhook';
export type NotificationKind = 'capacity-alert' | 'rollback' | 'recovery' | 'automation-skip';

export interface NotificationRequest {
  /** Stable id: delivering the same request twice sends nothing new (at-least-once callers). */
  id: string;
  installationId: string;
  kind: NotificationKind;
  workspaceId?: string | null;
  sessionId?: string | null;
  /** What the notification is about: an alertId, a rollback eventId, an automation run. */
  sourceId: string;
  /** Body at most 140 characters, never a secret. */
  toast: { title: string; body: string; severity: 'info' | 'warning' | 'error' };
  /** Full payload for webhook and email (JSON-serialisable, never a secret). */
  details: Record<string, unknown>;
}

export interface DeliveryRecord {
  channel: Channel;
  /** Where it went, without secrets: a URL's origin+path, an email address. */
  target: string;
  status: 'pending' | 'delivered' | 'failed' | 'dead-lettered' | 'skipped';
  attempts: number;
  lastError: string | null;
  /** ISO 8601 UTC. */
  deliveredAt: string | null;
  updatedAt: string;
}

export interface Notifier {
  /** Sends on the installation's channels for this kind; returns the channels used. */
  notify(n: NotificationRequest): Promise<Channel[]>;
  /** What was sent for a source, when, and whether it succeeded. */
  deliveries(installationId: string, sourceId: string): Promise<DeliveryRecord[]>;
}

/** MetricsEnvelope (seed): the analytics payload for every metric the engine computes. */
export interface MetricsEnvelope {
  timestamp: string;
  installationId: string;
  workspaceId: string | null;
  metricType:
    | 'success-rate'
    | 'latency-p95'
    | 'throughput'
    | 'capacity-percent'
    | 'rollback-count'
    | 'skip-count';
  value: number;
  thresholdBreached: boolean;
}

export interface MetricsSink {
  emit(envelope: MetricsEnvelope): Promise<void>;
  /**
   * Writes the envelope once per `onceId` (stable across retries, e.g. an alert change) and only
   * then bumps `counter`; resolves whether it was written; rejects when it could not be
   * recorded (the caller's effect is retried).
   */
  emitOnce(
    onceId: string,
    envelope: MetricsEnvelope,
    counter?: { name: 'alerts'; labels: Record<string, string> },
  ): Promise<boolean>;
  /** Prometheus counters other modules bump (alerts opened, skips recorded...). */
  count(name: 'alerts' | 'skips' | 'rollbacks' | 'shed', labels?: Record<string, string>): void;
}

/** Services modules share (ModuleContext.services), typed as their consumers use them. */
export const SERVICES = {
  notifications: serviceKey<Notifier>('notifications'),
  metrics: serviceKey<MetricsSink>('metrics'),
} as const;
