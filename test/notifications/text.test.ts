/**
 * How toasts say a duration (the capacity alert's "stayed below 70% for …").
 */
import { describe, expect, it } from 'vitest';
import { durationText } from '../../src/notifications/text.ts';

describe('durationText', () => {
  it('says whole seconds under a minute', () => {
    expect(durationText(5_000)).toBe('5 s');
    expect(durationText(1_000)).toBe('1 s');
    expect(durationText(1_499)).toBe('1 s');
    expect(durationText(59_000)).toBe('59 s');
  });

  it('says minutes with at most one decimal from a minute on', () => {
    expect(durationText(60_000)).toBe('1 min');
    // 59.6 s rounds to 60 s: a minute, not "60 s".
    expect(durationText(59_600)).toBe('1 min');
    expect(durationText(90_000)).toBe('1.5 min');
    expect(durationText(95_000)).toBe('1.6 min');
    expect(durationText(5 * 60_000)).toBe('5 min');
    expect(durationText(5 * 60_000 + 1)).toBe('5 min');
    expect(durationText(2 * 60 * 60_000)).toBe('120 min');
  });

  it('says milliseconds under a second', () => {
    expect(durationText(1)).toBe('1 ms');
    expect(durationText(999)).toBe('999 ms');
  });
});
