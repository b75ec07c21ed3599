import { randomUUID } from 'node:crypto';
import {
  ACTIVE_CONNECTION_STATUSES,
  type ConnectionContext,
  type ConnectionStatus,
} from '../../machines/connection.machine.ts';
import {
  CAPACITY_ALERTS_STREAM,
  type CapacityContext,
  alertRecord,
  type CapacityThresholds,
  atWarning,
  createCapacityMachine,
  shedDetails,
  sheds,
  usage,
} from '../../machines/capacity.machine.ts';
import type { Clock } from '../clock.ts';
import { CONNECTION, type Principal, canAccess } from '../connections/connections.ts';
import { type ChartBinding, EVENT_LOG_SIZE, type Effect, type Engine } from '../engine/engine.ts';
import { stateName } from '../engine/step.ts';
import { AppError, NotFoundError, type VetoedError, invalidFields } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { durationText } from '../notifications/text.ts';
import { SERVICES } from '../notifications/types.ts';
import { type Services, serviceKey } from '../services.ts';
import type { ActorRef } from '../store/redis-store.ts';
import { toKebab } from '../wire.ts';

export const CAPACITY = 'capacity';

/** The capacity service, for modules and tests that need it. */
export const CAPACITY_SERVICE = serviceKey<CapacityService>('capacity');
const ACTIVE = new Set<string>(ACTIVE_CONNECTION_STATUSES);

export function capacityBinding(
  thresholds: CapacityThresholds,
  capacityPerWorker: number,
): ChartBinding {
  return {
    kind: CAPACITY,
    machine: createCapacityMachine(thresholds),
    indexes: (state) => ['capacity:all', `capacity:state:${stateName(state.value)}`],
    // The first connection of an installation creates its capacity actor in the same commit.
    autoCreate: (ref) => ({ installationId: ref.id, capacity: capacityPerWorker }),
    // Inspection: every state change and every event but the ±1 of each connection.
    eventLog: {
      max: EVENT_LOG_SIZE,
      keep: (event, valueChanged) => valueChanged || event.type !== 'CONNECTION_ACTIVE',
    },
  };
}

/** Registration refused under load: the session must use the HTTP transport. */
export class CapacityShedError extends AppError {
  override readonly code = 'capacity-shed';
}

/**
 * The installation's capacity chart keeps the exact count of active connections itself (each
 * connection reports when it starts or stops holding a slot, committed with it). This service
 * reads it for load shedding, repairs it from the status indexes every 30 s (logging any drift
 * it finds), and delivers alert notifications.
 */
export class CapacityService {
  constructor(
    readonly engine: Engine,
    readonly clock: Clock,
    readonly capacityPerWorker: number,
    readonly thresholds: CapacityThresholds,
    readonly logger: Logger,
    readonly services: Services,
  ) {}

  ref(installationId: string): ActorRef {
    return { kind: CAPACITY, installationId, id: installationId };
  }

  /** The capacity chart's own count (read from Redis, the source of truth). */
  async activeCount(installationId: string): Promise<number> {
    const found = await this.engine.read(this.ref(installationId));
    return (found?.state.context as unknown as CapacityContext | undefined)?.active ?? 0;
  }

  /** Admission check for new ACP connections: refuse at or beyond the critical threshold. */
  readonly admit = async (installationId: string): Promise<void> => {
    const found = await this.engine.read(this.ref(installationId));
    const ctx = found?.state.context as unknown as CapacityContext | undefined;
    if (!ctx || !sheds(ctx, this.thresholds)) return;
    await this.#refuse(installationId, shedDetails(ctx));
  };

