import { describe, expect, it } from 'vitest';
import {
  type CapacityContext,
  DEFAULT_CAPACITY_THRESHOLDS,
  alertRecord,
  createCapacityMachine,
  sheds,
} from '../../machines/capacity.machine.ts';
import { type PlannedAction, Stepper } from '../../src/engine/step.ts';

const T0 = Date.parse('2026-11-25T12:00:00.000Z');
const MIN = 60_000;
const RESOLVE = 'xstate.after.resolveDelay.capacity.resolving';

/** Drives the pure chart the way the engine does, remembering pending timers and audit records. */
function harness(machine = createCapacityMachine(), capacity = 1000) {
  const stepper = new Stepper(machine);
  const first = stepper.initial({ installationId: 'i1', capacity, at: T0 });
  let snapshot = first.snapshot;
  let last: PlannedAction[] = first.actions;
  const timers = new Map<string, number>();
  const track = (acts: PlannedAction[]) => {
    for (const a of acts) {
      const p = a.params as any;
      if (a.type === 'xstate.raise' && typeof p.delay === 'number') timers.set(p.id, p.delay);
      if (a.type === 'xstate.cancel') timers.delete(p.sendId);
    }
  };
  track(last);
  let alerts = 0;
  const h = {
    get state() {
      return snapshot.value as string;
    },
    get context() {
      return snapshot.context as CapacityContext;
    },
    get actions() {
      return last;
    },
    timers,
    /** The params of the effects and audit records the last step asked for. */
    planned(type: 'appendAudit' | 'notifyCapacity') {
      return last.filter((a) => a.type === type).map((a) => a.params as any);
    },
    send(event: any) {
      const r = stepper.step(snapshot, event);
      snapshot = r.snapshot;
      last = r.actions;
      track(r.actions);
      return h;
    },
    /** `active` ACP connections of a capacity of 1000 (so 850 is exactly 85 %). */
    usage(active: number, extra: Record<string, unknown> = {}) {
      return h.send({
        type: 'USAGE',
        at: T0,
        active,
        capacity: 1000,
        workspaceIds: ['w1'],
        alertId: `alert-${++alerts}`,
        ...extra,
      });
    },
    /** A connection starting (+1) or stopping (-1) to hold a slot, as the connection chart emits it. */
    active(delta: number, workspaceId = 'w1', extra: Record<string, unknown> = {}) {
      return h.send({
        type: 'CONNECTION_ACTIVE',
        at: T0,
        connectionId: `c${++alerts}`,
        workspaceId,
        delta,
        eventId: `event-${alerts}`,
        ...extra,
      });
    },
    fire(id: string, at: number) {
      expect(timers.has(id), `timer ${id} pending`).toBe(true);
      timers.delete(id);
      return h.send({ type: id, at });
    },
  };
  return h;
}

