/**
 * Many registered connections: registration throughput through the public API, and the
 * lost-update check read back page by page (GET /v1/connections, 500 a page) instead of one GET
 * per connection.
 *
 * Layout: connection `bench-s<i>` belongs to installation `bench-si-<i / 1000>` and workspace
 * `bench-sw-<i / 50>`: 1,000 connections per installation, 50 per workspace, so a workspace
 * snapshot stays the size a real workspace has, whatever the total.
 */
import { Agent, request } from 'node:http';
import { type LostUpdateCheck, tally } from './api.ts';
import type { Ledger } from './load.ts';

export const PER_INSTALLATION = 1000;
export const PER_WORKSPACE = 50;

export interface ConnectionSpec {
  connectionId: string;
  installationId: string;
  workspaceId: string;
}

/** The i-th connection of a layout named `tag` (`s`: scale, `k`: cluster, ...). */
export function scaleSpec(
  i: number,
  tag = 's',
  perInstallation = PER_INSTALLATION,
): ConnectionSpec {
  return {
    connectionId: `bench-${tag}${i}`,
    installationId: `bench-${tag}i-${Math.floor(i / perInstallation)}`,
    workspaceId: `bench-${tag}w-${Math.floor(i / PER_WORKSPACE)}`,
  };
}

/** A tiny keep-alive JSON client (fetch costs the load generator several times more CPU). */
export class Client {
  readonly #agent: Agent;
  readonly #url: URL;
  constructor(
    baseUrl: string,
    readonly token: string,
    width: number,
  ) {
    this.#url = new URL(baseUrl);
    this.#agent = new Agent({ keepAlive: true, maxSockets: width });
  }

  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const text = body === undefined ? '' : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.#agent,
          host: this.#url.hostname,
          port: this.#url.port,
          method,
          path,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(body === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: res.statusCode ?? 0, body: JSON.parse(raw) });
            } catch {
              resolve({ status: res.statusCode ?? 0, body: raw });
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(text);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** Runs `fn` over `items` with at most `width` calls in flight. */
export async function pool<T>(
  items: readonly T[],
  width: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

export interface RegistrationResult {
  connections: number;
  failures: number;
  /** The first few failure bodies. */
  samples: string[];
}

/**
 * Registers and handshakes every spec, `width` connections in flight; with several clients the
 * registration goes to one and the handshake to the next (round robin), so the handshake lands
 * on a process that did not cache the new connection.
 */
export async function registerSpecs(
  clients: readonly Client[],
  specs: readonly ConnectionSpec[],
  width: number,
): Promise<RegistrationResult> {
  const out: RegistrationResult = { connections: 0, failures: 0, samples: [] };
  const fail = (what: string, r: { status: number; body: unknown }) => {
    out.failures++;
    if (out.samples.length < 5) out.samples.push(`${what} ${r.status} ${JSON.stringify(r.body)}`);
  };
  await pool(specs, width, async (spec, i) => {
    const a = clients[i % clients.length]!;
    const b = clients[(i + 1) % clients.length]!;
    const reg = await a.call('POST', '/v1/connections', spec);
    if (reg.status !== 201) return fail('register', reg);
    const hs = await b.call('POST', `/v1/connections/${spec.connectionId}/handshake`, {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: ['fs'],
    });
    if (hs.status !== 200) return fail('handshake', hs);
    out.connections++;
  });
  return out;
}

/**
 * The lost-update check of bench/api.ts, read through the list endpoint: every installation of
 * `ids` page by page, compared with the ledger.
 */
export async function checkByList(
  client: Client,
  installations: readonly string[],
  ids: ReadonlySet<string>,
  ledger: Ledger,
): Promise<LostUpdateCheck> {
  const check: LostUpdateCheck = {
    expected: 0,
    actual: 0,
    lost: 0,
    appliedUnacked: 0,
    unexplained: 0,
    statuses: {},
  };
  const seen = new Set<string>();
  await pool(installations, 8, async (installationId) => {
    let cursor: string | null = null;
    do {
      const q = `/v1/connections?installationId=${installationId}&limit=500${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await client.call('GET', q);
      if (page.status !== 200) throw new Error(`GET ${q} answered ${page.status}`);
      const body = page.body as {
        items: { connectionId: string; sampleSize: number; status: string }[];
        nextCursor: string | null;
      };
      for (const { connectionId, sampleSize, status } of body.items) {
        if (!ids.has(connectionId)) continue;
        seen.add(connectionId);
        tally(check, ledger, connectionId, sampleSize, status);
      }
      cursor = body.nextCursor;
    } while (cursor);
  });
  // A connection the list did not return at all is a lost connection, counted as lost updates.
  for (const id of ids) {
    if (seen.has(id)) continue;
    check.statuses.missing = (check.statuses.missing ?? 0) + 1;
    check.expected += ledger.acked.get(id) ?? 0;
    check.lost += ledger.acked.get(id) ?? 0;
  }
  return check;
}
