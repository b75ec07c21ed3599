/**
 * Rolling one-hour operation window kept inside a chart's context.
 *
 * Success and failure counts live in 60 one-minute slots; latency lives in 12 five-minute slots
 * of a fixed histogram. Slots are addressed by event time (the heartbeat's `timestamp`), so old
 * data leaves the window as event time advances, never because a wall clock ticked. Running
 * totals make every update O(1) amortised: advancing the head clears at most one full ring.
 *
 * The window is stored as parallel number arrays, each zero-run-length encoded: a negative entry
 * `-n` stands for `n` empty slots, so the ko ring of a healthy connection is `[-60]` and a
 * latency histogram that only ever sees one bucket costs a few numbers per five-minute slot.
 * A connection's snapshot is written to Redis on every heartbeat: a full hour of one-heartbeat-
 * every-10-s traffic serialises to about 350 bytes instead of 800 for the dense arrays. Plain
 * arrays without negative entries (the dense form) decode the same, so older snapshots load.
 */

/** Upper bounds (ms) of the latency histogram buckets; the last bucket is open-ended. */
export const LATENCY_BOUNDS_MS = [
  5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2500, 5000, 10000,
] as const;
const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

export const WINDOW_MINUTES = 60;
const LATENCY_SLOT_MINUTES = 5;
const LATENCY_SLOTS = WINDOW_MINUTES / LATENCY_SLOT_MINUTES;
const MINUTE_MS = 60_000;

/** The window as stored: `ok`, `ko`, `lat` and `latTotals` zero-run-length encoded. */
export interface OperationWindow {
  /** Newest minute (epoch minutes) seen; -1 before the first sample. */
  head: number;
  /** First minute with a sample, for throughput over windows shorter than an hour. */
  first: number;
  /** Succeeded operations per one-minute slot, indexed by minute % 60 (encoded). */
  ok: number[];
  /** Failed operations per one-minute slot (encoded). */
  ko: number[];
  /** Latency histogram per five-minute slot: `lat[slot * LATENCY_BUCKETS + bucket]` (encoded). */
  lat: number[];
  /** Running totals over the live slots. */
  okTotal: number;
  koTotal: number;
  /** Latency samples per bucket over the live slots (encoded). */
  latTotals: number[];
}

/** The same window with plain arrays, what the arithmetic below works on. */
type DenseWindow = OperationWindow;

/** Zero-run-length encoding: `[0, 0, 0, 5, 0]` -> `[-3, 5, -1]`; canonical (maximal runs). */
export function encodeSlots(dense: readonly number[]): number[] {
  const out: number[] = [];
  let zeros = 0;
  for (const v of dense) {
    if (v === 0) {
      zeros++;
      continue;
    }
    if (zeros > 0) out.push(-zeros);
    zeros = 0;
    out.push(v);
  }
  if (zeros > 0) out.push(-zeros);
  return out;
}

/** The inverse of {@link encodeSlots}, exactly `length` slots long (a dense array passes through). */
export function decodeSlots(encoded: readonly number[], length: number): number[] {
  const out = new Array<number>(length).fill(0);
  let i = 0;
  for (const v of encoded) {
    if (i >= length) break;
    if (v < 0) i += -v;
    else out[i++] = v;
  }
  return out;
}

function dense(w: OperationWindow): DenseWindow {
  return {
    head: w.head,
    first: w.first,
    ok: decodeSlots(w.ok, WINDOW_MINUTES),
    ko: decodeSlots(w.ko, WINDOW_MINUTES),
    lat: decodeSlots(w.lat, LATENCY_SLOTS * LATENCY_BUCKETS),
    okTotal: w.okTotal,
    koTotal: w.koTotal,
    latTotals: decodeSlots(w.latTotals, LATENCY_BUCKETS),
  };
}