describe('capacity chart', () => {
  it('starts in normal with no alert and the installation capacity from its input', () => {
    const h = harness();
    expect(h.state).toBe('normal');
    expect(h.context).toEqual({
      installationId: 'i1',
      capacity: 1000,
      active: 0,
      percent: 0,
      alert: null,
      lastUsageAt: T0,
      byWorkspace: {},
    });
  });

  describe('normal', () => {
    it('records usage just below 85 % without opening an alert', () => {
      const h = harness().usage(849, { at: T0 + MIN, capacity: 1000 });
      expect(h.state).toBe('normal');
      expect(h.context).toMatchObject({
        active: 849,
        capacity: 1000,
        percent: 0.849,
        lastUsageAt: T0 + MIN,
        alert: null,
      });
      expect(h.actions).toEqual([]);
    });

    it('opens a warning alert at exactly 85 %, audited and notified in the same step', () => {
      const h = harness().usage(850, { alertId: 'a1', workspaceIds: ['w2', 'w1'] });
      expect(h.state).toBe('warning');
      expect(h.context.alert).toEqual({
        alertId: 'a1',
        trigger: 'warning',
        openedAt: T0,
        escalatedAt: null,
        workspaceIds: ['w1', 'w2'],
        activeConnections: 850,
        capacityPercent: 0.85,
        peakPercent: 0.85,
      });
      const record = {
        alertId: 'a1',
        installationId: 'i1',
        workspaceIds: ['w1', 'w2'],
        trigger: 'warning',
        activeConnections: 850,
        capacityPercent: 0.85,
        peakPercent: 0.85,
        timestamp: '2026-11-25T12:00:00.000Z',
        escalatedAt: null,
        resolvedAt: null,
        change: 'opened',
        recordedAt: '2026-11-25T12:00:00.000Z',
      };
      expect(h.planned('appendAudit')).toEqual([
        { stream: 'capacity-alerts', id: 'a1-opened', at: T0, record },
      ]);
      expect(h.planned('notifyCapacity')).toEqual([
        { installationId: 'i1', alertId: 'a1', change: 'opened', record },
      ]);
    });

    it('opens a warning, not a critical alert, just below 95 %', () => {
      const h = harness().usage(949);
      expect(h.state).toBe('warning');
      expect(h.context.alert?.trigger).toBe('warning');
    });

    it('opens a critical alert directly at exactly 95 %, escalated from the start', () => {
      const h = harness().usage(950, { alertId: 'a1', at: T0 + MIN });
      expect(h.state).toBe('critical');
      expect(h.context.alert).toMatchObject({
        trigger: 'critical',
        openedAt: T0 + MIN,
        escalatedAt: T0 + MIN,
      });
      const [audit] = h.planned('appendAudit');
      expect(audit).toMatchObject({ id: 'a1-opened', record: { change: 'opened' } });
      expect(audit.record).toMatchObject({
        trigger: 'critical',
        timestamp: '2026-11-25T12:01:00.000Z',
        escalatedAt: '2026-11-25T12:01:00.000Z',
      });
      expect(h.planned('notifyCapacity')).toMatchObject([{ change: 'opened' }]);
    });

    it('treats an installation without capacity as full', () => {
      const h = harness().usage(0, { capacity: 0 });
      expect(h.state).toBe('critical');
      expect(h.context.percent).toBe(1);
    });
  });

  describe('warning', () => {
    const warning = () => harness().usage(900, { alertId: 'a1', workspaceIds: ['w2'] });

    it('keeps the alert open and up to date while usage moves between 70 % and 95 %', () => {
      const h = warning().usage(860, { workspaceIds: ['w3', 'w1', 'w2'], at: T0 + MIN });
      expect(h.state).toBe('warning');
      expect(h.context.alert).toMatchObject({
        alertId: 'a1',
        activeConnections: 860,
        capacityPercent: 0.86,
        peakPercent: 0.9,
        workspaceIds: ['w1', 'w2', 'w3'],
      });
      expect(h.context.lastUsageAt).toBe(T0 + MIN);
      expect(h.actions).toEqual([]);
    });

    it('raises the peak when usage climbs', () => {
      expect(warning().usage(920).context.alert?.peakPercent).toBe(0.92);
    });

    it('escalates the same alert to critical at exactly 95 %', () => {
      const h = warning().usage(950, { at: T0 + 2 * MIN, alertId: 'unused' });
      expect(h.state).toBe('critical');
      expect(h.context.alert).toMatchObject({
        alertId: 'a1',
        trigger: 'critical',
        openedAt: T0,
        escalatedAt: T0 + 2 * MIN,
        peakPercent: 0.95,
      });
      const [audit] = h.planned('appendAudit');
      expect(audit).toMatchObject({ stream: 'capacity-alerts', id: 'a1-escalated' });
      expect(audit.record).toMatchObject({
        change: 'escalated',
        trigger: 'critical',
        escalatedAt: '2026-11-25T12:02:00.000Z',
        resolvedAt: null,
      });
      expect(h.planned('notifyCapacity')).toMatchObject([{ alertId: 'a1', change: 'escalated' }]);
    });

    it('stays in warning at exactly 70 % and starts resolving just below it', () => {
      const h = warning().usage(700);
      expect(h.state).toBe('warning');
      expect(h.timers.size).toBe(0);
      h.usage(699);
      expect(h.state).toBe('resolving');
      expect(h.context.alert?.activeConnections).toBe(699);
      expect(h.timers.get(RESOLVE)).toBe(5 * MIN);
    });
  });

  describe('critical', () => {
    const critical = () => harness().usage(960, { alertId: 'a1' });

    it('stays critical at exactly 70 % and records the usage', () => {
      const h = critical().usage(700);
      expect(h.state).toBe('critical');
      expect(h.context.alert).toMatchObject({ trigger: 'critical', capacityPercent: 0.7 });
      expect(h.actions).toEqual([]);
    });

    it('starts resolving just below 70 %', () => {
      expect(critical().usage(699).state).toBe('resolving');
    });
  });

  describe('resolving', () => {
    const resolvingFrom = (active: number) => harness().usage(active, { alertId: 'a1' }).usage(500);

    it('resolves and closes the alert once usage stayed below 70 % for the resolve delay', () => {
      const h = resolvingFrom(900);
      const resolvedAt = T0 + 5 * MIN;
      h.fire(RESOLVE, resolvedAt);
      expect(h.state).toBe('normal');
      expect(h.context.alert).toBeNull();
      const [audit] = h.planned('appendAudit');
      expect(audit).toMatchObject({ stream: 'capacity-alerts', id: 'a1-resolved', at: resolvedAt });
      expect(audit.record).toMatchObject({
        alertId: 'a1',
        trigger: 'warning',
        activeConnections: 500,
        change: 'resolved',
        resolvedAt: '2026-11-25T12:05:00.000Z',
        recordedAt: '2026-11-25T12:05:00.000Z',
      });
      expect(h.planned('notifyCapacity')).toMatchObject([{ alertId: 'a1', change: 'resolved' }]);
    });

    it('keeps the resolve timer running while usage stays below 70 %', () => {
      const h = resolvingFrom(900).usage(600);
      expect(h.state).toBe('resolving');
      expect(h.context.active).toBe(600);
      expect(h.actions).toEqual([]);
      expect(h.timers.has(RESOLVE)).toBe(true);
    });

    it('goes back to critical, without a new record, when a critical alert climbs back to 70 %', () => {
      const h = resolvingFrom(960).usage(700);
      expect(h.state).toBe('critical');
      expect(h.context.alert).toMatchObject({
        alertId: 'a1',
        trigger: 'critical',
        activeConnections: 700,
      });
      expect(h.context).toMatchObject({ active: 700, percent: 0.7 });
      expect(h.planned('appendAudit')).toEqual([]);
      expect(h.timers.size).toBe(0);
    });

    it('goes back to warning, without a new record, when a warning alert climbs back to 70 %', () => {
      const h = resolvingFrom(900).usage(700);
      expect(h.state).toBe('warning');
      expect(h.context.alert).toMatchObject({ trigger: 'warning', activeConnections: 700 });
      expect(h.context).toMatchObject({ active: 700, percent: 0.7 });
      expect(h.planned('appendAudit')).toEqual([]);
      expect(h.timers.size).toBe(0);
    });

    it('escalates a warning alert that climbs back to 95 %', () => {
      const h = resolvingFrom(900).usage(950, { at: T0 + MIN });
      expect(h.state).toBe('critical');
      expect(h.context.alert).toMatchObject({ trigger: 'critical', escalatedAt: T0 + MIN });
      expect(h.planned('appendAudit')).toMatchObject([
        { id: 'a1-escalated', record: { activeConnections: 950, capacityPercent: 0.95 } },
      ]);
      expect(h.context).toMatchObject({ active: 950, lastUsageAt: T0 + MIN });
    });
  });

  it('resolves after the configured delay', () => {
    const h = harness(
      createCapacityMachine({ ...DEFAULT_CAPACITY_THRESHOLDS, resolveAfterMs: 42_000 }),
    );
    h.usage(900).usage(100);
    expect(h.timers.get(RESOLVE)).toBe(42_000);
  });
});

