/**
 * Drives the workspace model through the real service and checks the real records after every
 * step. The driver only calls the HTTP API (registrations, handshakes, heartbeats, migrations,
 * rollbacks, settings) and moves the injected clock; the connections' charts report to the
 * workspace chart through the engine, in the same commit, exactly as in production.
 *
 * After every step it compares, with the model's state and what the model's actions recorded:
 * the clock, the workspace record (GET /v1/workspaces/:id), the workspace's durable timers (send
 * ids and due times), the audit streams (migrations, rollbacks, decisions: every record, field by
 * field), every connection's status (GET /v1/connections?workspaceId=), and the capacity actor's
 * count of live connections with no alert (the same connections report to it). Ids the real system
 * generates appear in the model as placeholders (`@event:3`); each is bound to the first real id
 * found in its place, and must then be that id everywhere, and no other placeholder's.
 */
import { expect } from 'vitest';
import type { EventObject } from 'xstate';
import type { WorkspacePolicy } from '../../machines/shared/workspace-policy.ts';
import { countMembers, evidenceOf, verdictOf } from '../../machines/shared/workspace-window.ts';
import { STREAMS, type WorkspaceContext } from '../../machines/workspace.machine.ts';
import { toWire } from '../../src/workspaces/settings.ts';
import { WORKSPACE } from '../../src/workspaces/workspaces.ts';
import { type TestService, hb } from '../helpers.ts';
import { type ModelSnapshot, type ModelStep, fireDurableTimer, statePath } from './paths.ts';
import { BEAT_MS, INSTALLATION, SCHEDULE_AHEAD_MS, STRICT_RATE, WS } from './workspace.model.ts';

const ref = { kind: WORKSPACE, installationId: INSTALLATION, id: WS };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Placeholder ids of the model bound to the real ids, one to one. */
export class IdBinding {
  readonly #real = new Map<string, string>();
  readonly #placeholder = new Map<string, string>();

  /** `model` with its placeholders replaced by the real values found in the same place. */
  expected(model: unknown, real: unknown): unknown {
    if (typeof model === 'string' && model.startsWith('@')) {
      const bound = this.#real.get(model);
      if (bound !== undefined) return bound;
      if (typeof real !== 'string' || this.#placeholder.has(real)) return model;
      this.#real.set(model, real);
      this.#placeholder.set(real, model);
      return real;
    }
    if (Array.isArray(model))
      return model.map((m, i) => this.expected(m, Array.isArray(real) ? real[i] : undefined));
    if (model !== null && typeof model === 'object') {
      const r = (real ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(model).map(([k, v]) => [k, this.expected(v, r[k])]));
    }
    return model;
  }

  /** Fails unless `real` equals `model` once the placeholders are bound. */
  check(real: unknown, model: unknown, what: string): void {
    expect(real, what).toEqual(this.expected(model, real));
  }
}

/** What the real workspace record must say for the model's state. */
function expectedRecord(m: ModelSnapshot) {
  const c = m.chart.context as WorkspaceContext;
  const path = statePath(m.chart);
  const owner = {
    policy: c.policy,
    members: c.members,
    window: c.window,
    since: c.migration?.startedAt ?? c.transportSince,
  };
  const byStatus: Record<string, number> = {};
  for (const s of Object.values(c.members)) byStatus[kebab(s)] = (byStatus[kebab(s)] ?? 0) + 1;
  const p = c.pending;
  return {
    workspaceId: WS,
    installationId: INSTALLATION,
    transport: path === 'acp' ? 'acp' : 'http',
    state: path.split('.').map(kebab).join('.'),
    transportSince: iso(c.transportSince),
    migration: c.migration && {
      ...c.migration,
      status: 'in-progress',
      startedAt: iso(c.migration.startedAt),
      scheduledAt: iso(c.migration.scheduledAt),
    },
    scheduledMigration:
      p && path === 'http.scheduled'
        ? {
            migrationId: p.migrationId,
            fromProtocol: p.fromProtocol,
            toProtocol: p.toProtocol,
            initiatedBy: p.initiatedBy,
            requestedBy: p.requestedBy,
            requestedAt: iso(p.startedAt),
            scheduledAt: iso(p.scheduledAt),
          }
        : null,
    connections: { total: Object.keys(c.members).length, byStatus, ...countMembers(c.members) },
    health: {
      ...evidenceOf(owner),
      verdict: verdictOf(owner),
      minSuccessRate: c.policy.minSuccessRate,
      minSamples: c.policy.minSamples,
    },
    cooldownUntil: iso(c.cooldownUntil),
    autoMigrationBlocked: c.autoMigrationBlocked,
    autoRollbacksInFlapWindow: c.autoRollbacks.length,
    lastRollback: c.lastRollback && {
      eventId: c.lastRollback.eventId,
      at: iso(c.lastRollback.at),
      trigger: kebab(c.lastRollback.trigger),
      reasonCode: c.lastRollback.reasonCode,
    },
    settings: toWire(c.policy),
  };
}

interface Audit {
  stream: string;
  record: Record<string, unknown>;
}

/** The audit records the chart's `appendAudit` actions asked for, in order. */
function auditOf(actions: readonly { type: string; params: unknown }[]): Audit[] {
  return actions.filter((a) => a.type === 'appendAudit').map((a) => a.params as Audit);
}

export class WorkspaceDriver {
  readonly ids = new IdBinding();
  readonly #audit: Audit[] = [];