function encoded(d: DenseWindow): OperationWindow {
  return {
    head: d.head,
    first: d.first,
    ok: encodeSlots(d.ok),
    ko: encodeSlots(d.ko),
    lat: encodeSlots(d.lat),
    okTotal: d.okTotal,
    koTotal: d.koTotal,
    latTotals: encodeSlots(d.latTotals),
  };
}

export interface WindowStats {
  /** Operations counted in the window. */
  samples: number;
  /** Succeeded / samples, or null below the minimum sample count ("insufficient data"). */
  successRate: number | null;
  /** Succeeded / samples whatever the sample count (for display and audit evidence). */
  rawSuccessRate: number | null;
  latencySamples: number;
  /** 95th percentile latency (bucket upper bound), null without latency samples. */
  latencyP95: number | null;
  throughputPerMin: number;
}

export function emptyWindow(): OperationWindow {
  return {
    head: -1,
    first: -1,
    ok: [-WINDOW_MINUTES],
    ko: [-WINDOW_MINUTES],
    lat: [-(LATENCY_SLOTS * LATENCY_BUCKETS)],
    okTotal: 0,
    koTotal: 0,
    latTotals: [-LATENCY_BUCKETS],
  };
}

function latencyBucket(ms: number): number {
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) {
    if (ms <= LATENCY_BOUNDS_MS[i]!) return i;
  }
  return LATENCY_BOUNDS_MS.length;
}

function clearMinuteSlot(w: DenseWindow, minute: number): void {
  const slot = minute % WINDOW_MINUTES;
  w.okTotal -= w.ok[slot]!;
  w.koTotal -= w.ko[slot]!;
  w.ok[slot] = 0;
  w.ko[slot] = 0;
}

function clearLatencySlot(w: DenseWindow, fiveMinute: number): void {
  const base = (fiveMinute % LATENCY_SLOTS) * LATENCY_BUCKETS;
  for (let b = 0; b < LATENCY_BUCKETS; b++) {
    w.latTotals[b]! -= w.lat[base + b]!;
    w.lat[base + b] = 0;
  }
}

/** Moves the head forward to `minute`, evicting every slot that falls out of the window. */
function advance(w: DenseWindow, minute: number): void {
  if (w.head < 0) {
    w.head = minute;
    w.first = minute;
    return;
  }
  if (minute <= w.head) return;
  const from = Math.max(w.head + 1, minute - WINDOW_MINUTES + 1);
  for (let m = from; m <= minute; m++) clearMinuteSlot(w, m);
  const oldFive = Math.floor(w.head / LATENCY_SLOT_MINUTES);
  const newFive = Math.floor(minute / LATENCY_SLOT_MINUTES);
  const fromFive = Math.max(oldFive + 1, newFive - LATENCY_SLOTS + 1);
  for (let f = fromFive; f <= newFive; f++) clearLatencySlot(w, f);
  w.head = minute;
  if (w.first < minute - WINDOW_MINUTES + 1) w.first = minute - WINDOW_MINUTES + 1;
}

/**
 * Returns a new window with one heartbeat's operations added at event time `atMs`.
 * Samples older than the window are dropped (and reported as `stale`).
 *
 * @example
 * const w = recordOperations(emptyWindow(), Date.parse('2026-01-01T00:00:00Z'), 99, 1, [12, 40]);
 * windowStats(w, 100).successRate; // 0.99
 */