describe('capacity chart: its own count of active connections', () => {
  /** `n` connections of `workspaceId` starting to hold a slot, on a capacity of 100. */
  const up = (h: ReturnType<typeof harness>, n: number, workspaceId = 'w1') => {
    for (let i = 0; i < n; i++) h.active(1, workspaceId);
    return h;
  };
  const small = () => harness(createCapacityMachine(), 100);

  it('counts connections up and down exactly, per workspace', () => {
    const h = small()
      .active(1, 'w1')
      .active(1, 'w2')
      .active(1, 'w1', { at: T0 + MIN });
    expect(h.context).toMatchObject({
      active: 3,
      percent: 0.03,
      lastUsageAt: T0 + MIN,
      byWorkspace: { w1: 2, w2: 1 },
    });
    h.active(-1, 'w1');
    expect(h.context).toMatchObject({ active: 2, byWorkspace: { w1: 1, w2: 1 } });
    h.active(-1, 'w1');
    expect(h.context.active).toBe(1);
    expect(h.context.byWorkspace).toEqual({ w2: 1 });
    expect(h.state).toBe('normal');
  });

  it('never counts below zero, in total or for a workspace', () => {
    const h = small().active(-1, 'w1');
    expect(h.context).toMatchObject({ active: 0, percent: 0, byWorkspace: {} });
    h.active(1, 'w2').active(-1, 'w1');
    expect(h.context).toMatchObject({ active: 0, byWorkspace: { w2: 1 } });
    h.active(1, 'w1');
    expect(h.context).toMatchObject({ active: 1, byWorkspace: { w1: 1, w2: 1 } });
  });

  it('acts on the count as usage: the raised USAGE carries the count and the event id', () => {
    const h = small()
      .active(1, 'w2')
      .active(1, 'w1', { eventId: 'e9', at: T0 + MIN });
    expect(h.actions).toEqual([
      {
        type: 'xstate.raise',
        params: {
          event: {
            type: 'USAGE',
            at: T0 + MIN,
            active: 2,
            capacity: 100,
            workspaceIds: ['w1', 'w2'],
            alertId: 'e9',
          },
        },
      },
    ]);
  });

  it('opens a warning alert at exactly 85 % by count, named by the event that crossed', () => {
    const h = up(small(), 84);
    expect(h.state).toBe('normal');
    expect(h.context.alert).toBeNull();
    h.active(1, 'w3', { eventId: 'crossed' });
    expect(h.state).toBe('warning');
    expect(h.context.alert).toMatchObject({
      alertId: 'crossed',
      trigger: 'warning',
      activeConnections: 85,
      capacityPercent: 0.85,
      workspaceIds: ['w1', 'w3'],
    });
    expect(h.planned('appendAudit')).toMatchObject([
      { id: 'crossed-opened', record: { alertId: 'crossed', activeConnections: 85 } },
    ]);
    expect(h.planned('notifyCapacity')).toMatchObject([{ alertId: 'crossed', change: 'opened' }]);
  });

  it('escalates the same alert at exactly 95 % by count and resolves below 70 %', () => {
    const h = up(small(), 85);
    const alertId = h.context.alert!.alertId;
    up(h, 9);
    expect(h.state).toBe('warning');
    h.active(1);
    expect(h.state).toBe('critical');
    expect(h.context.alert).toMatchObject({ alertId, trigger: 'critical', peakPercent: 0.95 });
    expect(h.planned('appendAudit')).toMatchObject([{ id: `${alertId}-escalated` }]);
    for (let i = 0; i < 25; i++) h.active(-1);
    expect(h.state).toBe('critical');
    h.active(-1);
    expect(h.state).toBe('resolving');
    expect(h.context.active).toBe(69);
  });

  it('takes a repair recount and counts on from it', () => {
    const h = up(small(), 5);
    h.usage(3, { capacity: 100 });
    expect(h.context.active).toBe(3);
    h.active(1);
    expect(h.context.active).toBe(4);
  });
});

