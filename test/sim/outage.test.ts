/**
 * `npm run simulate --url` against a service whose Redis is unavailable for a while: the service
 * answers `503 store-unavailable` with `Retry-After` (README "Outages"), and the simulator, a
 * reference client, sends the request again with the same ids instead of giving up on the
 * container. A proxy in front of a real service plays the outage.
 */
import { type IncomingMessage, type Server, createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulate } from '../../sim/simulate.ts';
import { ManualClock } from '../../src/clock.ts';
import { OPERATOR, type TestService, startService } from '../helpers.ts';

const UNAVAILABLE = JSON.stringify({
  error: { code: 'store-unavailable', message: 'Redis did not answer in time', details: {} },
});

/** A proxy to `target` that answers 503 store-unavailable where `refuse` says so. */
async function outageProxy(
  target: string,
  refuse: (req: IncomingMessage) => boolean,
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (refuse(req)) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(UNAVAILABLE);
        return;
      }
      const headers: Record<string, string> = { authorization: req.headers.authorization ?? '' };
      if (req.headers['content-type']) headers['content-type'] = req.headers['content-type'];
      void fetch(`${target}${req.url}`, {
        method: req.method!,
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      }).then(async (upstream) => {
        res.writeHead(upstream.status, {
          'content-type': upstream.headers.get('content-type') ?? 'application/json',
        });
        res.end(Buffer.from(await upstream.arrayBuffer()));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describe('npm run simulate --url while the service answers 503 store-unavailable', () => {
  let service: TestService;
  const proxies: Server[] = [];
  beforeAll(async () => {
    // The fleet stamps heartbeats with the real time: the service's clock starts there too.
    service = await startService({}, new ManualClock(Date.now()));
  });
  afterAll(async () => {
    for (const p of proxies) p.close();
    await service.close();
  });

  it('retries after Retry-After with the same ids: a short outage loses no container', async () => {
    let refused = { register: 0, heartbeat: 0 };
    const proxy = await outageProxy(service.url, (req) => {
      if (req.method !== 'POST') return false;
      const kind =
        req.url === '/v1/connections'
          ? 'register'
          : /\/heartbeats$/.test(req.url!)
            ? 'heartbeat'
            : null;
      if (kind === null || refused[kind] >= 3) return false;
      refused = { ...refused, [kind]: refused[kind] + 1 };
      return true;
    });
    proxies.push(proxy.server);
    const report = await simulate({
      scenario: 'steady',
      url: proxy.url,
      token: OPERATOR,
      containers: 3,
      rounds: 1,
      intervalMs: 10,
    });
    expect(refused).toEqual({ register: 3, heartbeat: 3 });
    expect(report.connections.final).toEqual({ connected: 3 });
    expect(report.heartbeats.sent).toBe(3);
    expect(report.requests.byStatus['503']).toBe(6);
    expect(report.requests.errorCodes).toEqual({ 'store-unavailable': 6 });
  });

  it('ends the run with an error naming the 503 once the service answered nothing else for the retry window', async () => {
    // Up for the token check, then down for good.
    const proxy = await outageProxy(service.url, (req) => !req.url!.endsWith('/dead-letters'));
    proxies.push(proxy.server);
    const run = simulate({
      scenario: 'steady',
      url: proxy.url,
      token: OPERATOR,
      containers: 3,
      rounds: 3,
      intervalMs: 10,
      retryWindowMs: 1500,
    });
    await expect(run).rejects.toThrow(
      new RegExp(
        `^the service at ${proxy.url} answered only 503 store-unavailable for \\d+ s \\(last: [A-Z]+ /v1/[^)]*: Redis did not answer in time\\); is its Redis up\\?$`,
      ),
    );
  });
});
