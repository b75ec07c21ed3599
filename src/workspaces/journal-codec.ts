/**
 * How a workspace's what-if journal stores its events (ChartBinding.journal.codec). Nearly every
 * entry is a connection's report, one per heartbeat, and nearly every report decides nothing:
 * the chart only adds its operations to the window. Such a report is stored as a JSON array of
 * its values (about 90 bytes instead of 270) without its `eventId`, which only a decision reads
 * (its audit record's id; test/what-if/journal-codec.test.ts checks that the chart never lets an
 * undecided report's `eventId` reach its state). Everything else, and any report that decided
 * something, is stored as the event's JSON, exactly as the chart received it.
 *
 * @example
 * const text = encodeJournalEvent(report, false); // '["R","c1","connected",1796048160153,...]'
 * decodeJournalEvent(JSON.parse(text), 'journal-7-12'); // the report, eventId 'journal-7-12'
 */
import type { EventObject } from 'xstate';
import type { ConnectionReport } from '../../machines/shared/workspace-types.ts';

const REPORT = 'R';

/** The keys of a CONNECTION_REPORT; a report with any other key is stored whole. */
const REPORT_KEYS = new Set(['type', 'connectionId', 'status', 'ops', 'eventId', 'spareId', 'at']);

/** A canonical UUID (what the engine stamps as `spareId`), kept as its 16 bytes in base64url. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `[R, connectionId, status, at, spareId]`, plus, for a heartbeat's operations,
 * `at - ops.at, succeeded, failed, latencyP95`.
 */
type CompactReport =
  | [typeof REPORT, string, string, number, string]
  | [typeof REPORT, string, string, number, string, number, number, number, number | null];

/**
 * The text the journal keeps for `event` (valid JSON: the commit script embeds it as is).
 * @param decided the step asked for actions or moved the state value: the event is kept whole.
 */
export function encodeJournalEvent(event: EventObject, decided: boolean): string {
  if (decided || event.type !== 'CONNECTION_REPORT') return JSON.stringify(event);
  const r = event as ConnectionReport;
  for (const key of Object.keys(r)) if (!REPORT_KEYS.has(key)) return JSON.stringify(event);
  if (!UUID.test(r.spareId) || !Number.isSafeInteger(r.at)) return JSON.stringify(event);
  const spare = Buffer.from(r.spareId.replaceAll('-', ''), 'hex').toString('base64url');
  const head: CompactReport = [REPORT, r.connectionId, r.status, r.at, spare];
  if (r.ops === null) return JSON.stringify(head);
  const { at, succeeded, failed, latencyP95 } = r.ops;
  if (!Number.isSafeInteger(at)) return JSON.stringify(event);
  return JSON.stringify([...head, r.at - at, succeeded, failed, latencyP95]);
}

/**
 * The event an entry holds, as the chart received it. A compact report gets `eventId` as its id
 * (the caller makes it unique, e.g. from the entry's version and position): it names only a
 * decision the replay makes where the recorded run made none.
 */
export function decodeJournalEvent(stored: unknown, eventId: string): EventObject & { at: number } {
  if (!Array.isArray(stored)) return stored as EventObject & { at: number };
  const c = stored as CompactReport;
  if (c[0] !== REPORT) throw new Error(`unknown journal entry ${JSON.stringify(stored)}`);
  const hex = Buffer.from(c[4], 'base64url').toString('hex');
  const report: ConnectionReport = {
    type: 'CONNECTION_REPORT',
    connectionId: c[1],
    status: c[2] as ConnectionReport['status'],
    ops:
      c.length === 9 ? { at: c[3] - c[5], succeeded: c[6], failed: c[7], latencyP95: c[8] } : null,
    eventId,
    spareId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    at: c[3],
  };
  return report;
}
