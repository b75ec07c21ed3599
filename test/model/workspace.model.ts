/**
 * The workspace chart's model, driven through the real path. Model events are what happens to
 * the workspace's connections and what operators do, each standing for one real action:
 *
 * - REGISTER: the next connection (c1, then c2) registers → its chart reports `connecting`;
 * - HANDSHAKE: the first connecting one completes its handshake → reports `connected`;
 * - BEAT(ok/ko): the clock moves BEAT_MS and the first connected one sends a heartbeat dated
 *   now → it reports the operations (the service runs with connection thresholds that never
 *   change a connection's status, so a heartbeat is exactly one report);
 * - migrations, cancel, manual rollback, re-enable, a settings change (POLICY) go through HTTP;
 * - delayed events fire when the clock reaches the durable timer.
 *
 * `toChart` turns each into the chart event the real system produces, at the model clock, with
 * placeholder ids (`@event:3`) for the ids the real system generates (bound by the checks to the
 * real ones, consistently). `answer` composes the connections back in: every ROLLBACK the chart
 * emits makes that connection report `rolledBack` in the same step, as the engine commits it in
 * the same chain. Nothing is injected: the driver (workspace.driver.ts) only calls the API and
 * moves the clock.
 *
 * Not driven here: connection statuses other than connecting, connected and rolled back
 * (degraded, error, reconnecting: the thresholds keep them away; the connection model covers
 * them), and two ids only (a third multiplies the paths and reaches no new transition).
 */
import type { EventObject } from 'xstate';
import {
  DEFAULT_WORKSPACE_POLICY,
  type WorkspacePolicy,
} from '../../machines/shared/workspace-policy.ts';
import { type WorkspaceContext, workspaceMachine } from '../../machines/workspace.machine.ts';
import { recoversFromRollback } from '../../machines/shared/workspace-records.ts';
import type { PlannedAction } from '../../src/engine/step.ts';
import { T0 } from '../helpers.ts';
import {
  type ModelOptions,
  type ModelPath,
  type ModelSnapshot,
  modelLogic,
  statePath,
} from './paths.ts';

export const WS = 'ws-model';
export const INSTALLATION = 'inst-a';
export const CONNECTION_IDS = ['c1', 'c2'];
export const OPERATOR_NAME = 'operator-1';
/** How far the clock moves before each heartbeat: three heartbeats fill a 60-minute window. */
export const BEAT_MS = 30 * 60_000;
export const SCHEDULE_AHEAD_MS = 3_600_000;
/** The success rate a settings change (POLICY) sets: stricter than every healthy payload. */
export const STRICT_RATE = 0.999;

/** Connection thresholds under which a heartbeat never changes a connection's status. */
const NEVER_MS = String(10 * 365 * 24 * 3_600_000);
export const WORKSPACE_ENV = {
  DEGRADED_SUCCESS_RATE: '0',
  ERROR_SUCCESS_RATE: '0',
  DEGRADED_LATENCY_P95_MS: '600000',
  HEARTBEAT_TIMEOUT_MS: NEVER_MS,
  HANDSHAKE_TIMEOUT_MS: NEVER_MS,
};

export const automatic: WorkspacePolicy = {
  ...DEFAULT_WORKSPACE_POLICY,
  rolloutMode: 'automatic',
  autoRollout: true,
  flapLimit: 2,
};

/** Heartbeat payloads: healthy (99.5 %), held (80 % of 50: too few), breach (90 % of 1000). */
const BEATS = [
  { ok: 995, ko: 5 },
  { ok: 40, ko: 10 },
  { ok: 900, ko: 100 },
];

const idsOf = (tag: string) => ({ eventId: `@event:${tag}`, spareId: `@spare:${tag}` });

function report(
  connectionId: string,
  status: string,
  at: number,
  tag: string,
  ops: { succeeded: number; failed: number } | null = null,
) {
  return {
    type: 'CONNECTION_REPORT',
    at,
    ...idsOf(tag),
    connectionId,
    status,
    ops: ops && { at, ...ops, latencyP95: null },
  };
}

const membersOf = (s: ModelSnapshot) => (s.chart.context as WorkspaceContext).members;
const firstWith = (s: ModelSnapshot, status: string) =>
  CONNECTION_IDS.find((id) => membersOf(s)[id] === status);

