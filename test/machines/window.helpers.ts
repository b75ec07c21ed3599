/** Shared by window.test.ts and window.property.test.ts: the minute and the start time. */

export const MIN = 60_000;
export const T0 = Date.parse('2026-11-25T12:00:00.000Z');