export function recordOperations(
  prev: OperationWindow,
  atMs: number,
  succeeded: number,
  failed: number,
  latencyMs: readonly number[],
): { window: OperationWindow; stale: boolean } {
  const minute = Math.floor(atMs / MINUTE_MS);
  if (prev.head >= 0 && minute <= prev.head - WINDOW_MINUTES) return { window: prev, stale: true };
  // Within the newest minute (or late but inside the window) nothing leaves the window: add to
  // the encoded slots in place of decoding and re-encoding every ring.
  if (prev.head >= 0 && minute <= prev.head && isEncoded(prev)) {
    return { window: addWithinHead(prev, minute, succeeded, failed, latencyMs), stale: false };
  }
  const w = dense(prev);
  advance(w, minute);
  if (minute < w.first) w.first = minute;
  const slot = minute % WINDOW_MINUTES;
  w.ok[slot]! += succeeded;
  w.ko[slot]! += failed;
  w.okTotal += succeeded;
  w.koTotal += failed;
  const five = Math.floor(minute / LATENCY_SLOT_MINUTES);
  // A late sample whose five-minute slot already left the latency ring counts for success only.
  if (five <= Math.floor(w.head / LATENCY_SLOT_MINUTES) - LATENCY_SLOTS)
    return { window: encoded(w), stale: false };
  const base = (five % LATENCY_SLOTS) * LATENCY_BUCKETS;
  for (const ms of latencyMs) {
    const b = latencyBucket(ms);
    w.lat[base + b]! += 1;
    w.latTotals[b]! += 1;
  }
  return { window: encoded(w), stale: false };
}

/** Whether every ring is in the canonical encoding (a dense array from an older snapshot is not). */
function isEncoded(w: OperationWindow): boolean {
  return !w.ok.includes(0) && !w.ko.includes(0) && !w.lat.includes(0) && !w.latTotals.includes(0);
}

/**
 * Adds `delta` (> 0) to slot `index` of an encoded ring, splitting a run of empty slots when
 * the slot was empty; the result stays canonical. The input is not modified.
 */
export function addToSlot(code: readonly number[], index: number, delta: number): number[] {
  return delta === 0 ? code.slice() : addToSlots(code, [[index, delta]]);
}

/**
 * The common case of {@link addToSlots}: every add lands on a slot that already holds a count
 * (a connection's later heartbeats within a minute), so the code keeps its length and only
 * those counts change. Null when an add falls into a run of empty slots.
 */
function addToCounted(
  code: readonly number[],
  adds: readonly (readonly [number, number])[],
): number[] | null {
  const out = code.slice();
  let slot = 0;
  let a = 0;
  for (let k = 0; k < code.length && a < adds.length; k++) {
    const v = code[k]!;
    const span = v < 0 ? -v : 1;
    if (adds[a]![0] < slot + span) {
      if (v < 0) return null;
      out[k] = v + adds[a++]![1];
    }
    slot += span;
  }
  return a === adds.length ? out : null;
}

/**
 * {@link addToSlot} for several slots in one pass: `adds` are `[index, delta > 0]` pairs in
 * ascending order of distinct indices. A heartbeat's latencies land in several buckets of one
 * five-minute slot; adding them one by one copied the ring once per bucket.
 */
export function addToSlots(
  code: readonly number[],
  adds: readonly (readonly [number, number])[],
): number[] {
  const counted = addToCounted(code, adds);
  if (counted) return counted;
  const out: number[] = [];
  let slot = 0;
  let a = 0;
  for (const v of code) {
    const span = v < 0 ? -v : 1;
    if (a >= adds.length || adds[a]![0] >= slot + span) out.push(v);
    else if (v > 0) out.push(v + adds[a++]![1]);
    else {
      // Split the run of empty slots around every add that falls in it.
      let at = slot;
      for (; a < adds.length && adds[a]![0] < slot + span; a++) {
        const [index, delta] = adds[a]!;
        if (index > at) out.push(at - index);
        out.push(delta);
        at = index + 1;
      }
      if (slot + span > at) out.push(at - slot - span);
    }
    slot += span;
  }
  return out;
}

