/** Documentation of the workspace and installation-settings routes (src/http/app.ts). */
import {
  auditQuery,
  commandBody,
  installationIdParams,
  migrationBody,
  workspaceIdParams,
  workspaceRollbackBody,
} from '../../schemas.ts';
import { settingsBody } from '../../../workspaces/settings.ts';
import { whatIfBody } from '../../../workspaces/what-if-service.ts';
import { whatIfResult } from '../schemas/what-if.ts';
import { documentRoute } from '../registry.ts';
import {
  decisionPage,
  installationSettings,
  migrationAccepted,
  migrationLogPage,
  rollbackAccepted,
  rollbackEventPage,
  settingsChangePage,
  settingsUpdate,
  workspace,
} from '../schemas/workspaces.ts';

const tag = 'Workspaces';
const params = workspaceIdParams;
const refused = ['not-found', 'forbidden', 'migration-refused'] as const;

documentRoute({
  method: 'get',
  path: '/v1/workspaces/:workspaceId',
  tag,
  summary: 'One workspace',
  description:
    'Transport, chart state, migration in progress, scheduled migration, connection counts, current health, cooldown, flap state and settings.',
  params,
  responses: { 200: { description: 'the workspace', schema: workspace } },
  errors: ['not-found'],
});

documentRoute({
  method: 'post',
  path: '/v1/workspaces/:workspaceId/migrations',
  tag,
  summary: 'Request a migration',
  description:
    'To ACP it completes once every active connection is on ACP (or fails after migrationTimeoutMinutes); with `scheduledAt` it starts then. To HTTP it happens at once: `scheduledAt` is refused (400). `initiatedBy: operator` needs an operator token.',
  params,
  body: migrationBody,
  bodyExample: { toProtocol: 'acp', initiatedBy: 'operator' },
  responses: {
    201: { description: 'the migration id and the workspace', schema: migrationAccepted },
  },
  errors: [...refused, 'request-id-reused'],
});

documentRoute({
  method: 'post',
  path: '/v1/workspaces/:workspaceId/migrations/cancel',
  tag,
  summary: 'Cancel a scheduled migration',
  description: 'May be sent without a body.',
  params,
  body: commandBody,
  bodyOptional: true,
  responses: { 200: { description: 'the workspace', schema: workspace } },
  errors: [...refused],
});

documentRoute({
  method: 'post',
  path: '/v1/workspaces/:workspaceId/rollback',
  tag,
  summary: 'Roll the workspace back to HTTP',
  description:
    '`manual-operator` with an operator token, `manual-user` with an installation token. Every live connection rolls back with it, in one commit.',
  params,
  body: workspaceRollbackBody,
  bodyExample: { reason: 'agent upgrade' },
  responses: {
    201: { description: 'the RollbackEvent id and the workspace', schema: rollbackAccepted },
  },
  errors: [...refused, 'request-id-reused'],
});

documentRoute({
  method: 'post',
  path: '/v1/workspaces/:workspaceId/auto-migration/reenable',
  tag,
  summary: 'Lift the flap-limit block (operator only)',
  description: 'May be sent without a body.',
  params,
  body: commandBody,
  bodyOptional: true,
  responses: { 200: { description: 'the workspace', schema: workspace } },
  errors: [...refused],
});

const audits = [
  [
    'migrations',
    'ProtocolMigrationLog entries, newest first (append-only: one entry per status change)',
    migrationLogPage,
  ],
  ['rollbacks', 'RollbackEvents, newest first', rollbackEventPage],
  ['decisions', 'holds (`rollback-held`) and re-enables, newest first', decisionPage],
] as const;
for (const [stream, description, schema] of audits) {
  documentRoute({
    method: 'get',
    path: `/v1/workspaces/:workspaceId/${stream}`,
    tag,
    summary: `The workspace's ${stream}`,
    params,
    query: auditQuery,
    responses: { 200: { description, schema } },
    errors: ['not-found'],
  });
}

const settingsTag = 'Installation settings';

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/settings',
  tag: settingsTag,
  summary: 'Admin controls of an installation',
  params: installationIdParams,
  responses: {
    200: { description: 'the settings (defaults until changed)', schema: installationSettings },
  },
  errors: ['not-found'],
});

documentRoute({
  method: 'put',
  path: '/v1/installations/:installationId/settings',
  tag: settingsTag,
  summary: 'Change settings (operator only; audited)',
  description:
    'Any subset; the rest stays as it is. Every workspace of the installation is re-evaluated.',
  params: installationIdParams,
  body: settingsBody,
  bodyExample: { thresholds: { minSuccessRate: 0.98, cooldownMinutes: 10 } },
  responses: {
    200: { description: 'the new settings and the audited change', schema: settingsUpdate },
  },
  errors: ['forbidden', 'not-found'],
});

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/settings/changes',
  tag: settingsTag,
  summary: 'Who changed what, when',
  params: installationIdParams,
  query: auditQuery,
  responses: { 200: { description: 'changes, newest first', schema: settingsChangePage } },
  errors: ['not-found'],
});

documentRoute({
  method: 'post',
  path: '/v1/workspaces/:workspaceId/what-if',
  tag,
  summary: 'Replay recorded traffic with candidate settings (writes nothing)',
  description:
    "Runs the workspace's journaled events (WHAT_IF_JOURNAL_EVENTS) through the same chart, in memory: once with the settings in force, once with `settings` (the installation settings' wire format, any subset) applied to every policy from `from` to `to` (default: now). Answers both runs' decisions (rollbacks, holds, migrations) with times and evidence, the audit records actually committed, and a summary.",
  params,
  body: whatIfBody,
  bodyExample: {
    from: '2026-01-05T09:00:00Z',
    to: '2026-01-05T10:00:00Z',
    settings: { thresholds: { minSuccessRate: 0.98 } },
  },
  responses: { 200: { description: 'the two runs side by side', schema: whatIfResult } },
  errors: ['not-found'],
});