describe('sheds', () => {
  const t = DEFAULT_CAPACITY_THRESHOLDS;

  it('sheds from exactly the critical ratio, not just below it', () => {
    expect(sheds({ active: 95, capacity: 100 }, t)).toBe(true);
    expect(sheds({ active: 94, capacity: 100 }, t)).toBe(false);
    expect(sheds({ active: 101, capacity: 100 }, t)).toBe(true);
    expect(sheds({ active: 3, capacity: 4 }, { ...t, critical: 0.75 })).toBe(true);
    expect(sheds({ active: 2, capacity: 4 }, { ...t, critical: 0.75 })).toBe(false);
  });

  it('sheds everything for an installation without capacity', () => {
    expect(sheds({ active: 0, capacity: 0 }, t)).toBe(true);
  });

  it('agrees with the chart: critical exactly when the count sheds', () => {
    const h = harness(createCapacityMachine(), 20);
    for (let n = 1; n <= 20; n++) {
      h.active(1);
      expect(h.state === 'critical', `${n} of 20`).toBe(sheds(h.context, t));
    }
  });
});

describe('alertRecord', () => {
  const context = harness().usage(950, { alertId: 'a1', at: T0 + MIN }).context;

  it('renders times as ISO strings and sets resolvedAt only for a resolution', () => {
    expect(alertRecord(context, context.alert!, 'resolved', T0 + 9 * MIN)).toMatchObject({
      timestamp: '2026-11-25T12:01:00.000Z',
      escalatedAt: '2026-11-25T12:01:00.000Z',
      resolvedAt: '2026-11-25T12:09:00.000Z',
      recordedAt: '2026-11-25T12:09:00.000Z',
    });
    expect(alertRecord(context, context.alert!, 'escalated', T0 + 9 * MIN).resolvedAt).toBeNull();
  });
});
