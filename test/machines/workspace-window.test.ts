import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_WORKSPACE_POLICY as P } from '../../machines/shared/workspace-policy.ts';
import {
  type MemberStatus,
  type Report,
  type WindowOwner,
  type WorkspaceWindow,
  absorbReport,
  countMembers,
  evidenceOf,
  liveMembers,
  verdictOf,
} from '../../machines/shared/workspace-window.ts';

const MIN = 60_000;
/** Minute 1000 of the epoch: window entries are keyed by epoch minute. */
const M = 1000;
const at = (minute: number, seconds = 0) => minute * MIN + seconds * 1000;

const owner = (o: Partial<WindowOwner> = {}): WindowOwner => ({
  policy: P,
  members: {},
  window: [],
  since: 0,
  ...o,
});
const ops = (
  minute: number,
  succeeded: number,
  failed: number,
  latencyP95: number | null = 20,
  connectionId = 'c1',
  status: MemberStatus = 'connected',
): Report => ({
  connectionId,
  status,
  ops: { at: at(minute), succeeded, failed, latencyP95 },
});

describe('countMembers', () => {
  it('counts connected and degraded as on ACP, the other live ones as pending', () => {
    expect(
      countMembers({
        a: 'connecting',
        b: 'connected',
        c: 'degraded',
        d: 'error',
        e: 'reconnecting',
        f: 'rolledBack',
        g: 'rolledBack',
      }),
    ).toEqual({ active: 5, onAcp: 2, pending: 3, onHttp: 2 });
  });

  it('counts nothing for no members', () => {
    expect(countMembers({})).toEqual({ active: 0, onAcp: 0, pending: 0, onHttp: 0 });
  });
});

describe('liveMembers', () => {
  it('lists the connections not rolled back, sorted', () => {
    expect(liveMembers({ c: 'error', a: 'rolledBack', b: 'connecting', d: 'degraded' })).toEqual([
      'b',
      'c',
      'd',
    ]);
    expect(liveMembers({ a: 'rolledBack' })).toEqual([]);
  });
});

