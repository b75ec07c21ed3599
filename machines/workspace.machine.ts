/**
 * A workspace's transport: HTTP or ACP, migrations between them, automatic and manual rollback,
 * cooldown and flap protection (ProtocolMigrationLog and RollbackEvent in the seed).
 *
 *   boot --default protocol--> http.idle | acp
 *   http.idle --REQUEST_MIGRATION(acp)--> migrating --CONNECTION_REPORT(all on ACP)--> acp
 *     (a recovery notification when the last rollback put the workspace on HTTP)
 *   http.idle --REQUEST_MIGRATION(acp, scheduledAt)--> http.scheduled --after scheduleDelay--> migrating
 *   http.scheduled --CANCEL_MIGRATION | POLICY(no longer allows it)--> http.idle (migration failed)
 *   http.idle --healthy, automatic rollout--> http.warming --after autoMigrateDelay--> migrating
 *   migrating --after migrationTimeout--> http.idle (migration failed)
 *   acp | migrating --CONNECTION_REPORT(breach) | ROLLBACK_REQUESTED--> http.cooldown --after cooldownDelay--> http.idle
 *
 * Connections report every status change and every heartbeat's operations
 * (`CONNECTION_REPORT`, emitted by the connection chart and routed by the engine in the same
 * atomic commit). The chart keeps their statuses and its own per-minute window, and decides from
 * them alone; a rollback `emit`s ROLLBACK to every live connection, committed together.
 *   acp --REQUEST_MIGRATION(http)--> http.idle
 *
 * Every decision appends its audit records (`appendAudit`) in the same commit as the transition;
 * ids arrive in the events (stamped by src/ or by the engine), so the chart stays deterministic.
 */
import { and, assign, enqueueActions, not, setup } from 'xstate';
import { DEFAULT_WORKSPACE_POLICY } from './shared/workspace-policy.ts';
import {
  type WorkspaceContext,
  type WorkspaceEvent,
  type WorkspaceInput,
  STREAMS,
  absorbed,
  decision,
  migrationLog,
  rollbackNotification,
  recoveryNotice,
  heldDecisionAudit,
  migrationEndAudit,
  rollbackEventAudit,
  toHttpAudit,
  rollbackOf,
  rolledBackLogAudit,
} from './shared/workspace-records.ts';
import { liveMembers } from './shared/workspace-window.ts';
import { workspaceGuards } from './shared/workspace-guards.ts';
import * as update from './shared/workspace-updates.ts';

