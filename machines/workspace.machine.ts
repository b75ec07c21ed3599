/**
 * A workspace's transport: HTTP or ACP, migrations between them, automatic and manual rollback,
 * cooldown and flap protection (ProtocolMigrationLog and RollbackEvent in the seed).
 *
 *   boot --default protocol--> http.idle | acp
 *   http.idle --REQUEST_MIGRATION(acp)--> migrating --CONNECTION_REPORT(all on ACP)--> acp
 *   http.idle --REQUEST_MIGRATION(acp, scheduledAt)--> http.scheduled --after scheduleDelay--> migrating
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
import { assertEvent, assign, enqueueActions, not, setup } from 'xstate';
import { DEFAULT_WORKSPACE_POLICY, healthVerdict } from './shared/workspace-policy.ts';
import {
  type Migration,
  type WorkspaceContext,
  type WorkspaceEvent,
  type WorkspaceInput,
  STREAMS,
  absorbed,
  decision,
  migrationLog,
  rollbackNotification,
  heldDecisionAudit,
  migrationEndAudit,
  rollbackEventAudit,
  toHttpAudit,
  rollbackOf,
  rolledBackLogAudit,
  windowOwner,
} from './shared/workspace-records.ts';
import {
  type WorkspaceWindow,
  evidenceOf,
  liveMembers,
  verdictOf,
} from './shared/workspace-window.ts';

export * from './shared/workspace-records.ts';
export type { ConnectionCounts, WorkspaceWindow } from './shared/workspace-window.ts';
export function createWorkspaceMachine() {
  const machine = setup({
    types: {
      context: {} as WorkspaceContext,
      events: {} as WorkspaceEvent,
      input: {} as WorkspaceInput,
    },
    actions: {
      /** Takes in a connection's report: its status, its operations, the verdict they give. */
      absorb: assign(({ context, event }) => {
        assertEvent(event, 'CONNECTION_REPORT');
        const next = absorbed(context, event);
        const evidence = evidenceOf(windowOwner(next));
        return {
          members: next.members,
          window: next.window,
          connections: next.connections,
          nextMigrationId: event.spareId,
          health: {
            ...evidence,
            verdict: healthVerdict(evidence, context.policy),
            at: event.at,
          },
        };
      }),
      recordPolicy: assign(({ event }) => {
        assertEvent(event, 'POLICY');
        return { policy: event.policy };
      }),
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
      startMigration: assign(({ event }) => {
        if (event.type !== 'REQUEST_MIGRATION') return {};
        const m: Migration = {
          migrationId: event.migrationId,
          fromProtocol: event.toProtocol === 'acp' ? 'http' : 'acp',
          toProtocol: event.toProtocol,
          initiatedBy: event.initiatedBy,
          requestedBy: event.requestedBy,
          startedAt: event.at,
          scheduledAt: event.scheduledAt,
        };
        return { migration: m, pending: null, policy: event.policy, window: [] as WorkspaceWindow };
      }),
      schedule: assign(({ event }) => {
        if (event.type !== 'REQUEST_MIGRATION') return {};
        return {
          policy: event.policy,
          pending: {
            migrationId: event.migrationId,
            fromProtocol: 'http' as const,
            toProtocol: 'acp' as const,
            initiatedBy: event.initiatedBy,
            requestedBy: event.requestedBy,
            startedAt: event.at,
            scheduledAt: event.scheduledAt,
          },
        };
      }),
      /** Turns the pending (scheduled or automatic) migration into the running one. */
      startPending: assign(({ context, event }) => {
        const at = (event as { at: number }).at;
        const pending: Migration = context.pending ?? {
          migrationId: context.nextMigrationId ?? `auto-${at}`,
          fromProtocol: 'http',
          toProtocol: 'acp',
          initiatedBy: 'system',
          requestedBy: null,
          startedAt: at,
          scheduledAt: null,
        };
        return {
          migration: { ...pending, startedAt: at },
          pending: null,
          nextMigrationId: null,
          window: [] as WorkspaceWindow,
        };
      }),
      completeMigration: assign(({ event }) => ({
        migration: null,
        transportSince: (event as { at: number }).at,
        window: [] as WorkspaceWindow,
      })),
      failMigration: assign({ migration: null }),
      enterCooldown: assign(({ context, event }) => {
        const e = rollbackOf(context, event);
        const auto = e.type === 'AUTO_ROLLBACK';
        const recent = context.autoRollbacks.filter((t) => t > e.at - e.policy.flapWindowMs);
        if (auto) recent.push(e.at);
        return {
          policy: e.policy,
          migration: null,
          pending: null,
          transportSince: e.at,
          cooldownMs: e.policy.cooldownMs,
          cooldownUntil: e.at + e.policy.cooldownMs,
          autoRollbacks: recent,
          autoMigrationBlocked:
            context.autoMigrationBlocked || (auto && recent.length >= e.policy.flapLimit),
          lastRollback: {
            eventId: e.eventId,
            at: e.at,
            trigger: e.trigger,
            reasonCode: auto ? 'success-rate-below-threshold' : 'manual',
          },
          window: [] as WorkspaceWindow,
          // The new transport has no evidence yet: a stale `healthy` must not start the
          // automatic rollout again after the cooldown (nothing reports once all rolled back).
          health: null,
        };
      }),
      leaveCooldown: assign({ cooldownUntil: null }),
      unblock: assign({ autoMigrationBlocked: false, autoRollbacks: [] as number[] }),
      cancelPending: assign({ pending: null }),
      toHttp: assign(({ event }) => ({
        transportSince: (event as { at: number }).at,
        migration: null,
        window: [] as WorkspaceWindow,
        // As after a rollback: no automatic migration back to ACP on the health of the old one.
        health: null,
      })),
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
    guards: {
      startsOnAcp: ({ context }) => context.policy.defaultProtocol === 'acp',
      isImmediateAcp: ({ context, event }) =>
        event.type === 'REQUEST_MIGRATION' &&
        event.toProtocol === 'acp' &&
        event.policy.migrationEnabled &&
        (event.scheduledAt === null || event.scheduledAt <= event.at) &&
        !(event.policy.rolloutMode === 'scheduled' && event.initiatedBy === 'user') &&
        context.migration === null,
      isScheduledAcp: ({ event }) =>
        event.type === 'REQUEST_MIGRATION' &&
        event.toProtocol === 'acp' &&
        event.policy.migrationEnabled &&
        event.scheduledAt !== null &&
        event.scheduledAt > event.at &&
        !(event.policy.rolloutMode === 'scheduled' && event.initiatedBy === 'user'),
      isToHttp: ({ event }) => event.type === 'REQUEST_MIGRATION' && event.toProtocol === 'http',
      breaches: ({ context, event }) =>
        (event.type === 'CONNECTION_REPORT' &&
          verdictOf(windowOwner(absorbed(context, event))) === 'breach') ||
        (event.type === 'POLICY' &&
          verdictOf(windowOwner({ ...context, policy: event.policy })) === 'breach'),
      isHeld: ({ context, event }) =>
        event.type === 'CONNECTION_REPORT' &&
        verdictOf(windowOwner(absorbed(context, event))) === 'held' &&
        context.health?.verdict !== 'held',
      allOnAcp: ({ context }) =>
        context.connections.active > 0 && context.connections.pending === 0,
      autoMigrationEligible: ({ context }) =>
        context.policy.rolloutMode === 'automatic' &&
        context.policy.autoRollout &&
        context.policy.migrationEnabled &&
        !context.autoMigrationBlocked &&
        context.health?.verdict === 'healthy',
      isBlocked: ({ context }) => context.autoMigrationBlocked,
    },
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
                actions: [
                  {
                    type: 'appendAudit',
                    params: ({ context, event }) => ({
                      stream: STREAMS.migrations(context.workspaceId),
                      id: `${context.pending!.migrationId}-cancelled`,
                      at: event.at,
                      record: migrationLog(context, context.pending!, 'failed', event.at, {
                        failureReason: 'cancelled before its scheduled start',
                      }),
                    }),
                  },
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
        // Every active connection is on ACP (as reported): the migration succeeded.
        always: {
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
