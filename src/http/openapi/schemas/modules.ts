/**
 * Response schemas of the feature modules: capacity, notifications, automation, metrics,
 * inspection, and the data of the live-stream events.
 */
import { z } from 'zod';
import { id, nullableTime, page, rate, time } from './common.ts';

const channel = z.enum(['toast', 'email', 'webhook']);
const kind = z.enum(['capacity-alert', 'rollback', 'recovery', 'automation-skip']);
const severity = z.enum(['info', 'warning', 'error']);

export const deliveryRecord = z
  .strictObject({
    channel,
    target: z
      .string()
      .meta({ description: "where it went, without secrets ('stream' for toasts)" }),
    status: z.enum(['pending', 'delivered', 'failed', 'dead-lettered', 'skipped']),
    attempts: z.number().int().min(0),
    lastError: z.string().nullable(),
    deliveredAt: nullableTime,
    updatedAt: time,
  })
  .meta({ id: 'DeliveryRecord' });

export const deliveryView = deliveryRecord
  .extend({
    deliveryId: id.meta({ description: 'the X-LumiLink-Delivery header: deduplicate on it' }),
    notificationId: id,
    kind,
    sourceId: id,
    createdAt: time,
    deadLetteredAt: nullableTime,
  })
  .strict()
  .meta({ id: 'Delivery' });

export const deliveries = z
  .strictObject({ items: z.array(deliveryView) })
  .meta({ id: 'Deliveries' });
export const deadLetters = page(deliveryView).meta({ id: 'DeadLetterPage' });

export const notificationSettings = z
  .strictObject({
    installationId: id,
    channels: z.strictObject({
      'capacity-alert': z.array(channel),
      rollback: z.array(channel),
      recovery: z.array(channel),
      'automation-skip': z.array(channel),
    }),
    webhookUrls: z.array(z.string()),
    emailTo: z.array(z.string()),
    updatedAt: nullableTime,
    updatedBy: z.string().nullable(),
  })
  .meta({ id: 'NotificationSettings' });

export const capacityAlert = z
  .strictObject({
    alertId: id,
    installationId: id,
    workspaceIds: z.array(id),
    trigger: z.enum(['warning', 'critical']),
    activeConnections: z.number().int().min(0),
    capacityPercent: z.number().min(0),
    peakPercent: z.number().min(0),
    timestamp: time,
    escalatedAt: nullableTime,
    resolvedAt: nullableTime,
    notified: z.boolean(),
    notificationChannels: z.array(channel),
    deliveries: z.array(deliveryRecord),
  })
  .meta({ id: 'CapacityAlert' });

export const capacityAlerts = z
  .strictObject({ items: z.array(capacityAlert), nextCursor: z.string().nullable() })
  .meta({
    id: 'CapacityAlertList',
    description: "newest first; `nextCursor` (null on the last page) is the next page's `cursor`",
  });

export const capacity = z
  .strictObject({
    installationId: id,
    state: z.enum(['normal', 'warning', 'critical', 'resolving']),
    activeConnections: z.number().int().min(0),
    capacity: z.number().int().min(1),
    capacityPercent: z.number().min(0),
    lastEvaluated: nullableTime,
    thresholds: z.strictObject({
      warning: rate,
      critical: rate,
      resolve: rate,
      resolveAfterMs: z.number().int().min(0),
    }),
    shedding: z.boolean(),
    refusedConnections: z.number().int().min(0),
    openAlert: capacityAlert.nullable(),
  })
  .meta({ id: 'Capacity' });

const automationError = z.strictObject({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  category: z.enum(['connection', 'protocol', 'application', 'system']),
  recoveryMessage: z.string(),
});

export const automationSummary = z
  .strictObject({
    summaryId: id,
    sessionId: id,
    installationId: id,
    workspaceId: id,
    runId: z.string().nullable(),
    status: z.enum(['success', 'skipped', 'error']),
    issue: z
      .strictObject({
        id: z.union([z.number(), z.string()]),
        number: z.number().int(),
        url: z.string(),
        title: z.string(),
      })
      .nullable(),
    pullRequest: z
      .strictObject({ number: z.number().int(), url: z.string(), branch: z.string() })
      .nullable(),
    commit: z.strictObject({ sha: z.string(), message: z.string() }).nullable(),
    skipReason: z
      .enum([
        'repo-blocked',
        'missing-credential',
        'automation-disabled',
        'rate-limited',
        'workspace-rollback',
        'other',
      ])
      .nullable(),
    toastMessage: z.string().nullable(),
    transcriptNote: z.string().nullable(),
    durationMs: z.number().int().nullable(),
    error: automationError.nullable(),
    logs: z.array(
      z.strictObject({
        at: nullableTime,
        level: z.enum(['debug', 'info', 'warn', 'error']),
        message: z.string(),
        step: z.string().nullable(),
        code: z.string().nullable(),
        data: z.record(z.string(), z.unknown()).nullable(),
      }),
    ),
    source: z.enum(['api', 'workspace-rollback']),
    rollbackEventId: z.string().nullable(),
    createdAt: time,
  })
  .meta({ id: 'GitHubAutomationSummary' });

