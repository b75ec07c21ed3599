/**
 * What the connection chart's actions compute, pure, from the context, the event and the
 * chart's thresholds: the context updates of its `assign`s, the diagnostics entry a status
 * change records, and the reports it emits. machines/connection.machine.ts names each one in its
 * `setup` under the same name (`recordHeartbeat: assign(update.recordHeartbeat)`), so the chart,
 * its visualizations and its tests keep the names; only the bodies live here.
 */
import { recordOperations, windowStats } from './window.ts';
import { appendDiagnostic } from './diagnostics.ts';
import {
  type Cause,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionStatus,
  type ConnectionThresholds,
  capacityReport,
  healthOf,
  isActive,
  metricsAt,
  report,
} from './connection-types.ts';

interface Args {
  context: ConnectionContext;
  event: ConnectionEvent;
}

/** The connection chart's action bodies for a set of thresholds. */
export function connectionUpdates(t: ConnectionThresholds) {
  return {
    recordHandshake: ({ event }: Args): Partial<ConnectionContext> => {
      if (event.type !== 'HANDSHAKE') return {};
      return {
        protocolVersion: event.protocolVersion,
        negotiatedCapabilities: event.negotiatedCapabilities,
        lastError: null,
      };
    },

    recordHeartbeat: ({ context, event }: Args): Partial<ConnectionContext> => {
      if (event.type !== 'HEARTBEAT') return {};
      const { window, stale } = recordOperations(
        context.window,
        event.at,
        event.succeeded,
        event.failed,
        event.latencyMs,
      );
      if (stale) return { staleHeartbeats: context.staleHeartbeats + 1 };
      // A client clock ahead of the engine's (accepted within the skew window) must not show a
      // heartbeat that has not happened yet, nor hold off the timeout seen from it.
      const seen = Math.min(event.at, event.receivedAt);
      return {
        window,
        health: healthOf(window, t),
        lastHeartbeat:
          context.lastHeartbeat === null ? seen : Math.max(context.lastHeartbeat, seen),
      };
    },

    recordNegotiationFailure: ({ event }: Args): Partial<ConnectionContext> => ({
      lastError: {
        code: 'protocol-version-unsupported',
        category: 'protocol' as const,
        message:
          event.type === 'HANDSHAKE'
            ? `Protocol version ${event.protocolVersion} is outside the supported range ${t.supportedRange}; upgrade the agent or keep this session on HTTP.`
            : 'Protocol negotiation failed.',
        at: event.at,
      },
    }),

    recordDrop: ({ event }: Args): Partial<ConnectionContext> => ({
      lastError: {
        code: 'connection-dropped',
        category: 'connection' as const,
        message:
          event.type === 'DROPPED' && event.reason
            ? `The ACP connection dropped: ${event.reason}. The engine will try to reconnect.`
            : 'The ACP connection dropped. The engine will try to reconnect.',
        at: event.at,
      },
    }),

    /** What `note` assigns for a status change: its diagnostics entry and the new status. */
    note: (
      { context, event }: Args,
      p: Cause,
    ): Pick<ConnectionContext, 'diagnostics' | 'status'> => ({
      diagnostics: appendDiagnostic(context.diagnostics, {
        at: event.at,
        to: p.to,
        event: event.type,
        cause: p.cause,
        ...metricsAt(context.window, t),
      }),
      status: p.to,
    }),

    /**
     * What `note` emits, in order: the report to the workspace (its members and counts) and,
     * when the connection starts or stops holding an ACP slot, the installation's capacity report.
     */
    noteReports: (context: ConnectionContext, to: ConnectionStatus) => {
      const delta = Number(isActive(to)) - Number(isActive(context.status));
      return delta !== 0
        ? [report(context, to, null), capacityReport(context, delta)]
        : [report(context, to, null)];
    },

    /** What `reportOperations` emits for a heartbeat: its operations, or null if it had none. */
    operationsReport: ({ context, event }: Args) => {
      if (event.type !== 'HEARTBEAT' || event.succeeded + event.failed === 0) return null;
      return report(context, context.status, {
        at: event.at,
        succeeded: event.succeeded,
        failed: event.failed,
        latencyP95: windowStats(context.window, t.minSamples).latencyP95,
      });
    },
  };
}
