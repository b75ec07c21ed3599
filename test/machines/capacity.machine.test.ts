/**
 * The capacity chart: alerts at 85 and 95 percent, resolution after 5 minutes below 70 percent
 * (shared set-up and helpers: capacity.machine.helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CAPACITY_THRESHOLDS,
  createCapacityMachine,
} from '../../machines/capacity.machine.ts';
import { T0, MIN, RESOLVE, harness } from './capacity.machine.helpers.ts';

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
