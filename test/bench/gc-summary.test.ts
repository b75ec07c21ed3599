/**
 * bench/gc-summary.ts: --trace-gc lines of a service log counted per benchmark phase, for the
 * process's busiest isolate only, lined up by the log's spawn and phase marks.
 */
import { describe, expect, it } from 'vitest';
import { summariseGc } from '../../bench/gc-summary.ts';

const main = '[100:0xaaa]';
const loader = '[100:0xbbb]';
const log = [
  '[bench 1000000] service-scale started',
  `service-scale: ${main}       50 ms: Scavenge 4.6 (4.7) -> 4.2 (5.7) MB, 0.93 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; `,
  '[bench 1002000] scale-1000 start',
  `service-scale: ${main}     2100 ms: Scavenge 137.3 (150.0) -> 97.4 (150.0) MB, 10.00 / 0.00 ms  (average mu = 0.9, current mu = 0.9) allocation failure; `,
  `service-scale: ${main}     2500 ms: Scavenge 137.3 (150.0) -> 97.4 (150.0) MB, 20.00 / 0.00 ms  (average mu = 0.9, current mu = 0.9) task; `,
  `service-scale: ${main}     3000 ms: Mark-Compact 241.6 (260.0) -> 54.9 (200.0) MB, 30.00 / 0.01 ms  (+ 20.0 ms in 50 steps since start of marking, biggest step 1.0 ms, walltime since start of marking 400 ms) (average mu = 0.9, current mu = 0.9) finalize incremental marking via task; GC in old space requested`,
  `service-scale: ${loader}     2600 ms: Mark-Compact 10.2 (25.9) -> 7.9 (26.4) MB, 3.17 / 0.01 ms  (+ 0.1 ms in 2 steps since start of marking) (average mu = 1.000, current mu = 1.000) finalize incremental marking via task; GC in old space requested`,
  'service-single: [200:0xccc]     2700 ms: Scavenge 1.0 (2.0) -> 1.0 (2.0) MB, 99.00 / 0.00 ms  (average mu = 1.000, current mu = 1.000) task; ',
  '[bench 1003000] scale-1000 end',
  `service-scale: ${main}     3100 ms: Scavenge 137.3 (150.0) -> 97.4 (150.0) MB, 50.00 / 0.00 ms  (average mu = 0.9, current mu = 0.9) task; `,
].join('\n');

describe('summariseGc', () => {
  it('counts the collections of each phase window, of the busiest isolate of the named process', () => {
    expect(summariseGc(log).split('\n')).toEqual([
      'scale-1000 (1.0 s, from its warm-up to the end of its measurement)',
      '  Scavenge: 2 times, 30 ms of pauses (15.0 ms each), 3.0 % of the phase',
      '  Mark-Compact: 1 times, 30 ms of pauses + 20 ms of incremental marking (30.0 ms each), 5.0 % of the phase',
    ]);
  });

  it('says so when the log has no phase marks or no --trace-gc lines', () => {
    expect(summariseGc('service-scale: listening')).toBe(
      'no phase marks or no --trace-gc lines found',
    );
  });
});
