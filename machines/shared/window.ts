/**
 * Rolling one-hour operation window kept inside a chart's context.
 *
 * Success and failure counts live in 60 one-minute slots; latency lives in 12 five-minute slots
 * of a fixed histogram. Slots are addressed by event time (the heartbeat's `timestamp`), so old
 * data leaves the window as event time advances, never because a wall clock ticked. Running
 * totals make every update O(1) amortised: advancing the head clears at most one full ring.
 *
 * The window is three parallel number arrays rather than 60 slot objects: it serialises to well
 * under 1 KB and parses several times faster, which matters on the heartbeat hot path.
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

export interface OperationWindow {
  /** Newest minute (epoch minutes) seen; -1 before the first sample. */
  head: number;
  /** First minute with a sample, for throughput over windows shorter than an hour. */
  first: number;
  /** Succeeded operations per one-minute slot, indexed by minute % 60. */
  ok: number[];
  /** Failed operations per one-minute slot. */
  ko: number[];
  /** Latency histogram per five-minute slot: `lat[slot * LATENCY_BUCKETS + bucket]`. */
  lat: number[];
  /** Running totals over the live slots. */
  okTotal: number;
  koTotal: number;
  latTotals: number[];
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
    ok: new Array<number>(WINDOW_MINUTES).fill(0),
    ko: new Array<number>(WINDOW_MINUTES).fill(0),
    lat: new Array<number>(LATENCY_SLOTS * LATENCY_BUCKETS).fill(0),
    okTotal: 0,
    koTotal: 0,
    latTotals: new Array<number>(LATENCY_BUCKETS).fill(0),
  };
}

function latencyBucket(ms: number): number {
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) {
    if (ms <= LATENCY_BOUNDS_MS[i]!) return i;
  }
  return LATENCY_BOUNDS_MS.length;
}

function clearMinuteSlot(w: OperationWindow, minute: number): void {
  const slot = minute % WINDOW_MINUTES;
  w.okTotal -= w.ok[slot]!;
  w.koTotal -= w.ko[slot]!;
  w.ok[slot] = 0;
  w.ko[slot] = 0;
}

function clearLatencySlot(w: OperationWindow, fiveMinute: number): void {
  const base = (fiveMinute % LATENCY_SLOTS) * LATENCY_BUCKETS;
  for (let b = 0; b < LATENCY_BUCKETS; b++) {
    w.latTotals[b]! -= w.lat[base + b]!;
    w.lat[base + b] = 0;
  }
}

/** Moves the head forward to `minute`, evicting every slot that falls out of the window. */
function advance(w: OperationWindow, minute: number): void {
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
  const w: OperationWindow = {
    head: prev.head,
    first: prev.first,
    ok: prev.ok.slice(),
    ko: prev.ko.slice(),
    lat: prev.lat.slice(),
    okTotal: prev.okTotal,
    koTotal: prev.koTotal,
    latTotals: prev.latTotals.slice(),
  };
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
    return { window: w, stale: false };
  const base = (five % LATENCY_SLOTS) * LATENCY_BUCKETS;
  for (const ms of latencyMs) {
    const b = latencyBucket(ms);
    w.lat[base + b]! += 1;
    w.latTotals[b]! += 1;
  }
  return { window: w, stale: false };
}

/** p95 as the upper bound of the bucket holding the 95th percentile sample. */
function p95(latTotals: readonly number[], count: number): number | null {
  if (count === 0) return null;
  const rank = Math.ceil(count * 0.95);
  let seen = 0;
  for (let b = 0; b < latTotals.length; b++) {
    seen += latTotals[b]!;
    if (seen >= rank) return LATENCY_BOUNDS_MS[Math.min(b, LATENCY_BOUNDS_MS.length - 1)]!;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}

/** Derived metrics of a window; `minSamples` gates the success rate ("insufficient data"). */
export function windowStats(w: OperationWindow, minSamples: number): WindowStats {
  const samples = w.okTotal + w.koTotal;
  const rawSuccessRate = samples === 0 ? null : w.okTotal / samples;
  let latencySamples = 0;
  for (const c of w.latTotals) latencySamples += c;
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
  let merged = emptyWindow();
  if (head < 0) return merged;
  merged.head = head;
  merged.first = head;
  for (const w of windows) {
    if (w.head < 0 || w.head <= head - WINDOW_MINUTES) continue;
    // Bring each window to the common head first so expired slots are dropped, then add slots.
    const aligned = recordOperations(w, head * MINUTE_MS, 0, 0, []).window;
    merged = addWindows(merged, aligned);
  }
  return merged;
}

function addWindows(a: OperationWindow, b: OperationWindow): OperationWindow {
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