  /**
   * A registration the capacity chart refused in its commit (a veto: registrations in flight at
   * the same moment, on any process, passed {@link admit} on the same count) is answered as one
   * refused before it.
   */
  readonly vetoed = async (installationId: string, veto: VetoedError): Promise<void> => {
    if (veto.details.vetoedBy !== CAPACITY) return;
    // The chart's own figures, as its `refuseAdmission` gave them (`shedDetails`).
    const { activeConnections, capacity, capacityPercent } = veto.details;
    await this.#refuse(installationId, {
      activeConnections: Number(activeConnections),
      capacity: Number(capacity),
      capacityPercent: Number(capacityPercent),
    });
  };

  /** Answers a refusal with the chart's count, capacity and usage (`shedDetails`). */
  async #refuse(installationId: string, shed: ReturnType<typeof shedDetails>): Promise<never> {
    await this.engine.store.redis.hincrby(
      this.engine.store.keys.counter(installationId, 'capacity'),
      'shed',
      1,
    );
    this.services.get(SERVICES.metrics)?.count('shed', { installationId });
    throw new CapacityShedError(
      `ACP capacity is at ${(shed.capacityPercent * 100).toFixed(1)}% (critical at ${(this.thresholds.critical * 100).toFixed(0)}%): start this session on the HTTP transport`,
      { useTransport: 'http', reason: 'capacity-critical', ...shed },
    );
  }

  async #activeWorkspaces(installationId: string): Promise<string[]> {
    const ids: string[] = [];
    for (const s of ACTIVE_CONNECTION_STATUSES) {
      ids.push(...(await this.engine.store.indexAll(installationId, `connection:status:${s}`)));
    }
    const found = await this.engine.readMany(
      ids.map((id) => ({ kind: CONNECTION, installationId, id })),
    );
    const ws = new Set<string>();
    for (const f of found)
      if (f) ws.add((f.state.context as unknown as ConnectionContext).workspaceId);
    return [...ws].sort();
  }

  /**
   * The repair: compares the chart's count with the status indexes and, when they differ (only
   * after a failure the engine could not prevent, e.g. data restored from an older backup),
   * logs the drift and sends both figures (RECOUNT); the chart adds their difference to its
   * count as it is when the RECOUNT commits. Both are read in one atomic read: a connection's
   * commit changes its status index and the chart's count together, so a registration or a
   * rollback committing at the same moment is in both figures or in neither, and never looks
   * like drift (read one after the other, it did, and the repair sent a count one short). One
   * committing after the read and before the RECOUNT keeps its slot: the drift is relative (an
   * absolute count sent here overwrote it until the next repair).
   */
  async repair(installationId: string): Promise<void> {
    const ref = this.ref(installationId);
    const { read: current, sizes } = await this.engine.readWithIndexSizes(
      ref,
      ACTIVE_CONNECTION_STATUSES.map((s) => `connection:status:${s}`),
    );
    const active = sizes.reduce((a, b) => a + b, 0);
    if (!current) {
      await this.engine
        .create(ref, { installationId, capacity: this.capacityPerWorker, at: this.clock.now() })
        .catch((error: unknown) => {
          if (!(error instanceof AppError && error.code === 'already-exists')) throw error;
        });
    }
    const ctx = current?.state.context as unknown as CapacityContext | undefined;
    if (ctx && ctx.active === active && ctx.capacity === this.capacityPerWorker) return;
    if (ctx && ctx.active !== active) {
      this.logger.warn('capacity count drifted; repaired from the status indexes', {
        installationId,
        counted: ctx.active,
        indexed: active,
      });
    }
    // The alert's scope is only needed where the chart opens an alert (`atWarning`).
    const workspaceIds = atWarning({ active, capacity: this.capacityPerWorker }, this.thresholds)
      ? await this.#activeWorkspaces(installationId)
      : [];
    await this.engine.send(ref, {
      type: 'RECOUNT',
      at: this.clock.now(),
      counted: ctx?.active ?? 0,
      indexed: active,
      capacity: this.capacityPerWorker,
      workspaceIds,
      alertId: randomUUID(),
    });
  }

  /** Effect: deliver an alert change on the installation's channels and emit the metric. */
  readonly notifyCapacity = async (effect: Effect): Promise<void> => {
    const p = effect.params as {
      installationId: string;
      alertId: string;
      change: string;
      record: Record<string, unknown>;
    };
    const trigger = p.record.trigger as string;
    const percent = Number(p.record.capacityPercent);
    const notifier = this.services.get(SERVICES.notifications);
    const metrics = this.services.get(SERVICES.metrics);
    const resolved = p.change === 'resolved';
    await notifier?.notify({
      id: `capacity:${p.alertId}:${p.change}`,
      installationId: p.installationId,
      kind: 'capacity-alert',
      sourceId: p.alertId,
      toast: {
        title: resolved ? 'ACP capacity back to normal' : `ACP capacity ${trigger}`,
        body: resolved
          ? `ACP usage stayed below ${(this.thresholds.resolve * 100).toFixed(0)}% for ${durationText(this.thresholds.resolveAfterMs)}; the alert is resolved.`
          : `ACP connections at ${(percent * 100).toFixed(1)}% of capacity (${String(p.record.activeConnections)} active).${trigger === 'critical' ? ' New sessions use HTTP.' : ''}`,
        severity: resolved ? 'info' : trigger === 'critical' ? 'error' : 'warning',
      },
      details: p.record,
    });
    // Once per alert change however often this effect runs (at least once, e.g. again after its
    // lease): the envelope and, for an alert opened or escalated, `lumilink_alerts_total`, as for
    // a rollback. The notification above is idempotent by its id.
    await metrics?.emitOnce(
      `alert:${p.alertId}:${p.change}`,
      {
        timestamp: new Date(effect.createdAt).toISOString(),
        installationId: p.installationId,
        workspaceId: null,
        metricType: 'capacity-percent',
        value: percent,
        thresholdBreached: !resolved,
      },
      resolved ? undefined : { name: 'alerts', labels: { trigger } },
    );
  };

  async #alertView(
    installationId: string,
    record: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const notifier = this.services.get(SERVICES.notifications);
    const deliveries = notifier
      ? await notifier.deliveries(installationId, String(record.alertId))
      : [];
    return {
      ...alertView(record),
      notified: deliveries.some((d) => d.status === 'delivered'),
      notificationChannels: [...new Set(deliveries.map((d) => d.channel))],
      deliveries,
    };
  }

  async get(principal: Principal, installationId: string) {
    if (!canAccess(principal, installationId))
      throw new NotFoundError(`installation ${installationId} not found`, {
        field: 'installationId',
      });
    const found = await this.engine.read(this.ref(installationId));
    const ctx = found?.state.context as unknown as CapacityContext | undefined;
    // The chart's own count and capacity, which load shedding asks (`sheds()`).
    const active = ctx?.active ?? 0;
    const held = { active, capacity: ctx?.capacity ?? this.capacityPerWorker };
    const shed = await this.engine.store.redis.hget(
      this.engine.store.keys.counter(installationId, 'capacity'),
      'shed',
    );
    const alerts = await this.alerts(principal, installationId, { limit: 1 });
    const latest = alerts.items[0] && !alerts.items[0].resolvedAt ? alerts.items[0] : null;
    // The audit record is the alert as it was at its last change (opened, escalated); the chart
    // has kept its usage and peak since. Shown as the chart holds it, with its deliveries.
    const alert = ctx?.alert && ctx.alert.alertId === latest?.alertId ? ctx.alert : null;
    const open =
      latest && ctx && alert
        ? { ...latest, ...alertView(alertRecord(ctx, alert, 'open', ctx.lastUsageAt)) }
        : latest;
    return {
      installationId,
      state: found ? toKebab(stateName(found.state.value)) : 'normal',
      activeConnections: active,
      capacity: held.capacity,
      capacityPercent: usage(held),
      lastEvaluated: ctx ? new Date(ctx.lastUsageAt).toISOString() : null,
      thresholds: this.thresholds,
      shedding: sheds(held, this.thresholds),
      refusedConnections: Number(shed ?? 0),
      openAlert: open,
    };
  }

  /**
   * One page of alerts, newest first; each appears once, with its latest state and its
   * deliveries, and `nextCursor` (null on the last page) continues after it. An installation
   * has one alert open at a time, so an alert's records in the audit stream (opened, escalated,
   * resolved: at most 3) follow each other: reading 3 per alert and one more is enough for a
   * page, and the cursor (the last record the page took) never cuts an alert in two.
   */
  async alerts(
    principal: Principal,
    installationId: string,
    q: { limit: number; cursor?: string } = { limit: 50 },
  ) {
    if (!canAccess(principal, installationId))
      throw new NotFoundError(`installation ${installationId} not found`, {
        field: 'installationId',
      });
    if (q.cursor !== undefined) await this.#checkCursor(installationId, q.cursor);
    const records = await this.engine.store.auditPage(installationId, CAPACITY_ALERTS_STREAM, {
      before: q.cursor,
      limit: q.limit * RECORDS_PER_ALERT + 1,
    });
    const latest = new Map<string, Record<string, unknown>>();
    let last: string | null = null;
    let more = false;
    for (const p of records) {
      const r = JSON.parse(p.json) as Record<string, unknown>;
      delete r._stream;
      const alertId = String(r.alertId);
      if (!latest.has(alertId)) {
        if (latest.size === q.limit) {
          more = true;
          break;
        }
        latest.set(alertId, r);
      }
      last = p.member;
    }
    const items = await Promise.all(
      [...latest.values()].map((r) => this.#alertView(installationId, r)),
    );
    return { items, nextCursor: more ? last : null };
  }

  /**
   * A cursor is the audit record a page ended on, and the alert stream is never trimmed: one
   * that names no record of this installation's alerts is no cursor a page gave (edited, or
   * another installation's), refused rather than read as a position (it answered an empty or
   * a wrong page).
   */
  async #checkCursor(installationId: string, cursor: string): Promise<void> {
    if (await this.engine.store.auditHas(installationId, CAPACITY_ALERTS_STREAM, cursor)) return;
    throw invalidFields('query', [
      { field: 'cursor', message: 'is not valid; pass back nextCursor unchanged' },
    ]);
  }
}

/** Audit records one alert can have: opened, escalated (once, to critical), resolved. */
const RECORDS_PER_ALERT = 3;

/** An alert record without its audit-only fields (what changed, when it was recorded). */
function alertView(record: Record<string, unknown>): Record<string, unknown> {
  const { change: _change, recordedAt: _recordedAt, ...alert } = record;
  return alert;
}

export function isActive(status: ConnectionStatus): boolean {
  return ACTIVE.has(status);
}
