/**
 * The shape a connection's snapshot is stored in (positionalCodec): the context's keys in their
 * declared order, the window and each diagnostics entry as nested records. It takes a
 * connection's snapshot from ~830 to ~330 bytes after a handshake, and each diagnostics entry
 * (up to 50 are kept) from ~150 to ~85. Append-only: a new context key goes at the end of its
 * record (see snapshot-codec.ts); test/engine/snapshot-codec.test.ts fails when a key of the
 * chart's context is missing here.
 *
 * @example
 * connectionSnapshots.encode(persisted); // '["connected","c1","inst-a","ws-1",1796056149195,...]'
 */
import type { ConnectionContext } from '../../machines/connection.machine.ts';
import type { DiagnosticEntry } from '../../machines/shared/diagnostics.ts';
import type { OperationWindow } from '../../machines/shared/window.ts';
import { positionalCodec } from '../engine/snapshot-codec.ts';

const WINDOW = [
  'head',
  'first',
  'ok',
  'ko',
  'lat',
  'okTotal',
  'koTotal',
  'latTotals',
] as const satisfies readonly (keyof OperationWindow)[];

const DIAGNOSTIC = [
  'at',
  'from',
  'to',
  'event',
  'cause',
  'successRate',
  'latencyP95',
  'samples',
] as const satisfies readonly (keyof DiagnosticEntry)[];

type Key = keyof ConnectionContext;

export const CONNECTION_CONTEXT_SHAPE = [
  'connectionId' satisfies Key,
  'installationId' satisfies Key,
  'workspaceId' satisfies Key,
  'createdAt' satisfies Key,
  'protocolVersion' satisfies Key,
  'negotiatedCapabilities' satisfies Key,
  { key: 'window' satisfies Key, fields: WINDOW },
  'health' satisfies Key,
  'lastHeartbeat' satisfies Key,
  'staleHeartbeats' satisfies Key,
  'rollbackTriggered' satisfies Key,
  'rollbackReason' satisfies Key,
  'reconnectAttempts' satisfies Key,
  'lastError' satisfies Key,
  { key: 'diagnostics' satisfies Key, each: DIAGNOSTIC },
  'status' satisfies Key,
] as const;

export const connectionSnapshots = positionalCodec(CONNECTION_CONTEXT_SHAPE);
