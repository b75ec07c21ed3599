/**
 * Plain fetch calls against the service for setup and verification: registering and
 * handshaking the benchmark connections, and reading them back for the lost-update check.
 */
import type { Ledger } from './load.ts';

/** Runs `fn` over `items` with at most `width` calls in flight. */
async function pool<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>) {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

async function call(
  baseUrl: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/** Registers and handshakes every connection; any failure aborts the benchmark. */
export async function registerAll(baseUrl: string, token: string, ids: readonly string[]) {
  await pool([...ids.entries()], 32, async ([i, connectionId]) => {
    await call(baseUrl, token, 'POST', '/v1/connections', {
      connectionId,
      installationId: 'bench-inst',
      workspaceId: `bench-ws-${i % 20}`,
    });
    await call(baseUrl, token, 'POST', `/v1/connections/${connectionId}/handshake`, {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: ['fs'],
    });
  });
}

export interface LostUpdateCheck {
  /** Heartbeats acknowledged with 2xx, over every phase so far. */
  expected: number;
  /** Sum of sampleSize over all connections, read back from the service. */
  actual: number;
  /** Acknowledged heartbeats missing from the stored state (must be 0). */
  lost: number;
  /** Applied heartbeats whose response was cut off when autocannon stopped (harmless). */
  appliedUnacked: number;
  /** Stored samples beyond anything ever sent (must be 0; would mean double application). */
  unexplained: number;
  /** Connection status -> count, to spot connections that left `connected`. */
  statuses: Record<string, number>;
}

/**
 * Compares the ledger with each connection's `sampleSize` (one sample per heartbeat, since each
 * has succeeded=1; exact while the whole run stays inside the one-hour window).
 */
export async function checkLostUpdates(
  baseUrl: string,
  token: string,
  ids: readonly string[],
  ledger: Ledger,
): Promise<LostUpdateCheck> {
  const records = await pool(
    ids,
    32,
    (id) =>
      call(baseUrl, token, 'GET', `/v1/connections/${id}`) as Promise<{
        sampleSize: number;
        status: string;
      }>,
  );
  const check: LostUpdateCheck = {
    expected: 0,
    actual: 0,
    lost: 0,
    appliedUnacked: 0,
    unexplained: 0,
    statuses: {},
  };
  ids.forEach((id, i) => {
    const { sampleSize, status } = records[i]!;
    tally(check, ledger, id, sampleSize, status);
  });
  return check;
}

/** Adds one connection's record to the check: what its heartbeats' answers say it must hold. */
export function tally(
  check: LostUpdateCheck,
  ledger: Ledger,
  id: string,
  sampleSize: number,
  status: string,
): void {
  const acked = ledger.acked.get(id) ?? 0;
  const sent = ledger.sent.get(id) ?? 0;
  check.expected += acked;
  check.actual += sampleSize;
  check.lost += Math.max(0, acked - sampleSize);
  check.appliedUnacked += Math.max(0, Math.min(sampleSize, sent) - acked);
  check.unexplained += Math.max(0, sampleSize - sent);
  check.statuses[status] = (check.statuses[status] ?? 0) + 1;
}