export * from './shared/workspace-records.ts';
export type { ConnectionCounts, WorkspaceWindow } from './shared/workspace-window.ts';
export function createWorkspaceMachine() {
  const machine = setup({
    types: {
      context: {} as WorkspaceContext,
      events: {} as WorkspaceEvent,
      input: {} as WorkspaceInput,
    },
    // The `assign` bodies are plain functions in shared/workspace-updates.ts, the guards in
    // shared/workspace-guards.ts; the names below are the ones the transitions use.
    actions: {
      absorb: assign(update.absorb),
      recordPolicy: assign(update.recordPolicy),
      /** Tells every live connection to roll back (routed by the engine, same commit). */
      rollBackConnections: enqueueActions(({ context, event, enqueue }, p: { reason: string }) => {
        const members =
          event.type === 'CONNECTION_REPORT' ? absorbed(context, event).members : context.members;
        for (const id of liveMembers(members)) {
          enqueue.emit({
            type: 'ROLLBACK',
            to: { kind: 'connection', id },
            reason: p.reason,
          } as never);
        }
      }),
      startMigration: assign(update.startMigration),
      schedule: assign(update.schedule),
      startPending: assign(update.startPending),
      completeMigration: assign(update.completeMigration),
      failMigration: assign({ migration: null }),
      enterCooldown: assign(update.enterCooldown),
      leaveCooldown: assign({ cooldownUntil: null }),
      unblock: assign({ autoMigrationBlocked: false, autoRollbacks: [] as number[] }),
      cancelPending: assign({ pending: null }),
      toHttp: assign(update.toHttp),
      // Recorded in the same commit as the transition (see src/engine: APPEND_AUDIT).
      appendAudit: (
        _,
        _params: { stream: string; id: string; at: number; record: Record<string, unknown> },
      ) => {},
      // Effects, run from the outbox after commit.
      notifyUsers: (
        _,
        _params: {
          workspaceId: string;
          installationId: string;
          eventId: string;
          kind: 'rollback' | 'recovery';
          toast: { severity: 'error' | 'warning' | 'info'; title: string; body: string };
          transcriptNote: string;
        },
      ) => {},
      scheduleReview: (
        _,
        _params: { workspaceId: string; installationId: string; eventId: string },
      ) => {},
    },
    guards: workspaceGuards,
    delays: {
      cooldownDelay: ({ context }) => context.cooldownMs,
      autoMigrateDelay: ({ context }) => context.policy.autoMigrateAfterMs,
      migrationTimeout: ({ context }) => context.policy.migrationTimeoutMs,
      scheduleDelay: ({ context }) =>
        context.pending?.scheduledAt
          ? Math.max(0, context.pending.scheduledAt - context.pending.startedAt)
          : 0,
    },
  });

  /** Both rollback events share one path: records, notification, review, cooldown. */
  const rollbackActions = [
    {
      type: 'appendAudit',
      params: ({ context, event }: { context: WorkspaceContext; event: WorkspaceEvent }) =>
        rollbackEventAudit(context, event),
    },
    {
      type: 'appendAudit',
      params: ({ context, event }: { context: WorkspaceContext; event: WorkspaceEvent }) =>
        rolledBackLogAudit(context, event),
    },
    {
      type: 'notifyUsers',
      params: ({ context, event }: { context: WorkspaceContext; event: WorkspaceEvent }) => {
        const e = rollbackOf(context, event);
        return {
          workspaceId: context.workspaceId,
          installationId: context.installationId,
          eventId: e.eventId,
          kind: 'rollback' as const,
          ...rollbackNotification(e),
        };
      },
    },
    {
      type: 'scheduleReview',
      params: ({ context, event }: { context: WorkspaceContext; event: WorkspaceEvent }) => ({
        workspaceId: context.workspaceId,
        installationId: context.installationId,
        eventId: rollbackOf(context, event).eventId,
      }),
    },
    { type: 'rollBackConnections', params: { reason: 'workspace-rollback' } },
    'enterCooldown',
  ] as const;

  const appendStarted = {
    type: 'appendAudit',
    params: ({ context }: { context: WorkspaceContext }) => {
      const m = context.migration!;
      return {
        stream: STREAMS.migrations(context.workspaceId),
        id: `${m.migrationId}-in-progress`,
        at: m.startedAt,
        record: migrationLog(context, m, 'inProgress', m.startedAt),
      };
    },
  } as const;

  /** The `failed` log entry of a scheduled migration cancelled before its start. */
  const appendCancelled = (failureReason: string) =>
    ({
      type: 'appendAudit',
      params: ({ context, event }: { context: WorkspaceContext; event: WorkspaceEvent }) => ({
        stream: STREAMS.migrations(context.workspaceId),
        id: `${context.pending!.migrationId}-cancelled`,
        at: event.at,
        record: migrationLog(context, context.pending!, 'failed', event.at, { failureReason }),
      }),
    }) as const;

  return machine.createMachine({
    id: 'workspace',
    initial: 'boot',
    context: ({ input }) => ({
      workspaceId: input.workspaceId,
      installationId: input.installationId,
      createdAt: input.at,
      policy: input.policy,
      transportSince: input.at,
      migration: null,
      pending: null,
      connections: { active: 0, onAcp: 0, pending: 0, onHttp: 0 },
      members: {},
      window: [],
      health: null,
      autoRollbacks: [],
      autoMigrationBlocked: false,
      cooldownMs: input.policy.cooldownMs,
      cooldownUntil: null,
      lastRollback: null,
      nextMigrationId: null,
    }),
    on: {
      POLICY: { actions: 'recordPolicy' },
      CONNECTION_REPORT: [
        {
          guard: 'isHeld',
          actions: [
            'absorb',
            {
              type: 'appendAudit',
              params: ({ context, event }) => heldDecisionAudit(context, event),
            },
          ],
        },
        { actions: 'absorb' },
      ],
      REENABLE_AUTO_MIGRATION: {
        guard: 'isBlocked',
        actions: [
          'unblock',
          {
            type: 'appendAudit',
            params: ({ context, event }) =>
              decision(context, event, 'auto-migration-reenabled', {
                requestedBy: event.type === 'REENABLE_AUTO_MIGRATION' ? event.requestedBy : null,
              }),
          },
        ],
      },
    },
    states: {
      boot: {
        always: [{ guard: 'startsOnAcp', target: 'acp' }, { target: 'http' }],
      },
      http: {
        initial: 'idle',
        on: {
          REQUEST_MIGRATION: [
            { guard: 'isScheduledAcp', target: '.scheduled', actions: 'schedule' },
            {
              guard: 'isImmediateAcp',
              target: 'migrating',
              actions: ['startMigration', appendStarted],
            },
          ],
        },
        states: {
          idle: {
            always: { guard: 'autoMigrationEligible', target: 'warming' },
          },
          warming: {
            always: { guard: not('autoMigrationEligible'), target: 'idle' },
            after: {
              autoMigrateDelay: {
                target: '#workspace.migrating',
                actions: ['startPending', appendStarted],
              },
            },
          },
          scheduled: {
            after: {
              scheduleDelay: {
                target: '#workspace.migrating',
                actions: ['startPending', appendStarted],
              },
            },
            on: {
              CANCEL_MIGRATION: {
                target: 'idle',
                actions: [appendCancelled('cancelled before its scheduled start'), 'cancelPending'],
              },
              // Otherwise the root's POLICY records the new settings and the schedule stands.
              POLICY: {
                guard: 'barsScheduled',
                target: 'idle',
                actions: [
                  'recordPolicy',
                  appendCancelled(
                    'cancelled before its scheduled start: the installation settings no longer allow it',
                  ),
                  'cancelPending',
                ],
              },
            },
          },
          cooldown: {
            after: { cooldownDelay: { target: 'idle', actions: 'leaveCooldown' } },
          },
        },
      },
      migrating: {
        // Every active connection is on ACP (as reported): the migration succeeded; after a
        // rollback, users are told the workspace recovered.
        always: [
          {
            guard: and(['allOnAcp', 'recoversFromRollback']),
            target: 'acp',
            actions: [
              {
                type: 'appendAudit',
                params: ({ context, event }) =>
                  migrationEndAudit(context, 'succeeded', (event as { at: number }).at),
              },
              {
                type: 'notifyUsers',
                params: ({ context, event }) =>
                  recoveryNotice(context, (event as { at: number }).at),
              },
              'completeMigration',
            ],
          },
          {
            guard: 'allOnAcp',
            target: 'acp',
            actions: [
              {
                type: 'appendAudit',
                params: ({ context, event }) =>
                  migrationEndAudit(context, 'succeeded', (event as { at: number }).at),
              },
              'completeMigration',
            ],
          },
        ],
        after: {
          migrationTimeout: {
            target: 'http',
            actions: [
              {
                type: 'appendAudit',
                params: ({ context, event }) => migrationEndAudit(context, 'failed', event.at),
              },
              'failMigration',
            ],
          },
        },
        on: {
          CONNECTION_REPORT: [
            {
              guard: 'breaches',
              target: '#workspace.http.cooldown',
              actions: rollbackActions,
            },
          ],
          ROLLBACK_REQUESTED: { target: '#workspace.http.cooldown', actions: rollbackActions },
          POLICY: {
            guard: 'breaches',
            target: '#workspace.http.cooldown',
            actions: ['recordPolicy', ...rollbackActions],
          },
        },
      },
      acp: {
        on: {
          POLICY: {
            guard: 'breaches',
            target: '#workspace.http.cooldown',
            actions: ['recordPolicy', ...rollbackActions],
          },
          CONNECTION_REPORT: {
            guard: 'breaches',
            target: '#workspace.http.cooldown',
            actions: rollbackActions,
          },
          ROLLBACK_REQUESTED: { target: '#workspace.http.cooldown', actions: rollbackActions },
          REQUEST_MIGRATION: {
            guard: 'isToHttp',
            target: '#workspace.http.idle',
            actions: [
              {
                type: 'appendAudit',
                params: ({ context, event }) => toHttpAudit(context, event),
              },
              { type: 'rollBackConnections', params: { reason: 'migrated-to-http' } },
              'toHttp',
            ],
          },
        },
      },
    },
  });
}

export const workspaceMachine = createWorkspaceMachine();
export type WorkspaceMachine = typeof workspaceMachine;
export { DEFAULT_WORKSPACE_POLICY };