/** The model events possible in a state: only what the real system can do there. */
function eventsIn(s: ModelSnapshot): EventObject[] {
  const c = s.chart.context as WorkspaceContext;
  const out: (EventObject & Record<string, unknown>)[] = [];
  if (CONNECTION_IDS.some((id) => !(id in c.members))) out.push({ type: 'REGISTER' });
  if (firstWith(s, 'connecting')) out.push({ type: 'HANDSHAKE' });
  if (firstWith(s, 'connected')) out.push(...BEATS.map((b) => ({ type: 'BEAT', ...b })));
  out.push(
    { type: 'MIGRATE', toProtocol: 'acp', scheduled: false },
    { type: 'MIGRATE', toProtocol: 'acp', scheduled: true },
    { type: 'MIGRATE', toProtocol: 'http', scheduled: false },
    { type: 'CANCEL_MIGRATION' },
    { type: 'ROLLBACK_REQUESTED' },
    { type: 'REENABLE_AUTO_MIGRATION' },
  );
  if (c.policy.minSuccessRate !== STRICT_RATE) out.push({ type: 'POLICY' });
  // Turning migration off cancels a scheduled migration (offered only there: elsewhere it is
  // the same settings change as above for the chart's decisions).
  if (c.pending !== null && c.policy.migrationEnabled) out.push({ type: 'DISABLE' });
  for (const sendId of Object.keys(s.timers)) out.push({ type: sendId });
  return out;
}

/** The chart event the real system produces for a model event, and the clock after it. */
function toChart(e: EventObject, s: ModelSnapshot): { event: EventObject; now: number } {
  const c = s.chart.context as WorkspaceContext;
  const tag = String(s.step + 1);
  const x = e as unknown as Record<string, any>;
  const at = s.now;
  const stamped = { at, ...idsOf(tag) };
  const operator = { requestedBy: OPERATOR_NAME, policy: c.policy };
  const chart = (event: object, now = at) => ({ event: event as EventObject, now });
  switch (e.type) {
    case 'REGISTER':
      return chart(
        report(
          CONNECTION_IDS.find((id) => !(id in c.members))!,
          'connecting',
          at,
          tag,
        ),
      );
    case 'HANDSHAKE':
      return chart(report(firstWith(s, 'connecting')!, 'connected', at, tag));
    case 'BEAT': {
      const now = at + BEAT_MS;
      const ops = { succeeded: x.ok, failed: x.ko };
      return chart(report(firstWith(s, 'connected')!, 'connected', now, tag, ops), now);
    }
    case 'MIGRATE':
      return chart({
        type: 'REQUEST_MIGRATION',
        ...stamped,
        migrationId: `@migration:${tag}`,
        toProtocol: x.toProtocol,
        initiatedBy: 'operator',
        scheduledAt: x.scheduled ? at + SCHEDULE_AHEAD_MS : null,
        ...operator,
      });
    case 'CANCEL_MIGRATION':
    case 'REENABLE_AUTO_MIGRATION':
      return chart({ type: e.type, ...stamped, requestedBy: OPERATOR_NAME });
    case 'ROLLBACK_REQUESTED':
      return chart({
        type: e.type,
        ...stamped,
        migrationId: `@migration:${tag}`,
        trigger: 'manualOperator',
        reason: 'model',
        ...operator,
      });
    case 'POLICY':
      return chart({
        type: e.type,
        ...stamped,
        policy: { ...c.policy, minSuccessRate: STRICT_RATE },
      });
    case 'DISABLE':
      return chart({
        type: 'POLICY',
        ...stamped,
        policy: { ...c.policy, migrationEnabled: false },
      });
  }
  // A durable timer: it fires at its due time (the clock moves there unless it is already past).
  const due = s.timers[e.type]!;
  return chart({ type: e.type, at: due }, Math.max(at, due));
}

/** The connections the chart rolled back report `rolledBack` in the same chain. */
function answer(actions: readonly PlannedAction[], e: EventObject, tag: string): EventObject[] {
  const at = (e as EventObject & { at: number }).at;
  const out: EventObject[] = [];
  for (const a of actions) {
    if (a.type !== 'xstate.emit') continue;
    const emitted = (a.params as { event: { type: string; to: { kind: string; id: string } } })
      .event;
    if (emitted.type === 'ROLLBACK' && emitted.to.kind === 'connection')
      out.push(report(emitted.to.id, 'rolledBack', at, `${tag}.${out.length}`));
  }
  return out;
}

/**
 * Chart events, as the real system produces them, for random sequences in any state (the
 * property tests): reports of two connections, every command, every delayed event.
 */