describe('absorbReport', () => {
  it("records a connection's status and keeps the members object when it did not change", () => {
    const o = owner({ members: { c1: 'connected' } });
    const same = absorbReport(o, { connectionId: 'c1', status: 'connected', ops: null });
    expect(same.members).toBe(o.members);
    expect(same.window).toBe(o.window);
    const changed = absorbReport(o, { connectionId: 'c2', status: 'error', ops: null });
    expect(changed.members).toEqual({ c1: 'connected', c2: 'error' });
    expect(o.members).toEqual({ c1: 'connected' });
  });

  it('adds operations to the minute of their own time', () => {
    expect(absorbReport(owner(), ops(M, 5, 1)).window).toEqual([[M, 5, 1, 20]]);
    const late = { connectionId: 'c1', status: 'connected' as const };
    expect(
      absorbReport(owner(), {
        ...late,
        ops: { at: at(M, 59.999), succeeded: 1, failed: 0, latencyP95: 3 },
      }).window,
    ).toEqual([[M, 1, 0, 3]]);
  });

  it('merges operations of the same minute and keeps the worst p95 of that minute', () => {
    const o = owner({ window: [[M, 10, 1, 30]] });
    expect(absorbReport(o, ops(M, 5, 2, 40)).window).toEqual([[M, 15, 3, 40]]);
    expect(absorbReport(o, ops(M, 5, 2, 10)).window).toEqual([[M, 15, 3, 30]]);
    expect(absorbReport(o, ops(M, 5, 2, null)).window).toEqual([[M, 15, 3, 30]]);
    expect(absorbReport(owner({ window: [[M, 1, 0, null]] }), ops(M, 1, 0, 7)).window).toEqual([
      [M, 2, 0, 7],
    ]);
    expect(o.window).toEqual([[M, 10, 1, 30]]);
  });

  it('keeps per minute the sums and worst p95 of the reports of the last windowMinutes (fast-check)', () => {
    const report = fc.record({
      minute: fc.integer({ min: M, max: M + 40 }),
      succeeded: fc.nat(20),
      failed: fc.nat(5),
      latencyP95: fc.option(fc.nat(500)),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 15 }), fc.array(report, { maxLength: 40 }), (n, rs) => {
        const policy = { ...P, windowMinutes: n };
        let o = owner({ policy });
        const counted: typeof rs = [];
        for (const r of rs) {
          const before = o.window;
          const copy = structuredClone(before);
          o = { ...o, ...absorbReport(o, ops(r.minute, r.succeeded, r.failed, r.latencyP95)) };
          expect(before).toEqual(copy);
          // Brute force: what arrived while inside the window, kept if inside the newest's.
          const head = Math.max(...counted.map((c) => c.minute), r.minute);
          if (r.minute > head - n && r.succeeded + r.failed > 0) counted.push(r);
          const newest = Math.max(...counted.map((c) => c.minute));
          const minutes = [...new Set(counted.map((c) => c.minute))]
            .filter((m) => m > newest - n)
            .sort((a, b) => a - b);
          const expected = minutes.map((m) => {
            const of = counted.filter((c) => c.minute === m);
            const p95s = of.map((c) => c.latencyP95).filter((l) => l !== null);
            return [
              m,
              of.reduce((x, c) => x + c.succeeded, 0),
              of.reduce((x, c) => x + c.failed, 0),
              p95s.length ? Math.max(...p95s) : null,
            ];
          });
          expect(o.window).toEqual(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('evicts what a shorter windowMinutes leaves out at the next report, even one of the newest minute', () => {
    // The policy can change between reports (POLICY): a minute kept under the old one goes.
    const o = owner({
      policy: { ...P, windowMinutes: 5 },
      window: [
        [M - 10, 1, 0, null],
        [M, 1, 0, 20],
      ],
    });
    expect(absorbReport(o, ops(M, 2, 1, 10)).window).toEqual([[M, 3, 1, 20]]);
  });

  it('keeps the minutes in order, inserting a late minute where it belongs', () => {
    const o = owner({
      window: [
        [M, 1, 0, 1],
        [M + 2, 2, 0, 2],
      ],
    });
    expect(absorbReport(o, ops(M + 1, 3, 0, 5)).window).toEqual([
      [M, 1, 0, 1],
      [M + 1, 3, 0, 5],
      [M + 2, 2, 0, 2],
    ]);
    expect(absorbReport(o, ops(M + 3, 4, 0, 5)).window.map((e) => e[0])).toEqual([M, M + 2, M + 3]);
    expect(absorbReport(o, ops(M - 1, 4, 0, 5)).window.map((e) => e[0])).toEqual([M - 1, M, M + 2]);
  });

  it('evicts the minutes that fall out of windowMinutes as newer ones arrive', () => {
    const policy = { ...P, windowMinutes: 3 };
    const window: WorkspaceWindow = [
      [M, 1, 0, null],
      [M + 1, 1, 0, null],
      [M + 2, 1, 0, null],
    ];
    expect(
      absorbReport(owner({ policy, window }), ops(M + 3, 1, 0)).window.map((e) => e[0]),
    ).toEqual([M + 1, M + 2, M + 3]);
    expect(
      absorbReport(owner({ policy, window }), ops(M + 5, 1, 0)).window.map((e) => e[0]),
    ).toEqual([M + 5]);
  });

  it('ignores operations older than the window, and accepts its oldest minute', () => {
    const policy = { ...P, windowMinutes: 3 };
    const o = owner({ policy, window: [[M + 5, 1, 0, null]] });
    expect(absorbReport(o, ops(M + 2, 9, 9)).window).toBe(o.window);
    expect(absorbReport(o, ops(M + 3, 9, 9)).window).toEqual([
      [M + 3, 9, 9, 20],
      [M + 5, 1, 0, null],
    ]);
  });

  it('ignores operations timed in a minute before the transport began, and counts its whole minute', () => {
    const o = owner({ since: at(M, 30) });
    // A heartbeat timed in an earlier minute belongs to the old transport.
    expect(
      absorbReport(o, {
        ...ops(M, 1, 1),
        ops: { at: at(M, 0) - 1, succeeded: 1, failed: 1, latencyP95: null },
      }).window,
    ).toBe(o.window);
    // Clients send whole seconds: one timed in the minute of the change (even before it) counts.
    expect(
      absorbReport(o, {
        ...ops(M, 1, 1),
        ops: { at: at(M, 0), succeeded: 1, failed: 1, latencyP95: null },
      }).window,
    ).toEqual([[M, 1, 1, null]]);
    expect(
      absorbReport(o, {
        ...ops(M, 1, 1),
        ops: { at: at(M, 30), succeeded: 1, failed: 1, latencyP95: null },
      }).window,
    ).toEqual([[M, 1, 1, null]]);
  });

  it('ignores a report without operations, and still takes its status', () => {
    const o = owner({ window: [[M, 1, 0, null]] });
    const r = absorbReport(o, ops(M + 1, 0, 0, 20, 'c9', 'degraded'));
    expect(r.window).toBe(o.window);
    expect(r.members).toEqual({ c9: 'degraded' });
    expect(absorbReport(o, { connectionId: 'c1', status: 'connected', ops: null }).window).toBe(
      o.window,
    );
  });
});

describe('evidenceOf', () => {
  it('sums the window, takes its worst p95 and counts the active members', () => {
    const e = evidenceOf(
      owner({
        members: { a: 'connected', b: 'error', c: 'rolledBack' },
        window: [
          [M, 90, 10, null],
          [M + 1, 95, 5, 250],
          [M + 2, 10, 0, 40],
        ],
      }),
    );
    expect(e).toEqual({
      successRate: 195 / 210,
      sampleSize: 210,
      latencyP95: 250,
      windowMinutes: 60,
      activeConnections: 2,
      capacityPercent: null,
    });
  });

  it('has no rate and no p95 without operations', () => {
    expect(evidenceOf(owner())).toEqual({
      successRate: null,
      sampleSize: 0,
      latencyP95: null,
      windowMinutes: 60,
      activeConnections: 0,
      capacityPercent: null,
    });
  });

  it('leaves out the minutes older than windowMinutes before the newest one', () => {
    const e = evidenceOf(
      owner({
        policy: { ...P, windowMinutes: 2 },
        window: [
          [M, 0, 100, 999],
          [M + 1, 10, 0, 5],
          [M + 2, 30, 0, 6],
        ],
      }),
    );
    expect(e).toMatchObject({ successRate: 1, sampleSize: 40, latencyP95: 6, windowMinutes: 2 });
  });
});

describe('verdictOf', () => {
  const windowOf = (ok: number, ko: number): WorkspaceWindow => [[M, ok, ko, null]];

  it('judges the window against the policy at its boundaries', () => {
    expect(verdictOf(owner({ window: windowOf(990, 10) }))).toBe('healthy');
    expect(verdictOf(owner({ window: windowOf(989, 11) }))).toBe('breach');
    expect(verdictOf(owner({ window: windowOf(98, 2) }))).toBe('breach');
    expect(verdictOf(owner({ window: windowOf(97, 2) }))).toBe('held');
    expect(verdictOf(owner({ window: windowOf(99, 0) }))).toBe('insufficient-data');
    expect(verdictOf(owner())).toBe('insufficient-data');
  });

  it('uses the policy it is given', () => {
    const window = windowOf(995, 5);
    expect(verdictOf(owner({ window }))).toBe('healthy');
    expect(verdictOf(owner({ window, policy: { ...P, minSuccessRate: 0.996 } }))).toBe('breach');
    expect(verdictOf(owner({ window, policy: { ...P, minSamples: 1001 } }))).toBe(
      'insufficient-data',
    );
  });
});
