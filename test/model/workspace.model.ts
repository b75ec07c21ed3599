/**
 * The workspace chart's model. Commands with an endpoint (migrations, cancel, rollback,
 * re-enable) go through the HTTP API; the evaluator's internal events (HEALTH, CONNECTIONS,
 * AUTO_ROLLBACK) are sent to the engine on real Redis with the model's payload; delayed events
 * fire by moving the injected clock to the durable timer and letting the engine fire it.
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

const evidence = (successRate: number | null, sampleSize: number) => ({
  successRate,
  sampleSize,
  latencyP95: null,
  windowMinutes: 60,
  activeConnections: 0,
  capacityPercent: 0,
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
    evidence: evidence(null, 0),
    connectionIds: [],
    ...extra,
  });
  return [
    { ...base, type: 'HEALTH', evidence: evidence(1, 1000), policy, nextMigrationId: 'model-next' },
    { ...base, type: 'HEALTH', evidence: evidence(0.5, 50), policy, nextMigrationId: 'model-next' },
    { ...base, type: 'CONNECTIONS', counts: { active: 1, onAcp: 1, pending: 0, onHttp: 0 } },
    { ...base, type: 'CONNECTIONS', counts: { active: 2, onAcp: 1, pending: 1, onHttp: 0 } },
    migrate({}),
    migrate({ scheduledAt: T0 + HOUR }),
    migrate({ toProtocol: 'http' }),
    { ...base, type: 'CANCEL_MIGRATION', requestedBy: 'operator-1' },
    {
      ...base,
      type: 'AUTO_ROLLBACK',
      migrationId: 'model-rb',
      evidence: evidence(0.5, 1000),
      policy,
      connectionIds: [],
    },
    {
      ...base,
      type: 'ROLLBACK_REQUESTED',
      migrationId: 'model-rb',
      trigger: 'manualOperator',
      reason: 'model',
      requestedBy: 'operator-1',
      evidence: evidence(null, 0),
      policy,
      connectionIds: [],
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
  if (e.type === 'HEALTH') return `HEALTH(${x.evidence.successRate}/${x.evidence.sampleSize})`;
  if (e.type === 'CONNECTIONS') return `CONNECTIONS(${x.counts.onAcp}/${x.counts.active})`;
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
      ]);
    },
  };
}

const ref = { kind: WORKSPACE, installationId: 'inst-a', id: WS };

/** Applies the policy as installation settings and creates the workspace. */
export async function setupWorkspace(svc: TestService, policy: WorkspacePolicy): Promise<void> {
  // The test plays the evaluator (it sends HEALTH/CONNECTIONS itself), so the service's own
  // background evaluation is switched off here to keep the run deterministic.
  svc.workspaces.schedule = () => Promise.resolve({ rollback: null });
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
    case 'HEALTH':
    case 'CONNECTIONS':
    case 'AUTO_ROLLBACK':
      await svc.engine.send(ref, { ...e, at: svc.clock.now() });
      return;
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
