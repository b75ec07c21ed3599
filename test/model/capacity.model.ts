/**
 * The capacity chart's model, driven for real: the test registers or rolls back ACP connections
 * until the installation has the model's active count (USAGE(n)) or one more (CONNECTION_ACTIVE);
 * each connection change reaches the capacity chart through the engine in the connection's own
 * commit. The resolve delay fires through the durable timer.
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import {
  type CapacityContext,
  DEFAULT_CAPACITY_THRESHOLDS,
  capacityMachine,
  sheds,
} from '../../machines/capacity.machine.ts';
import { T0, type TestService } from '../helpers.ts';
import { type ModelOptions, fireDurableTimer } from './paths.ts';
import { CAPACITY_SERVICE } from '../../src/capacity/capacity.ts';

export const CAPACITY_ENV = {
  CAPACITY_PER_WORKER: '20',
  HANDSHAKE_TIMEOUT_MS: String(24 * 3_600_000),
  HEARTBEAT_TIMEOUT_MS: String(24 * 3_600_000),
};

const usage = (active: number) => ({
  type: 'USAGE',
  at: T0,
  active,
  capacity: 20,
  workspaceIds: [],
  alertId: 'model-alert',
});

/**
 * The periodic repair finding one connection more in the status indexes than the chart counted
 * (a real drift, e.g. data restored from an older backup): the driver adds a member to an index
 * behind the chart's back and runs the repair.
 */
const RECOUNT = {
  type: 'RECOUNT',
  at: T0,
  counted: 0,
  indexed: 1,
  capacity: 20,
  workspaceIds: [],
  alertId: 'model-alert',
} as unknown as EventObject;
/** Where the model lets the repair find that drift: one below each level, and a full one. */
const RECOUNT_AT = new Set([13, 16, 18, 19]);

/** A new connection asking for its slot: a registration. */
const ADMISSION = {
  type: 'CONNECTION_ACTIVE',
  at: T0,
  connectionId: 'model-new',
  workspaceId: 'ws-cap',
  delta: 1,
  admission: true,
  eventId: 'model-alert',
} as unknown as EventObject;

export const capacityModel: ModelOptions = {
  machine: capacityMachine,
  input: { installationId: 'inst-a', capacity: 20, at: T0 },
  // 0%, 65% (< resolve), 70%, 85% (warning), 95% (critical), and the resolve delay.
  events: [
    usage(0),
    usage(13),
    usage(14),
    usage(17),
    usage(19),
    // One connection fewer: the chart's own count (CONNECTION_ACTIVE) raises the usage.
    {
      type: 'CONNECTION_ACTIVE',
      at: T0,
      connectionId: 'model',
      workspaceId: 'ws-cap',
      delta: -1,
      eventId: 'model-alert',
    },
    { type: 'xstate.after.resolveDelay.capacity.resolving', at: T0 },
    ADMISSION,
    RECOUNT,
  ] as unknown as EventObject[],
  // One registration more only where the chart refuses it (at or beyond critical), and the
  // repair's drift only at a few counts: anywhere else they would count up and grow the state
  // space, which the USAGE steps already cover.
  eventsIn: (s) => {
    const c = s.chart.context as CapacityContext;
    return capacityModel.events.filter((e) =>
      e === ADMISSION
        ? sheds(c, DEFAULT_CAPACITY_THRESHOLDS)
        : e === RECOUNT
          ? RECOUNT_AT.has(c.active)
          : true,
    );
  },
  describeEvent: (e) =>
    e.type === 'USAGE'
      ? `USAGE(${(e as any).active}/20)`
      : e === ADMISSION
        ? 'one registration more'
        : e === RECOUNT
          ? 'repair finds one more indexed'
          : e.type === 'CONNECTION_ACTIVE'
            ? 'one connection fewer'
            : 'after resolveDelay',
  serializeState: ({ chart }) => {
    const c = chart.context as CapacityContext;
    return JSON.stringify([chart.value, c.active, c.alert?.trigger ?? null]);
  },
};

export class CapacityDriver {
  #next = 0;
  /** Connections the chart counts, newest last: registered ones, and drift the repair found. */
  readonly live: string[] = [];
  /** Members added to a status index behind the chart's back (RECOUNT). */
  readonly #phantoms = new Set<string>();
  constructor(readonly svc: TestService) {}

  get service() {
    return this.svc.modules.services.require(CAPACITY_SERVICE);
  }

  async settle() {
    await this.svc.engine.idle();
  }

  /** Registers a connection with a new id in the model's installation and workspace. */
  async #registerNew() {
    const id = `cap-${++this.#next}`;
    const res = await this.svc.api('POST', '/v1/connections', {
      connectionId: id,
      installationId: 'inst-a',
      workspaceId: 'ws-cap',
    });
    return { id, res };
  }

  async setActive(target: number) {
    while (this.live.length < target) {
      const { id, res } = await this.#registerNew();
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      this.live.push(id);
    }
    while (this.live.length > target) {
      const id = this.live.pop()!;
      if (this.#phantoms.delete(id)) {
        // Drift the other way: the member leaves the index, and the repair finds one fewer.
        expect(await this.svc.redis.zrem(this.#connecting, id)).toBe(1);
        await this.service.repair('inst-a');
        continue;
      }
      expect(
        (await this.svc.api('POST', `/v1/connections/${id}/rollback`, { reason: 'model' })).status,
      ).toBe(200);
    }
    await this.settle();
  }

  /**
   * One registration more, at or beyond critical: refused by the capacity chart in the commit
   * that would create the connection (the service's check before it is switched off in
   * capacity.model.test.ts, so the chart's veto is what refuses), and nothing of it is written.
   */
  async admitOne() {
    const { id, res } = await this.#registerNew();
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(res.body.error).toMatchObject({
      code: 'capacity-shed',
      details: { reason: 'capacity-critical', activeConnections: this.live.length },
    });
    expect((await this.svc.api('GET', `/v1/connections/${id}`)).status).toBe(404);
    await this.settle();
  }

  get #connecting() {
    return this.svc.engine.store.keys.index('inst-a', 'connection:status:connecting');
  }

  /** One member more in a status index than the chart counts, then the periodic repair. */
  async recount() {
    const id = `cap-phantom-${++this.#next}`;
    expect(await this.svc.redis.zadd(this.#connecting, 0, id)).toBe(1);
    this.#phantoms.add(id);
    this.live.push(id);
    await this.service.repair('inst-a');
    await this.settle();
  }

  async drive(event: EventObject) {
    if (event.type === 'USAGE') return this.setActive((event as any).active);
    if (event.type === 'RECOUNT') return this.recount();
    if ((event as { admission?: boolean }).admission) return this.admitOne();
    if (event.type === 'CONNECTION_ACTIVE')
      return this.setActive(Math.max(0, this.live.length - 1));
    await fireDurableTimer(
      this.svc,
      { kind: 'capacity', installationId: 'inst-a', id: 'inst-a' },
      event.type,
    );
    await this.settle();
  }

  async check(model: AnyMachineSnapshot, timers: string[]) {
    const c = model.context as CapacityContext;
    const res = await this.svc.api('GET', '/v1/installations/inst-a/capacity');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: String(model.value), activeConnections: c.active });
    expect(res.body.openAlert?.trigger ?? null).toBe(c.alert?.trigger ?? null);
    const ref = { kind: 'capacity', installationId: 'inst-a', id: 'inst-a' };
    const pending = (await this.svc.store.timersOf(ref)).map((t) => t.sendId);
    expect(pending.sort()).toEqual([...timers].sort());
  }
}