export const automationPage = page(automationSummary).meta({ id: 'AutomationSummaryPage' });

export const transcriptEntry = z
  .strictObject({
    entryId: id,
    sessionId: id,
    installationId: id,
    workspaceId: z.string().nullable(),
    eventType: z.enum(['automation', 'toast', 'rollback', 'info']),
    message: z.string(),
    context: z.record(z.string(), z.unknown()),
    createdAt: time,
  })
  .meta({ id: 'SessionTranscriptEntry' });

export const transcriptPage = page(transcriptEntry).meta({ id: 'TranscriptPage' });

export const envelopePage = z
  .strictObject({
    installationId: z.string().nullable(),
    items: z.array(
      z.strictObject({
        id: z.string().meta({ description: 'the Redis stream id' }),
        timestamp: time,
        installationId: id,
        workspaceId: z.string().nullable(),
        metricType: z.enum([
          'success-rate',
          'latency-p95',
          'throughput',
          'capacity-percent',
          'rollback-count',
          'skip-count',
        ]),
        value: z.number(),
        thresholdBreached: z.boolean(),
        connectionId: z.string().optional().meta({
          description:
            "only on a connection's own envelopes, written when its status changes; without it, success-rate, latency-p95 and throughput are the workspace's (at most once per METRICS_INTERVAL_MS)",
        }),
      }),
    ),
    nextCursor: z.string().nullable().meta({ description: 'pass back as `after`' }),
    hasMore: z.boolean(),
  })
  .meta({ id: 'MetricsEnvelopePage' });

export const machineList = z
  .strictObject({
    items: z.array(
      z.strictObject({
        id: z.string(),
        version: z.string(),
        description: z.string(),
        states: z.number().int(),
        transitions: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'MachineList' });

export const machine = z
  .strictObject({
    id: z.string(),
    version: z.string(),
    description: z.string(),
    definition: z
      .record(z.string(), z.unknown())
      .meta({ description: "the chart's config, importable into the Stately editor" }),
    structure: z
      .record(z.string(), z.unknown())
      .meta({ description: 'states, transitions, guards, delays, actions' }),
  })
  .meta({ id: 'Machine' });

export const actorInspection = z
  .strictObject({
    actorId: z.string(),
    kind: z.enum(['connection', 'workspace', 'capacity']),
    installationId: id,
    state: z.string().meta({ description: 'the state path, e.g. http.cooldown' }),
    version: z.number().int(),
    context: z.record(z.string(), z.unknown()).meta({ description: "the chart's context" }),
    pendingTimers: z.array(z.strictObject({ event: z.string(), dueAt: time })),
    lastEvents: z.array(z.record(z.string(), z.unknown())).meta({
      description:
        "the last 20 logged events, newest first: events that changed the state value (and, for workspaces and capacity, every event but the connections' reports and ±1s), each with `_state`, the state value it led to, and `_v`, the actor version its commit made",
    }),
    unloggedCommits: z.number().int().nullable().meta({
      description:
        'commits since the newest logged event whose events were not logged (e.g. heartbeats that changed the context only); null when the newest entry predates `_v`',
    }),
  })
  .meta({ id: 'ActorInspection' });

/** The `data:` of an `event: toast` on the toast streams. */
export const toastEvent = z
  .strictObject({
    id: id.meta({ description: 'stable: a client may drop a duplicate' }),
    kind,
    title: z.string(),
    body: z.string().max(140),
    severity,
    installationId: id,
    workspaceId: z.string().nullable(),
    sessionId: z.string().nullable(),
    sourceId: id,
    createdAt: time,
  })
  .meta({ id: 'ToastEvent' });

/** The `data:` of an `event: transition` on the transition streams. */
export const transitionEvent = z
  .strictObject({
    actorId: z.string(),
    kind: z.enum(['connection', 'workspace', 'capacity']),
    installationId: id,
    from: z.string().nullable(),
    to: z.string(),
    events: z.array(z.string()),
    version: z.number().int().nullable(),
    at: time,
  })
  .meta({ id: 'TransitionEvent' });
