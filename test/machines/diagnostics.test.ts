import { describe, expect, it } from 'vitest';
import {
  type DiagnosticEntry,
  MAX_DIAGNOSTICS,
  appendDiagnostic,
} from '../../machines/shared/diagnostics.ts';

const T0 = Date.parse('2026-11-25T12:00:00.000Z');
const entry = (to: string, at = T0) => ({
  at,
  to,
  event: 'HEARTBEAT',
  cause: 'health-degraded',
  successRate: 0.98,
  latencyP95: 20,
  samples: 100,
});

describe('appendDiagnostic', () => {
  it("starts from the chart's initial state, then from the previous entry's target", () => {
    const one = appendDiagnostic([], entry('connected'));
    expect(one).toEqual([{ ...entry('connected'), from: 'connecting' }]);
    const two = appendDiagnostic(one, entry('degraded', T0 + 1));
    expect(two[1]).toMatchObject({ from: 'connected', to: 'degraded', at: T0 + 1 });
    expect(appendDiagnostic([], entry('x'), 'normal')[0]!.from).toBe('normal');
    expect(appendDiagnostic(one, { ...entry('error'), from: 'reconnecting' })[1]!.from).toBe(
      'reconnecting',
    );
  });

  it('keeps only the newest 50 entries, dropping the oldest first', () => {
    let log: DiagnosticEntry[] = [];
    for (let i = 0; i < MAX_DIAGNOSTICS; i++) log = appendDiagnostic(log, entry(`s${i}`));
    expect(log).toHaveLength(50);
    log = appendDiagnostic(log, entry('s50'));
    expect(log).toHaveLength(50);
    expect(log[0]!.to).toBe('s1');
    expect(log.at(-1)).toMatchObject({ from: 's49', to: 's50' });
  });

  it('never changes the list it was given', () => {
    const one = appendDiagnostic([], entry('connected'));
    const copy = structuredClone(one);
    appendDiagnostic(one, entry('degraded'));
    expect(one).toEqual(copy);
  });
});
