/**
 * The connection chart's guards for a set of thresholds: pure predicates on the context and the
 * event, given to `setup` in machines/connection.machine.ts under these names (the transitions,
 * the visualizations and the model tests refer to them by name).
 */
import { satisfies } from './version.ts';
import type {
  ConnectionContext,
  ConnectionEvent,
  ConnectionThresholds,
} from './connection-types.ts';

interface Args {
  context: ConnectionContext;
  event: ConnectionEvent;
}

export function connectionGuards(t: ConnectionThresholds) {
  return {
    versionSupported: ({ event }: Args) =>
      event.type === 'HANDSHAKE' && satisfies(event.protocolVersion, t.supportedVersions),
    isDegraded: ({ context }: Args) =>
      context.health === 'degraded' || context.health === 'failing',
    isFailing: ({ context }: Args) => context.health === 'failing',
    isHealthy: ({ context }: Args) =>
      context.health === 'healthy' || context.health === 'insufficient-data',
    canRetry: ({ context }: Args) =>
      context.reconnectAttempts < t.maxReconnectAttempts &&
      context.lastError?.category !== 'protocol',
  };
}
