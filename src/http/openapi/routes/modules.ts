/**
 * Documentation of the feature modules' routes (src/modules.ts): capacity, notifications,
 * automation, metrics and inspection.
 */
import { pageQuery, sessionParams, summaryBody } from '../../../automation/schemas.ts';
import { alertsQuery, params as capacityParams } from '../../../capacity/module.ts';
import {
  actorParams,
  chartParams,
  installationParams as inspectInstallationParams,
} from '../../../inspect/module.ts';
import { envelopesQuery } from '../../../metrics/envelopes.ts';
import {
  deadLettersQuery,
  deliveriesQuery,
  installationParams,
  sessionParams as toastSessionParams,
} from '../../../notifications/routes.ts';
import { notificationSettingsBody } from '../../../notifications/settings.ts';
import { documentRoute } from '../registry.ts';
import {
  actorInspection,
  automationPage,
  automationSummary,
  capacity,
  capacityAlerts,
  deadLetters,
  deliveries,
  envelopePage,
  machine,
  machineList,
  notificationSettings,
  transcriptPage,
} from '../schemas/modules.ts';

const sse = (event: string, schema: string) => ({
  200: {
    description: `Server-Sent Events: \`event: ${event}\`, \`data:\` one JSON ${schema} (components/schemas/${schema}); \`: heartbeat\` comments every STREAM_HEARTBEAT_MS; opens with \`retry:\` and \`: connected\`. Query: \`lastEventId\` (resume after that event; the \`Last-Event-ID\` header wins) and \`access_token\`; any other parameter is refused (400 validation-failed naming it). A HEAD gets these headers alone and the connection closes: it opens no stream and counts toward no limit.`,
    contentType: 'text/event-stream',
  },
});

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/capacity',
  tag: 'Capacity',
  summary: 'Capacity of an installation',
  params: capacityParams,
  responses: {
    200: { description: 'state, counts, shedding and the open alert', schema: capacity },
  },
  errors: ['not-found'],
});

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/capacity/alerts',
  tag: 'Capacity',
  summary: 'Capacity alerts, newest first, a page at a time',
  params: capacityParams,
  query: alertsQuery,
  responses: { 200: { description: 'alerts with their deliveries', schema: capacityAlerts } },
  errors: ['not-found'],
});

const notify = 'Notifications';

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/toasts/stream',
  tag: notify,
  auth: 'stream',
  summary: 'Live toasts of an installation (SSE)',
  params: installationParams,
  responses: sse('toast', 'ToastEvent'),
  errors: ['not-found', 'too-many-streams'],
});

documentRoute({
  method: 'get',
  path: '/v1/sessions/:sessionId/toasts/stream',
  tag: notify,
  auth: 'stream',
  summary: 'Live toasts of one session (SSE)',
  params: toastSessionParams,
  responses: sse('toast', 'ToastEvent'),
  errors: ['not-found', 'too-many-streams'],
});

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/notifications/settings',
  tag: notify,
  summary: 'Channels per notification kind, webhook URLs, e-mail recipients',
  params: installationParams,
  responses: { 200: { description: 'the settings', schema: notificationSettings } },
  errors: ['not-found'],
});

documentRoute({
  method: 'put',
  path: '/v1/installations/:installationId/notifications/settings',
  tag: notify,
  summary: 'Replace the notification settings (operator only)',
  description: 'A full replacement: an omitted field returns to its default.',
  params: installationParams,
  body: notificationSettingsBody,
  bodyExample: {
    channels: { rollback: ['toast', 'webhook'] },
    webhookUrls: ['https://example.com/hooks/lumilink'],
  },
  responses: { 200: { description: 'the stored settings', schema: notificationSettings } },
  errors: ['forbidden', 'not-found'],
});

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/notifications/deliveries',
  tag: notify,
  summary: 'What was sent for an alert, rollback or run',
  params: installationParams,
  query: deliveriesQuery,
  responses: { 200: { description: 'deliveries of that source', schema: deliveries } },
  errors: ['not-found'],
});

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/notifications/dead-letters',
  tag: notify,
  summary: 'Deliveries that exhausted their attempts',
  description:
    "Newest first. `cursor` is a page's `nextCursor`: one that names no dead letter of this installation (edited, or another installation's) is refused with 400 naming `cursor`, unless the delivery it names was discarded or retried since.",
  params: installationParams,
  query: deadLettersQuery,
  responses: { 200: { description: 'one page', schema: deadLetters } },
  errors: ['not-found'],
});