function chartEvents(policy: WorkspacePolicy): EventObject[] {
  const input = { workspaceId: WS, installationId: INSTALLATION, policy, at: T0 };
  const logic = modelLogic({
    machine: workspaceMachine,
    input,
    events: [],
    serializeState: String,
  });
  const s = logic.getInitialSnapshot(null, input);
  const commands = eventsIn(s)
    .filter((e) => !['REGISTER', 'HANDSHAKE', 'BEAT'].includes(e.type))
    .map((e) => toChart(e, s).event);
  const reports = ['c1', 'c2'].flatMap((id) => [
    report(id, 'connecting', T0, id),
    report(id, 'connected', T0, id),
    report(id, 'rolledBack', T0, id),
    ...BEATS.map((b) => report(id, 'connected', T0, id, { succeeded: b.ok, failed: b.ko })),
  ]);
  const timers = [
    'cooldownDelay.workspace.http.cooldown',
    'autoMigrateDelay.workspace.http.warming',
    'scheduleDelay.workspace.http.scheduled',
    'migrationTimeout.workspace.migrating',
  ].map((t) => ({ type: `xstate.after.${t}`, at: T0 }));
  return [...reports, ...commands, ...timers] as EventObject[];
}

const describeEvent = (e: EventObject): string => {
  const x = e as any;
  if (e.type === 'BEAT') return `BEAT(${x.ok}/${x.ko})`;
  if (e.type === 'MIGRATE') return `MIGRATE(${x.toProtocol}${x.scheduled ? ', scheduled' : ''})`;
  if (e.type === 'POLICY') return `POLICY(minSuccessRate ${STRICT_RATE})`;
  if (e.type === 'DISABLE') return 'POLICY(migrationEnabled false)';
  if (e.type.startsWith('xstate.after.')) return `after ${e.type.split('.')[2]}`;
  return e.type;
};

const beat = (ok: number, ko: number) => ({ type: 'BEAT', ok, ko });
const healthy = beat(995, 5);
const breach = beat(900, 100);

/**
 * Paths long enough for the window to roll (it holds the last two heartbeats, 30 min apart, in
 * 60 min): shortest paths never need three heartbeats on one transport.
 */
const SCENARIOS = {
  http: [
    {
      name: 'window rolls: a breach on HTTP ages out, health turns healthy, automatic migration',
      events: [
        { type: 'REGISTER' },
        { type: 'HANDSHAKE' },
        breach,
        healthy,
        healthy,
        { type: 'xstate.after.autoMigrateDelay.workspace.http.warming' },
      ],
    },
  ],
  acp: [
    {
      name: 'window rolls: on ACP the breach is decided on the last hour only',
      events: [{ type: 'REGISTER' }, { type: 'HANDSHAKE' }, healthy, healthy, healthy, breach],
    },
  ],
};

/**
 * `detail: 'full'` tells apart everything the chart's decisions look at; `'coarse'` only the
 * state, the verdict, whether a connection is on ACP and how many are live: for a variant that
 * adds a start and a policy, not a new chart (its paths run through the same real path, fewer).
 */
export function workspaceModel(
  policy: WorkspacePolicy,
  detail: 'full' | 'coarse' = 'full',
): ModelOptions {
  return {
    machine: workspaceMachine,
    input: { workspaceId: WS, installationId: INSTALLATION, policy, at: T0 },
    events: chartEvents(policy),
    eventsIn,
    toChart,
    answer,
    describeEvent,
    scenarios: SCENARIOS[policy.defaultProtocol],
    serializeState: ({ chart }) => {
      const c = chart.context as WorkspaceContext;
      const members = c.connections;
      const coarse = [
        statePath(chart),
        c.health?.verdict ?? null,
        // Whether a connection can send operations, and how many are not rolled back.
        members.onAcp > 0,
        members.active,
      ];
      if (detail === 'coarse') return JSON.stringify(coarse);
      return JSON.stringify([
        ...coarse,
        // The members' statuses (connecting, connected or rolled back), as counts.
        members,
        c.autoMigrationBlocked,
        // Beyond the flap limit more rollbacks change nothing the chart looks at.
        Math.min(c.autoRollbacks.length, c.policy.flapLimit),
        c.migration !== null,
        c.pending !== null,
        c.policy.migrationEnabled,
        // Whether the window holds operations: a healthy verdict over an empty window (just
        // after a transport change) is not the same state for a later policy change.
        c.window.length > 0,
        // On HTTP because of the last rollback: a successful migration is then a recovery.
        recoversFromRollback(c),
      ]);
    },
  };
}

/** Whether a heartbeat on this path pushed the oldest minute out of the chart's window. */
export function windowRolls(path: ModelPath): boolean {
  let before = (path.initial.context as WorkspaceContext).window;
  for (const step of path.steps) {
    const after = (step.state.context as WorkspaceContext).window;
    if (step.event.type === 'BEAT' && before.length > 0 && after[0]![0] > before[0]![0])
      return true;
    before = after;
  }
  return false;
}
