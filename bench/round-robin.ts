/**
 * A closed-loop load driver that sends each request to the NEXT server, like a round-robin load
 * balancer in front of several processes (autocannon pins each client to one server). It takes
 * the same request definitions as autocannon (bench/load.ts), so the ledger and the lost-update
 * check work unchanged.
 *
 * The turn advances once per request and shifts by one every `lap` requests, so a connection
 * that comes back every `lap` requests (the rotation) alternates between the servers instead of
 * always landing on the same one.
 */
import { Agent, request } from 'node:http';
import type autocannon from 'autocannon';
import type { LoadResult } from './load.ts';

export interface RoundRobinOptions {
  urls: string[];
  /** Requests in flight at once (closed loop: each client waits for its answer). */
  clients: number;
  headers: Record<string, string>;
  requests: autocannon.Request[];
  /** Requests per full lap of the rotation (1,000 ids one per request: 1,000; x100: 10). */
  lap: number;
}

const is2xx = (status: number) => status >= 200 && status < 300;

function post(
  agent: Agent,
  url: URL,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A driver for {@link measure}: `clients` loops, each request to the next server in turn. */
export function roundRobinDriver(o: RoundRobinOptions): {
  drive: (seconds: number) => Promise<LoadResult>;
  close: () => void;
} {
  const targets = o.urls.map((u) => ({
    url: new URL(u),
    agent: new Agent({ keepAlive: true, maxSockets: o.clients }),
  }));
  const [def] = o.requests;
  const setup = def?.setupRequest;
  const onResponse = def?.onResponse;
  if (typeof setup !== 'function' || typeof onResponse !== 'function') {
    throw new Error('round robin takes one request definition with setupRequest and onResponse');
  }
  let turn = 0;
  const close = () => {
    for (const t of targets) t.agent.destroy();
  };
  const drive = async (seconds: number): Promise<LoadResult> => {
    const deadline = Date.now() + seconds * 1000;
    const result: LoadResult = {
      durationS: seconds,
      requests: 0,
      reqPerSec: 0,
      statusCodes: {},
      latencies: [],
      non2xx: 0,
      errors: 0,
      timeouts: 0,
    };
    const started = process.hrtime.bigint();
    const client = async () => {
      while (Date.now() < deadline) {
        const t = turn++;
        const target = targets[(t + Math.floor(t / o.lap)) % targets.length]!;
        const built = setup({}, {}) as { path?: string; body: string };
        const path = built.path ?? def!.path ?? '/';
        const begin = process.hrtime.bigint();
        try {
          const res = await post(target.agent, target.url, path, o.headers, built.body);
          const ms = Number(process.hrtime.bigint() - begin) / 1e6;
          result.requests++;
          result.statusCodes[res.status] = (result.statusCodes[res.status] ?? 0) + 1;
          if (is2xx(res.status)) result.latencies.push(ms);
          else result.non2xx++;
          onResponse(res.status, res.body, {}, undefined);
        } catch {
          result.errors++;
        }
      }
    };
    await Promise.all(Array.from({ length: o.clients }, client));
    result.durationS = Number(process.hrtime.bigint() - started) / 1e9;
    result.reqPerSec = result.requests / result.durationS;
    return result;
  };
  return { drive, close };
}