const automation = 'Automation and transcripts';

documentRoute({
  method: 'post',
  path: '/v1/sessions/:sessionId/automation',
  tag: automation,
  summary: 'Record a GitHubAutomationSummary',
  description:
    'The first summary claims the session for its installation. A `workspaceId` another installation holds is refused as registering a connection in it is (409 `already-exists` naming `workspaceId`, never whose); one no installation holds yet is accepted. Anything that looks like a secret is refused (400, `details.secretKind`), never echoed. `skipped` requires skipReason, toastMessage and transcriptNote; `error` requires error.',
  params: sessionParams,
  body: summaryBody,
  bodyExample: {
    installationId: 'inst-a',
    workspaceId: 'ws-1',
    runId: 'run-1',
    status: 'success',
    pullRequest: { number: 42, url: 'https://github.com/acme/app/pull/42', branch: 'fix/login' },
  },
  responses: {
    201: { description: 'recorded', schema: automationSummary },
    200: { description: 'a repeated `runId`: the first record', schema: automationSummary },
  },
  errors: ['not-found', 'forbidden', 'already-exists'],
});

documentRoute({
  method: 'get',
  path: '/v1/sessions/:sessionId/automation',
  tag: automation,
  summary: "A session's automation summaries",
  params: sessionParams,
  query: pageQuery,
  responses: { 200: { description: 'one page', schema: automationPage } },
  errors: ['not-found'],
});

documentRoute({
  method: 'get',
  path: '/v1/sessions/:sessionId/transcript',
  tag: automation,
  summary: "A session's transcript",
  params: sessionParams,
  query: pageQuery,
  responses: { 200: { description: 'one page', schema: transcriptPage } },
  errors: ['not-found'],
});

documentRoute({
  method: 'get',
  path: '/v1/metrics/envelopes',
  tag: 'Metrics',
  summary: 'MetricsEnvelopes, oldest first',
  description:
    'The envelopes of the last METRICS_RETENTION_MS (default 15 minutes; at most about METRICS_STREAM_MAXLEN per installation): a hand-off to analytics consumers, who keep what they need. A cursor older than the retention continues at the oldest envelope kept.',
  query: envelopesQuery,
  responses: {
    200: { description: 'one page; pass nextCursor back as `after`', schema: envelopePage },
  },
  errors: ['forbidden'],
});

documentRoute({
  method: 'get',
  path: '/metrics',
  tag: 'Metrics',
  summary: 'Prometheus metrics (no token; counts only)',
  responses: {
    200: { description: 'the Prometheus text exposition format', contentType: 'text/plain' },
  },
  errors: ['unavailable'],
});

const inspect = 'Charts and inspection';

documentRoute({
  method: 'get',
  path: '/v1/machines',
  tag: inspect,
  summary: 'The charts and their versions',
  responses: { 200: { description: 'the charts', schema: machineList } },
});

documentRoute({
  method: 'get',
  path: '/v1/machines/:id',
  tag: inspect,
  summary: "A chart's definition and structure",
  params: chartParams,
  responses: { 200: { description: 'the chart', schema: machine } },
  errors: ['not-found'],
});

documentRoute({
  method: 'get',
  path: '/v1/actors/:actorId/inspect',
  tag: inspect,
  summary: 'An actor: state, context, pending durable timers, last 20 events',
  description:
    '`actorId` is `<kind>:<id>`, kind `connection`, `workspace` or `capacity` (whose id is the installation).',
  params: actorParams,
  responses: { 200: { description: 'the actor', schema: actorInspection } },
  errors: ['not-found'],
});

documentRoute({
  method: 'get',
  path: '/v1/actors/:actorId/transitions/stream',
  tag: inspect,
  auth: 'stream',
  summary: 'Live transitions of one actor (SSE)',
  params: actorParams,
  responses: sse('transition', 'TransitionEvent'),
  errors: ['not-found', 'too-many-streams'],
});

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/transitions/stream',
  tag: inspect,
  auth: 'stream',
  summary: "Live transitions of an installation's actors (SSE)",
  params: inspectInstallationParams,
  responses: sse('transition', 'TransitionEvent'),
  errors: ['not-found', 'too-many-streams'],
});
