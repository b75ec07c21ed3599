/**
 * ACPConnectionRecord lifecycle (seed data model, steps 1-5).
 *
 *   connecting --HANDSHAKE(supported)--> connected --health degrades--> degraded --fails--> error
 *        error --after backoff (attempts left)--> reconnecting --RECOVERED--> connected
 *   any state --ROLLBACK--> rolledBack (final: the workspace went back to HTTP)
 *
 * Heartbeats re-enter `connected`/`degraded` so that the `heartbeatTimeout` delay restarts: a
 * connection whose heartbeats stop for that long counts as dropped. Health is computed from the
 * rolling window when a heartbeat is recorded; eventless transitions then move the state, so a
 * success rate below the minimum sample count ("insufficient data") never changes it.
 *
 * Effects (`requestReconnect`, `scheduleTransportChange`) are named actions only; the engine
 * writes them to the outbox in the same atomic commit and src/ runs them afterwards.
 */
import { assign, enqueueActions, setup } from 'xstate';
import { emptyWindow } from './shared/window.ts';
import type { ErrorCategory } from './shared/diagnostics.ts';
import {
  type Cause,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionInput,
  type ConnectionThresholds,
  DEFAULT_CONNECTION_THRESHOLDS,
  capacityReport,
  report,
} from './shared/connection-types.ts';
import { connectionGuards } from './shared/connection-guards.ts';
import { connectionUpdates } from './shared/connection-updates.ts';

export * from './shared/connection-types.ts';

/**
 * Builds the chart for a set of thresholds. The default export below uses the documented
 * defaults; src/ builds the configured one from config.
 *
 * @example
 * const machine = createConnectionMachine({ ...DEFAULT_CONNECTION_THRESHOLDS, minSamples: 10 });
 */