  constructor(readonly svc: TestService) {}

  async #api(method: string, path: string, body: unknown, status: number) {
    const res = await this.svc.api(method, path, body);
    expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(status);
    return res.body;
  }

  /** Applies the policy as installation settings and creates the workspace. */
  async setup(policy: WorkspacePolicy, initial: ModelSnapshot): Promise<void> {
    await this.#api('PUT', `/v1/installations/${INSTALLATION}/settings`, toWire(policy), 200);
    await this.svc.workspaces.ensure(INSTALLATION, WS);
    this.#audit.push(...auditOf(initial.actions));
    await this.check(initial);
  }

  /** Performs the real action a model step stands for. */
  async drive(step: ModelStep): Promise<void> {
    const e = step.event as EventObject & Record<string, any>;
    const reported = step.model.fed[0] as EventObject & { connectionId?: string };
    const ws = `/v1/workspaces/${WS}`;
    const conn = `/v1/connections/${reported.connectionId}`;
    switch (e.type) {
      case 'REGISTER':
        await this.#api(
          'POST',
          '/v1/connections',
          { connectionId: reported.connectionId, installationId: INSTALLATION, workspaceId: WS },
          201,
        );
        break;
      case 'HANDSHAKE':
        await this.#api(
          'POST',
          `${conn}/handshake`,
          { protocolVersion: '1.0.0', negotiatedCapabilities: [] },
          200,
        );
        break;
      case 'BEAT':
        this.svc.clock.advance(BEAT_MS);
        await this.#api('POST', `${conn}/heartbeats`, hb(this.svc.clock.now(), e.ok, e.ko), 200);
        break;
      case 'MIGRATE':
        await this.#api(
          'POST',
          `${ws}/migrations`,
          {
            toProtocol: e.toProtocol,
            initiatedBy: 'operator',
            ...(e.scheduled ? { scheduledAt: iso(this.svc.clock.now() + SCHEDULE_AHEAD_MS) } : {}),
          },
          201,
        );
        break;
      case 'CANCEL_MIGRATION':
        await this.#api('POST', `${ws}/migrations/cancel`, {}, 200);
        break;
      case 'ROLLBACK_REQUESTED':
        await this.#api('POST', `${ws}/rollback`, { reason: 'model' }, 201);
        break;
      case 'REENABLE_AUTO_MIGRATION':
        await this.#api('POST', `${ws}/auto-migration/reenable`, {}, 200);
        break;
      case 'POLICY': {
        const policy = (step.model.fed[0] as EventObject & { policy: WorkspacePolicy }).policy;
        expect(policy.minSuccessRate).toBe(STRICT_RATE);
        await this.#api('PUT', `/v1/installations/${INSTALLATION}/settings`, toWire(policy), 200);
        break;
      }
      case 'DISABLE': {
        const policy = (step.model.fed[0] as EventObject & { policy: WorkspacePolicy }).policy;
        expect(policy.migrationEnabled).toBe(false);
        await this.#api('PUT', `/v1/installations/${INSTALLATION}/settings`, toWire(policy), 200);
        break;
      }
      default:
        await fireDurableTimer(this.svc, ref, e.type);
    }
    await this.svc.engine.idle();
    this.#audit.push(...auditOf(step.model.actions));
  }

  /** The real records must be what the model says, after every step. */
  async check(m: ModelSnapshot): Promise<void> {
    expect(this.svc.clock.now(), 'clock').toBe(m.now);
    const streams = ['migrations', 'rollbacks', 'decisions'] as const;
    const [ws, timers, list, capacity, ...pages] = await Promise.all([
      this.#api('GET', `/v1/workspaces/${WS}`, undefined, 200),
      this.svc.store.timersOf(ref),
      this.#api('GET', `/v1/connections?workspaceId=${WS}`, undefined, 200),
      this.#api('GET', `/v1/installations/${INSTALLATION}/capacity`, undefined, 200),
      ...streams.map((name) =>
        this.#api('GET', `/v1/workspaces/${WS}/${name}?limit=500`, undefined, 200),
      ),
    ]);
    this.ids.check(ws, expectedRecord(m), 'workspace record');
    expect(
      Object.fromEntries(timers.map((t) => [t.sendId, t.due])),
      'durable timers of the workspace',
    ).toEqual(m.timers);
    streams.forEach((name, i) => {
      const real = [...(pages[i].items as unknown[])].reverse();
      const model = this.#audit.filter((a) => a.stream === STREAMS[name](WS)).map((a) => a.record);
      this.ids.check(real, model, `${name} audit records (oldest first)`);
    });
    const members = (m.chart.context as WorkspaceContext).members;
    expect(
      Object.fromEntries(
        (list.items as { connectionId: string; status: string }[]).map((c) => [
          c.connectionId,
          c.status,
        ]),
      ),
      'connection statuses',
    ).toEqual(Object.fromEntries(Object.entries(members).map(([id, s]) => [id, kebab(s)])));
    // The same reports reach the capacity actor: it counts the live connections, far from any
    // alert threshold (so no alert may be open).
    expect(capacity, 'installation capacity').toMatchObject({
      state: 'normal',
      activeConnections: countMembers(members).active,
      openAlert: null,
    });
  }
}