/** {@link recordOperations} for a minute at or before the head: increments only, no eviction. */
function addWithinHead(
  prev: OperationWindow,
  minute: number,
  succeeded: number,
  failed: number,
  latencyMs: readonly number[],
): OperationWindow {
  const slot = minute % WINDOW_MINUTES;
  const w: OperationWindow = {
    head: prev.head,
    first: Math.min(prev.first, minute),
    ok: addToSlot(prev.ok, slot, succeeded),
    ko: addToSlot(prev.ko, slot, failed),
    lat: prev.lat,
    okTotal: prev.okTotal + succeeded,
    koTotal: prev.koTotal + failed,
    latTotals: prev.latTotals,
  };
  const five = Math.floor(minute / LATENCY_SLOT_MINUTES);
  // A late sample whose five-minute slot already left the latency ring counts for success only.
  if (five <= Math.floor(w.head / LATENCY_SLOT_MINUTES) - LATENCY_SLOTS || latencyMs.length === 0)
    return w;
  // Samples per bucket, as [bucket, count] in ascending order of bucket.
  const counts: [number, number][] = [];
  for (const ms of latencyMs) {
    const b = latencyBucket(ms);
    let i = counts.length;
    while (i > 0 && counts[i - 1]![0] > b) i--;
    if (i > 0 && counts[i - 1]![0] === b) counts[i - 1]![1] += 1;
    else counts.splice(i, 0, [b, 1]);
  }
  const base = (five % LATENCY_SLOTS) * LATENCY_BUCKETS;
  return {
    ...w,
    lat: addToSlots(
      prev.lat,
      counts.map(([b, n]) => [base + b, n]),
    ),
    latTotals: addToSlots(prev.latTotals, counts),
  };
}

/**
 * p95 as the upper bound of the bucket holding the 95th percentile sample, read straight from
 * the encoded totals (no array is built: this runs several times per heartbeat).
 */
function p95(latTotals: readonly number[], count: number): number | null {
  if (count === 0) return null;
  const rank = Math.ceil(count * 0.95);
  let seen = 0;
  let b = 0;
  for (const v of latTotals) {
    if (v < 0) {
      b += -v;
      continue;
    }
    seen += v;
    if (seen >= rank) return LATENCY_BOUNDS_MS[Math.min(b, LATENCY_BOUNDS_MS.length - 1)]!;
    b++;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}

/** Derived metrics of a window; `minSamples` gates the success rate ("insufficient data"). */
export function windowStats(w: OperationWindow, minSamples: number): WindowStats {
  const samples = w.okTotal + w.koTotal;
  const rawSuccessRate = samples === 0 ? null : w.okTotal / samples;
  let latencySamples = 0;
  for (const c of w.latTotals) if (c > 0) latencySamples += c;
  const minutes = w.head < 0 ? 1 : Math.min(WINDOW_MINUTES, w.head - w.first + 1);
  return {
    samples,
    successRate: samples >= minSamples ? rawSuccessRate : null,
    rawSuccessRate,
    latencySamples,
    latencyP95: p95(w.latTotals, latencySamples),
    throughputPerMin: samples / Math.max(1, minutes),
  };
}

/** Sums several windows (e.g. every connection of a workspace) aligned on the newest head. */
export function mergeWindows(windows: readonly OperationWindow[]): OperationWindow {
  let head = -1;
  for (const w of windows) head = Math.max(head, w.head);
  let merged = dense(emptyWindow());
  if (head < 0) return encoded(merged);
  merged.head = head;
  merged.first = head;
  for (const w of windows) {
    if (w.head < 0 || w.head <= head - WINDOW_MINUTES) continue;
    // Bring each window to the common head first so expired slots are dropped, then add slots.
    const aligned = recordOperations(w, head * MINUTE_MS, 0, 0, []).window;
    merged = addWindows(merged, dense(aligned));
  }
  return encoded(merged);
}

function addWindows(a: DenseWindow, b: DenseWindow): DenseWindow {
  return {
    head: Math.max(a.head, b.head),
    first: Math.min(a.first, b.first),
    ok: a.ok.map((v, i) => v + b.ok[i]!),
    ko: a.ko.map((v, i) => v + b.ko[i]!),
    lat: a.lat.map((v, i) => v + b.lat[i]!),
    okTotal: a.okTotal + b.okTotal,
    koTotal: a.koTotal + b.koTotal,
    latTotals: a.latTotals.map((v, i) => v + b.latTotals[i]!),
  };
}
