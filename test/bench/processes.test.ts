/**
 * bench/processes.ts keeps the end of a child's output in whole lines: the chaos run counts the
 * log lines that are not JSON, and a line cut at the front was counted as one.
 */
import { describe, expect, it } from 'vitest';
import { lastLines } from '../../bench/processes.ts';

describe('lastLines', () => {
  it('keeps short output as it is', () => {
    expect(lastLines('{"a":1}\n{"b":2}\n', 100)).toBe('{"a":1}\n{"b":2}\n');
  });

  it('drops the line the cut falls in, keeping every later line whole', () => {
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ msg: `line ${i}` }));
    const kept = lastLines(`${lines.join('\n')}\n`, 100);
    expect(kept.length).toBeLessThanOrEqual(100);
    const parsed = kept
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string });
    expect(parsed.at(-1)).toEqual({ msg: 'line 49' });
    expect(parsed.length).toBeGreaterThan(1);
  });
});
