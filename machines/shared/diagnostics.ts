/** Error classes every recorded error belongs to (issue: error classification). */
export type ErrorCategory = 'connection' | 'protocol' | 'application' | 'system';

/** One structured diagnostics entry: a transition, its cause and the metrics at that moment. */
export interface DiagnosticEntry {
  /** Event time in ms since the epoch. */
  at: number;
  from: string;
  to: string;
  /** The event that caused the transition (timer events keep XState's `xstate.after.*` type). */
  event: string;
  cause: string;
  successRate: number | null;
  latencyP95: number | null;
  samples: number;
}

export const MAX_DIAGNOSTICS = 50;

/** Appends an entry, keeping only the newest {@link MAX_DIAGNOSTICS}. */
export function appendDiagnostic(
  entries: readonly DiagnosticEntry[],
  entry: Omit<DiagnosticEntry, 'from'> & { from?: string },
  initial = 'connecting',
): DiagnosticEntry[] {
  const from = entry.from ?? entries[entries.length - 1]?.to ?? initial;
  const next =
    entries.length >= MAX_DIAGNOSTICS
      ? entries.slice(entries.length - MAX_DIAGNOSTICS + 1)
      : entries.slice();
  next.push({
    at: entry.at,
    from,
    to: entry.to,
    event: entry.event,
    cause: entry.cause,
    successRate: entry.successRate,
    latencyP95: entry.latencyP95,
    samples: entry.samples,
  });
  return next;
}
