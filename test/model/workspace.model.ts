/**
 * The workspace chart's model. Commands with an endpoint (migrations, cancel, rollback,
 * re-enable, settings) go through the HTTP API; delayed events fire by moving the injected clock
 * to the durable timer and letting the engine fire it. The connections' reports
 * (CONNECTION_REPORT) are sent to the workspace actor through the engine on real Redis with the
 * model's payload (members m1, m2 that exist only in the workspace): the engine stamps and
 * commits them exactly as it does for reports routed from real connections, but no connection
 * chart is involved on this path (test/http/workspaces.test.ts drives that path by heartbeats).
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import {
  DEFAULT_WORKSPACE_POLICY,
  type WorkspacePolicy,
} from '../../machines/shared/workspace-policy.ts';
import { type WorkspaceContext, workspaceMachine } from '../../machines/workspace.machine.ts';
import { toWire } from '../../src/workspaces/settings.ts';
import { WORKSPACE } from '../../src/workspaces/workspaces.ts';
import { T0, type TestService } from '../helpers.ts';
import { type ModelOptions, fireDurableTimer, statePath } from './paths.ts';

const WS = 'ws-model';
const HOUR = 3_600_000;

export const automatic: WorkspacePolicy = {
  ...DEFAULT_WORKSPACE_POLICY,
  rolloutMode: 'automatic',
  autoRollout: true,
  flapLimit: 2,
};

const report = (connectionId: string, status: string, ok = 0, ko = 0) => ({
  type: 'CONNECTION_REPORT',
  at: T0,
  eventId: 'model',
  spareId: 'model-next',
  connectionId,
  status,
  ops: ok + ko > 0 ? { at: T0, succeeded: ok, failed: ko, latencyP95: null } : null,
});

function events(policy: WorkspacePolicy): EventObject[] {
  const base = { at: T0, eventId: 'model' };
  const after = (delay: string, state: string) => ({
    ...base,
    type: `xstate.after.${delay}.workspace.${state}`,
  });
  const migrate = (extra: object) => ({
    ...base,
    type: 'REQUEST_MIGRATION',
    migrationId: 'model-migration',
    toProtocol: 'acp',
    initiatedBy: 'operator',
    requestedBy: 'operator-1',
    scheduledAt: null,
    policy,
    ...extra,
  });
  return [
    report('m1', 'connected', 995, 5),
    report('m1', 'connected', 40, 10),
    report('m1', 'connected', 900, 100),
    report('m2', 'connecting'),
    {
      ...base,
      type: 'POLICY',
      spareId: 'model-next',
      policy: { ...policy, minSuccessRate: 0.999 },
    },
    migrate({}),
    migrate({ scheduledAt: T0 + HOUR }),
    migrate({ toProtocol: 'http' }),
    { ...base, type: 'CANCEL_MIGRATION', requestedBy: 'operator-1' },
    {
      ...base,
      type: 'ROLLBACK_REQUESTED',
      migrationId: 'model-rb',
      trigger: 'manualOperator',
      reason: 'model',
      requestedBy: 'operator-1',
      policy,
    },
    { ...base, type: 'REENABLE_AUTO_MIGRATION', requestedBy: 'operator-1' },
    after('cooldownDelay', 'http.cooldown'),
    after('autoMigrateDelay', 'http.warming'),
    after('scheduleDelay', 'http.scheduled'),
    after('migrationTimeout', 'migrating'),
  ] as unknown as EventObject[];
}

const describeEvent = (e: EventObject): string => {
  const x = e as any;
  if (e.type === 'CONNECTION_REPORT')
    return `REPORT(${x.connectionId} ${x.status}${x.ops ? ` ${x.ops.succeeded}/${x.ops.failed}` : ''})`;
  if (e.type === 'POLICY') return 'POLICY(minSuccessRate 0.999)';
  if (e.type === 'REQUEST_MIGRATION')
    return `MIGRATE(${x.toProtocol}${x.scheduledAt ? ', scheduled' : ''})`;
  if (e.type.startsWith('xstate.after.')) return `after ${e.type.split('.')[2]}`;
  return e.type;
};

export function workspaceModel(policy: WorkspacePolicy): ModelOptions {
  return {
    machine: workspaceMachine,
    input: { workspaceId: WS, installationId: 'inst-a', policy, at: T0 },
    events: events(policy),
    describeEvent,
    serializeState: (s: AnyMachineSnapshot) => {
      const c = s.context as WorkspaceContext;
      return JSON.stringify([
        statePath(s),
        c.health?.verdict ?? null,
        c.autoMigrationBlocked,
        // Beyond the flap limit more rollbacks change nothing the chart looks at.
        Math.min(c.autoRollbacks.length, policy.flapLimit),
        c.migration !== null,
        c.pending !== null,
        c.connections.active,
        c.connections.pending,
        // Whether the window holds operations: a healthy verdict over an empty window (just
        // after a transport change) is not the same state for a later policy change.
        c.window.length > 0,
      ]);
    },
  };
}

const ref = { kind: WORKSPACE, installationId: 'inst-a', id: WS };

/** Applies the policy as installation settings and creates the workspace. */
export async function setupWorkspace(svc: TestService, policy: WorkspacePolicy): Promise<void> {
  const res = await svc.api('PUT', '/v1/installations/inst-a/settings', toWire(policy));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  await svc.workspaces.ensure('inst-a', WS);
}

