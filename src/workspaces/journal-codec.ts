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
import type { JournalEntry } from './what-if.ts';

const REPORT = 'R';

/** The keys of a CONNECTION_REPORT; a report with any other key is stored whole. */
const REPORT_KEYS = new Set(['type', 'connectionId', 'status', 'ops', 'eventId', 'spareId', 'at']);

/** base64url's alphabet, and the value of each lowercase hex digit's char code (else -1). */
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX['0123456789abcdef'.charCodeAt(i)] = i;
const UUID_BYTES = new Uint8Array(16);

/**
 * A canonical UUID's 16 bytes (lowercase hex, dashes at 8, 13, 18, 23: what the engine stamps as
 * `spareId`) in unpadded base64url, 22 characters; undefined for anything else. By hand: with
 * `replaceAll`, `Buffer.from(hex)` and `toString('base64url')` it was most of a report's cost.
 */
function uuidBase64url(s: unknown): string | undefined {
  if (typeof s !== 'string' || s.length !== 36) return undefined;
  let b = 0;
  for (let i = 0; i < 36; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (s.charCodeAt(i) !== 45 /* - */) return undefined;
      i--;
      continue;
    }
    const hi = HEX[s.charCodeAt(i)] ?? -1;
    const lo = HEX[s.charCodeAt(i + 1)] ?? -1;
    if (hi < 0 || lo < 0) return undefined;
    UUID_BYTES[b++] = (hi << 4) | lo;
  }
  let out = '';
  for (let i = 0; i < 15; i += 3) {
    const n = (UUID_BYTES[i]! << 16) | (UUID_BYTES[i + 1]! << 8) | UUID_BYTES[i + 2]!;
    out +=
      BASE64URL[n >> 18]! +
      BASE64URL[(n >> 12) & 63]! +
      BASE64URL[(n >> 6) & 63]! +
      BASE64URL[n & 63]!;
  }
  const last = UUID_BYTES[15]!;
  return out + BASE64URL[last >> 2]! + BASE64URL[(last & 3) << 4]!;
}

/** A value as JSON inside an array (where JSON writes `null` for what it leaves out). */
const item = (v: unknown): string => JSON.stringify(v) ?? 'null';

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
  const spare = uuidBase64url(r.spareId);
  if (spare === undefined || !Number.isSafeInteger(r.at)) return JSON.stringify(event);
  // JSON.stringify of the CompactReport, written out: a safe integer's JSON is its String.
  const head = `["${REPORT}",${item(r.connectionId)},${item(r.status)},${r.at},"${spare}"`;
  if (r.ops === null) return `${head}]`;
  const { at, succeeded, failed, latencyP95 } = r.ops;
  if (!Number.isSafeInteger(at)) return JSON.stringify(event);
  return `${head},${r.at - at},${item(succeeded)},${item(failed)},${item(latencyP95)}]`;
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

/**
 * One stored journal entry (Keys.journal), its event decoded. The commit script keeps an event as
 * `{"v":<version>,"event":<text>}` (with `"t"`, the planning time, for a step that started
 * timers late: see planBatch), or, when its text is a JSON array (a compact report), as that
 * array with the version first: `[<version>,"R",...]`. Journals written before that keep compact
 * reports in the first form, and both are read. A compact report is given the id
 * `journal-<version>-<position>`: it is read only by a decision the replay makes where the
 * recorded run made none.
 */
export function decodeJournalEntry(text: string, position: number): JournalEntry {
  const entry = JSON.parse(text) as unknown;
  if (Array.isArray(entry)) {
    const v = entry[0] as number;
    return { v, event: decodeJournalEvent(entry.slice(1), `journal-${v}-${position}`) };
  }
  const e = entry as { v: number; event?: unknown; t?: number };
  if (!('event' in e)) return e as JournalEntry;
  const event = decodeJournalEvent(e.event, `journal-${e.v}-${position}`);
  return e.t === undefined ? { v: e.v, event } : { v: e.v, event, t: e.t };
}
