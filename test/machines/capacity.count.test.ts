/**
 * The capacity chart's own count of active connections, load shedding (sheds) and the alert record
 * (shared set-up and helpers: capacity.machine.helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CAPACITY_THRESHOLDS,
  alertRecord,
  createCapacityMachine,
  sheds,
} from '../../machines/capacity.machine.ts';
import { T0, MIN, harness } from './capacity.machine.helpers.ts';

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

  it('applies a repair recount as the drift it found, to the count as it is when it arrives', () => {
    const h = up(small(), 5);
    // The repair read 5 counted and 3 indexed; one more connection counted since.
    h.active(1);
    h.recount(5, 3, { capacity: 100 });
    expect(h.context.active).toBe(4);
    expect(h.context.capacity).toBe(100);
    // No drift: the count stays, a new capacity is taken.
    h.recount(4, 4, { capacity: 10 });
    expect(h.context).toMatchObject({ active: 4, capacity: 10 });
    // Never below zero, however large the drift.
    h.recount(9, 0);
    expect(h.context.active).toBe(0);
  });

  it('opens an alert a recount raises the usage to, scoped to the workspaces counted', () => {
    const h = up(small(), 5, 'w7');
    h.recount(5, 90, { capacity: 100, workspaceIds: ['w9'] });
    expect(h.state).toBe('warning');
    expect(h.context.alert).toMatchObject({ activeConnections: 90, workspaceIds: ['w7', 'w9'] });
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
