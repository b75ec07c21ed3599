/** Documentation of the connection routes (src/http/app.ts) and the unauthenticated probes. */
import { z } from 'zod';
import {
  batchItem,
  commandBody,
  connectionIdParams,
  droppedBody,
  handshakeBody,
  heartbeatBody,
  listConnectionsQuery,
  registerConnectionBody,
  rollbackBody,
} from '../../schemas.ts';
import { documentRoute } from '../registry.ts';
import {
  batchAnswer,
  connectionPage,
  connectionRecord,
  healthAnswer,
  heartbeatAck,
  readyAnswer,
} from '../schemas/connections.ts';

const tag = 'Connections';

const registered = {
  connectionId: 'c1',
  installationId: 'inst-a',
  workspaceId: 'ws-1',
  status: 'connecting',
  protocolVersion: null,
  negotiatedCapabilities: [],
  successRate: null,
  successRateStatus: 'insufficient-data',
  observedSuccessRate: null,
  sampleSize: 0,
  latencyP95: null,
  throughputPerMin: 0,
  lastHeartbeat: null,
  rollbackTriggered: false,
  rollbackReason: null,
  health: 'insufficient-data',
  reconnectAttempts: 0,
  lastError: null,
  diagnostics: [],
  createdAt: '2026-11-25T12:00:00.000Z',
  version: 1,
};

const rolledBack = {
  connectionId: 'c1',
  status: 'rolled-back',
  health: 'degraded',
  successRate: 0.9802,
  sampleSize: 1011,
  latencyP95: 50,
  lastHeartbeat: '2026-11-25T12:02:00.000Z',
  version: 7,
  rollback: { eventId: 'c6e3dcb5-6001-43a6-a177-adddf2532995' },
};
const record = (description: string) => ({ 200: { description, schema: connectionRecord } });
const params = connectionIdParams;

documentRoute({
  method: 'get',
  path: '/healthz',
  tag: 'Service',
  summary: 'The process is up',
  responses: { 200: { description: 'always, while the process runs', schema: healthAnswer } },
});

documentRoute({
  method: 'get',
  path: '/readyz',
  tag: 'Service',
  summary: 'Redis answers (within 750 ms)',
  responses: {
    200: { description: '`ready`', schema: readyAnswer },
    503: {
      description: '`redis-unavailable`',
      schema: readyAnswer,
      headers: { 'Retry-After': 'seconds to wait before asking again (1)' },
    },
  },
});

documentRoute({
  method: 'post',
  path: '/v1/connections',
  tag,
  summary: 'Register a connection',
  description:
    "Creates the ACPConnectionRecord in `connecting` (and the workspace, on the installation's default protocol). Refused with 503 `capacity-shed` at or beyond the critical capacity ratio.",
  body: registerConnectionBody,
  bodyExample: { connectionId: 'c1', installationId: 'inst-a', workspaceId: 'ws-1' },
  responses: {
    201: {
      description: 'the new record (or, for a repeated requestId, the current one)',
      schema: connectionRecord,
      example: registered,
    },
  },
  errors: ['forbidden', 'already-exists', 'request-id-reused', 'capacity-shed'],
});

documentRoute({
  method: 'get',
  path: '/v1/connections',
  tag,
  summary: 'List connections',
  description:
    'Ordered by installation, then connection id; an installation token sees its installations only.',
  query: listConnectionsQuery,
  responses: { 200: { description: 'one page', schema: connectionPage } },
  errors: ['forbidden'],
});

documentRoute({
  method: 'get',
  path: '/v1/connections/:connectionId',
  tag,
  summary: 'One connection',
  params,
  responses: record('the ACPConnectionRecord'),
  errors: ['not-found'],
});

documentRoute({
  method: 'post',
  path: '/v1/connections/:connectionId/handshake',
  tag,
  summary: 'Complete the ACP handshake',
  description:
    '`connected`, or `error` with `lastError.code = protocol-version-unsupported` outside SUPPORTED_PROTOCOL_VERSIONS.',
  params,
  body: handshakeBody,
  bodyExample: { protocolVersion: '1.2.0', negotiatedCapabilities: ['fs', 'terminal'] },
  responses: record('the record after the handshake'),
  errors: ['not-found', 'invalid-transition'],
});

documentRoute({
  method: 'post',
  path: '/v1/connections/:connectionId/heartbeats',
  tag,
  summary: 'Report a heartbeat',
  description:
    'Counts since the last heartbeat, at event time `timestamp` (at most HEARTBEAT_MAX_AGE_MS old, at most 5 minutes ahead). Answered after the workspace evaluation it caused: `rollback.eventId` when it rolled the workspace back.',
  params,
  body: heartbeatBody,
  bodyExample: {
    timestamp: '2026-11-25T12:00:00Z',
    succeeded: 120,
    failed: 0,
    latencyMs: [12, 30],
  },
  responses: {
    200: {
      description: 'the short ack (here: the heartbeat that rolled its workspace back)',
      schema: heartbeatAck,
      example: rolledBack,
    },
  },
  errors: ['not-found', 'invalid-transition'],
});

documentRoute({
  method: 'post',
  path: '/v1/heartbeats',
  tag,
  summary: 'Report many heartbeats',
  description:
    'Up to BATCH_MAX_ITEMS (default 1,000) items, each validated and answered on its own (an item refused with 400 or 404 does not refuse the batch; the 400 of an item names fields within the item, e.g. `succeeded`, as the single route does, and its place in `results` says which item). When no item was applied and Redis could not be used (503 `store-unavailable` or `replication-timeout`), the whole request answers that 503 with Retry-After; retrying the batch with the same heartbeatIds is safe. Body limit BATCH_BODY_LIMIT_BYTES.',
  body: z.strictObject({ items: z.array(batchItem).min(1).max(1000) }),
  bodyExample: {
    items: [{ connectionId: 'c1', timestamp: '2026-11-25T12:00:00Z', succeeded: 10, failed: 0 }],
  },
  responses: { 200: { description: 'per-item answers', schema: batchAnswer } },
});

documentRoute({
  method: 'post',
  path: '/v1/connections/:connectionId/dropped',
  tag,
  summary: 'The connection dropped',
  description:
    '`error` (`connection-dropped`); an automated reconnect follows. May be sent without a body.',
  params,
  body: droppedBody,
  bodyOptional: true,
  responses: record('the record in `error`'),
  errors: ['not-found', 'invalid-transition', 'request-id-reused'],
});

documentRoute({
  method: 'post',
  path: '/v1/connections/:connectionId/recovered',
  tag,
  summary: 'The reconnect succeeded',
  description: '`reconnecting -> connected`. May be sent without a body.',
  params,
  body: commandBody,
  bodyOptional: true,
  responses: record('the record in `connected`'),
  errors: ['not-found', 'invalid-transition'],
});

documentRoute({
  method: 'post',
  path: '/v1/connections/:connectionId/rollback',
  tag,
  summary: 'Roll one connection back to HTTP',
  description: 'Workspaces roll back as a whole with POST /v1/workspaces/{workspaceId}/rollback.',
  params,
  body: rollbackBody,
  bodyExample: { reason: 'session moved to HTTP' },
  responses: record('the record in `rolled-back`'),
  errors: ['not-found', 'invalid-transition', 'request-id-reused'],
});