export function createConnectionMachine(t: ConnectionThresholds = DEFAULT_CONNECTION_THRESHOLDS) {
  const update = connectionUpdates(t);
  const machine = setup({
    types: {
      context: {} as ConnectionContext,
      events: {} as ConnectionEvent,
      input: {} as ConnectionInput,
    },
    // The action bodies are plain functions in shared/connection-updates.ts, the guards in
    // shared/connection-guards.ts; the names below are the ones the transitions use.
    actions: {
      recordHandshake: assign(update.recordHandshake),
      recordHeartbeat: assign(update.recordHeartbeat),
      recordError: assign(
        ({ event }, params: { code: string; category: ErrorCategory; message: string }) => ({
          lastError: { ...params, at: event.at },
        }),
      ),
      recordNegotiationFailure: assign(update.recordNegotiationFailure),
      recordDrop: assign(update.recordDrop),
      countReconnectAttempt: assign(({ context }) => ({
        reconnectAttempts: context.reconnectAttempts + 1,
      })),
      resetReconnectAttempts: assign({ reconnectAttempts: 0, lastError: null }),
      markRolledBack: assign(({ event }) => ({
        rollbackTriggered: true,
        rollbackReason: event.type === 'ROLLBACK' ? event.reason : 'rollback',
      })),
      /**
       * Records a status change in the diagnostics and reports it: to the workspace (its members
       * and counts) and, when the connection starts or stops holding an ACP slot, to the
       * installation's capacity actor. The engine commits those actors with this one.
       */
      note: enqueueActions(({ context, event, enqueue }, p: Cause) => {
        enqueue.assign(update.note({ context, event }, p));
        for (const r of update.noteReports(context, p.to)) enqueue.emit(r);
      }),
      /** Tells the workspace what this heartbeat saw (its rolling window counts operations). */
      reportOperations: enqueueActions(({ context, event, enqueue }) => {
        const r = update.operationsReport({ context, event });
        if (r) enqueue.emit(r);
      }),
      /**
       * A new connection joins its workspace and asks for an ACP slot: the capacity chart may
       * refuse it (at the critical ratio), and then nothing of this connection is committed.
       */
      reportCreated: enqueueActions(({ context, enqueue }) => {
        enqueue.emit(report(context, 'connecting', null));
        enqueue.emit(capacityReport(context, 1, true));
      }),
      // Effects: declared here so the chart shows them, run by src/ from the outbox after commit.
      requestReconnect: (_, _params: { connectionId: string; attempt: number }) => {},
      scheduleTransportChange: (
        _,
        _params: { connectionId: string; workspaceId: string; reason: string },
      ) => {},
    },
    guards: connectionGuards(t),
    delays: {
      handshakeTimeout: t.handshakeTimeoutMs,
      heartbeatTimeout: t.heartbeatTimeoutMs,
      reconnectTimeout: t.reconnectTimeoutMs,
      reconnectBackoff: ({ context }) =>
        Math.min(t.reconnectMaxDelayMs, t.reconnectBaseDelayMs * 2 ** context.reconnectAttempts),
    },
  });
  // Any live state rolls back when the workspace reverts to HTTP; the final state accepts nothing.
  const rollback = {
    target: 'rolledBack',
    actions: [
      'markRolledBack',
      {
        type: 'note',
        params: ({ event }: { event: ConnectionEvent }) => ({
          to: 'rolledBack' as const,
          cause:
            event.type === 'ROLLBACK' && event.manual ? 'manual-rollback' : 'workspace-rollback',
        }),
      },
      {
        type: 'scheduleTransportChange',
        params: ({ context, event }: { context: ConnectionContext; event: ConnectionEvent }) => ({
          connectionId: context.connectionId,
          workspaceId: context.workspaceId,
          reason: event.type === 'ROLLBACK' ? event.reason : 'rollback',
        }),
      },
    ],
  } as const;
  /** The connection dropped (reported, or seen by the engine): to `error`, retried from there. */
  const dropped = {
    target: 'error',
    actions: ['recordDrop', { type: 'note', params: { to: 'error', cause: 'connection-dropped' } }],
  } as const;
  /** No heartbeat within `heartbeatTimeout` while live: treated as a drop. */
  const timedOut = {
    target: 'error',
    actions: [
      {
        type: 'recordError',
        params: {
          code: 'heartbeat-timeout',
          category: 'connection',
          message:
            'No heartbeat arrived in time; the connection is treated as dropped and will be retried.',
        },
      },
      { type: 'note', params: { to: 'error', cause: 'heartbeat-timeout' } },
    ],
  } as const;

  return machine.createMachine({
    id: 'connection',
    initial: 'connecting',
    context: ({ input }) => ({
      connectionId: input.connectionId,
      installationId: input.installationId,
      workspaceId: input.workspaceId,
      createdAt: input.at,
      protocolVersion: null,
      negotiatedCapabilities: [],
      window: emptyWindow(),
      health: 'insufficient-data',
      lastHeartbeat: null,
      staleHeartbeats: 0,
      rollbackTriggered: false,
      rollbackReason: null,
      reconnectAttempts: 0,
      lastError: null,
      diagnostics: [],
      status: 'connecting',
    }),
    states: {
      connecting: {
        entry: 'reportCreated',
        after: {
          handshakeTimeout: {
            target: 'error',
            actions: [
              {
                type: 'recordError',
                params: {
                  code: 'handshake-timeout',
                  category: 'protocol',
                  message:
                    'The agent did not complete the ACP handshake in time; check the container is running an ACP-capable agent.',
                },
              },
              { type: 'note', params: { to: 'error', cause: 'handshake-timeout' } },
            ],
          },
        },
        on: {
          ROLLBACK: rollback,
          HANDSHAKE: [
            {
              guard: 'versionSupported',
              target: 'connected',
              actions: [
                'recordHandshake',
                { type: 'note', params: { to: 'connected', cause: 'handshake-complete' } },
              ],
            },
            {
              target: 'error',
              actions: [
                'recordNegotiationFailure',
                {
                  type: 'note',
                  params: { to: 'error', cause: 'protocol-version-unsupported' },
                },
              ],
            },
          ],
          DROPPED: dropped,
        },
      },
      connected: {
        after: { heartbeatTimeout: timedOut },
        always: {
          guard: 'isDegraded',
          target: 'degraded',
          actions: { type: 'note', params: { to: 'degraded', cause: 'health-degraded' } },
        },
        on: {
          ROLLBACK: rollback,
          HEARTBEAT: {
            target: 'connected',
            reenter: true,
            actions: ['recordHeartbeat', 'reportOperations'],
          },
          DROPPED: dropped,
        },
      },
      degraded: {
        after: { heartbeatTimeout: timedOut },
        always: [
          {
            guard: 'isFailing',
            target: 'error',
            actions: [
              {
                type: 'recordError',
                params: {
                  code: 'success-rate-below-threshold',
                  category: 'application',
                  message:
                    'Too many ACP operations are failing on this connection; the engine will reconnect it.',
                },
              },
              { type: 'note', params: { to: 'error', cause: 'success-rate-below-threshold' } },
            ],
          },
          {
            guard: 'isHealthy',
            target: 'connected',
            actions: { type: 'note', params: { to: 'connected', cause: 'health-restored' } },
          },
        ],
        on: {
          ROLLBACK: rollback,
          HEARTBEAT: {
            target: 'degraded',
            reenter: true,
            actions: ['recordHeartbeat', 'reportOperations'],
          },
          DROPPED: dropped,
        },
      },
      error: {
        after: {
          reconnectBackoff: {
            guard: 'canRetry',
            target: 'reconnecting',
            actions: { type: 'note', params: { to: 'reconnecting', cause: 'reconnect-attempt' } },
          },
        },
        on: {
          ROLLBACK: rollback,
          // Late heartbeats still count: the window must not lose operations that happened.
          HEARTBEAT: { actions: ['recordHeartbeat', 'reportOperations'] },
        },
      },
      reconnecting: {
        entry: [
          'countReconnectAttempt',
          {
            type: 'requestReconnect',
            params: ({ context }) => ({
              connectionId: context.connectionId,
              attempt: context.reconnectAttempts,
            }),
          },
        ],
        after: {
          reconnectTimeout: {
            target: 'error',
            actions: [
              {
                type: 'recordError',
                params: {
                  code: 'reconnect-timeout',
                  category: 'connection',
                  message: 'A reconnect attempt did not succeed in time.',
                },
              },
              { type: 'note', params: { to: 'error', cause: 'reconnect-timeout' } },
            ],
          },
        },
        on: {
          ROLLBACK: rollback,
          RECOVERED: {
            target: 'connected',
            actions: [
              'resetReconnectAttempts',
              { type: 'note', params: { to: 'connected', cause: 'reconnected' } },
            ],
          },
          DROPPED: dropped,
          HEARTBEAT: { actions: ['recordHeartbeat', 'reportOperations'] },
        },
      },
      rolledBack: { type: 'final' },
    },
  });
}

export const connectionMachine = createConnectionMachine();
export type ConnectionMachine = ReturnType<typeof createConnectionMachine>;