export async function driveWorkspace(svc: TestService, event: EventObject): Promise<void> {
  const e = event as any;
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await svc.api(method, `/v1/workspaces/${WS}${path}`, body);
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
  };
  switch (event.type) {
    case 'REQUEST_MIGRATION':
      return api('POST', '/migrations', {
        toProtocol: e.toProtocol,
        initiatedBy: 'operator',
        ...(e.scheduledAt ? { scheduledAt: new Date(svc.clock.now() + HOUR).toISOString() } : {}),
      });
    case 'CANCEL_MIGRATION':
      return api('POST', '/migrations/cancel', {});
    case 'ROLLBACK_REQUESTED':
      return api('POST', '/rollback', { reason: e.reason });
    case 'REENABLE_AUTO_MIGRATION':
      return api('POST', '/auto-migration/reenable', {});
    case 'POLICY': {
      const res = await svc.api('PUT', '/v1/installations/inst-a/settings', toWire(e.policy));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return;
    }
    case 'CONNECTION_REPORT': {
      const now = svc.clock.now();
      const ops = e.ops ? { ...e.ops, at: now } : null;
      await svc.engine.send(ref, { ...e, ops, at: now }).catch(() => undefined);
      return;
    }
  }
  await fireDurableTimer(svc, ref, event.type);
}

export async function checkWorkspace(
  svc: TestService,
  model: AnyMachineSnapshot,
  pendingTimers: string[],
): Promise<void> {
  const c = model.context as WorkspaceContext;
  const res = await svc.api('GET', `/v1/workspaces/${WS}`);
  expect(res.status).toBe(200);
  const kebab = (p: string) =>
    p
      .split('.')
      .map((x) => x.replace(/[A-Z]/g, (y) => `-${y.toLowerCase()}`))
      .join('.');
  expect(res.body).toMatchObject({
    state: kebab(statePath(model)),
    transport: statePath(model) === 'acp' ? 'acp' : 'http',
    autoMigrationBlocked: c.autoMigrationBlocked,
    autoRollbacksInFlapWindow: c.autoRollbacks.length,
  });
  expect(res.body.migration === null).toBe(c.migration === null);
  expect(res.body.lastRollback?.trigger ?? null).toBe(
    c.lastRollback ? kebab(c.lastRollback.trigger) : null,
  );
  const timers = await svc.store.timersOf(ref);
  expect(timers.map((t) => t.sendId).sort()).toEqual([...pendingTimers].sort());
}
