/**
 * Plumbing for the hostile-input tests: raw HTTP requests (any method, path, header and body
 * bytes, with a timeout), a fingerprint of every Redis key under a prefix (to prove a refusal
 * wrote nothing), and a wait for everything a request caused to be committed.
 */
import { createHash } from 'node:crypto';
import { type IncomingHttpHeaders, request } from 'node:http';
import { Cluster, type Redis } from 'ioredis';
import { OPERATOR, type TestService, checkInvariants } from '../helpers.ts';
import { expect } from 'vitest';
import { METRICS } from '../../src/metrics/module.ts';

export interface RawRequest {
  method: string;
  /** Sent as is: may hold `..`, percent escapes, a query string. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  /** Answer headers, names in lower case. */
  headers: IncomingHttpHeaders;
  contentType: string;
  /** Parsed JSON, or null when the answer is not JSON (a stream, an empty body). */
  body: any;
  text: string;
}

/**
 * Sends one request with node:http (fetch normalises paths and refuses some headers). A stream
 * (`text/event-stream`) is answered as soon as its headers arrive, then closed. Rejects when no
 * answer completes within `timeoutMs`.
 */
export function send(baseUrl: string, req: RawRequest, timeoutMs = 5000): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers: req.headers ?? {},
        signal: AbortSignal.timeout(timeoutMs),
        // One connection per request: a stream left open cannot hold up the next request.
        agent: false,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const contentType = String(res.headers['content-type'] ?? '');
        if (contentType.startsWith('text/event-stream')) {
          res.destroy();
          resolve({ status, headers: res.headers, contentType, body: null, text: '' });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = null;
          if (contentType.includes('json') && text) body = JSON.parse(text);
          resolve({ status, headers: res.headers, contentType, body, text });
        });
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}

/** Escapes SCAN's glob characters so the prefix is matched literally. */
const literal = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');

/**
 * Every key under `${prefix}:` with a SHA-256 of its TYPE and DUMP (the serialized value, so any
 * change of content shows). On a cluster, every master is scanned. Compare with `diffKeys`.
 */
export async function snapshotKeys(
  redis: Redis | Cluster,
  prefix: string,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const node of nodes) {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${literal(prefix)}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const pipeline = node.pipeline();
    for (const key of keys) pipeline.type(key).dumpBuffer(key);
    const replies = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const type = String(replies[2 * i]?.[1]);
      const dump = (replies[2 * i + 1]?.[1] as Buffer | null) ?? Buffer.alloc(0);
      out.set(key, createHash('sha256').update(type).update('\0').update(dump).digest('hex'));
    });
  }
  return out;
}

/** Keys added, removed or changed between two snapshots (empty when nothing was written). */
export function diffKeys(before: Map<string, string>, after: Map<string, string>): string[] {
  const changed: string[] = [];
  for (const [key, sha] of after) if (before.get(key) !== sha) changed.push(key);
  for (const key of before.keys()) if (!after.has(key)) changed.push(key);
  return changed.sort();
}

/** Waits until every evaluation, effect and module write a request caused is committed. */
export async function settle(service: TestService): Promise<void> {
  await service.engine.idle();
  await service.modules.services.get(METRICS)?.idle();
}

/**
 * Sends `req` and returns the answer with the keys it changed under the service's prefix (after
 * everything it caused settled).
 */
export async function sendAndDiff(
  service: TestService,
  req: RawRequest,
  timeoutMs = 5000,
): Promise<RawResponse & { written: string[] }> {
  await settle(service);
  const before = await snapshotKeys(service.redis, service.prefix);
  const res = await send(service.url, req, timeoutMs);
  await settle(service);
  const after = await snapshotKeys(service.redis, service.prefix);
  return { ...res, written: diffKeys(before, after) };
}

/**
 * Sends `body`, text as written (a duplicated key stays duplicated), as JSON with the operator
 * token: the answer, held to the house invariants, and the keys it wrote.
 */
export async function sendJsonAndDiff(
  service: TestService,
  method: string,
  path: string,
  body: string,
): Promise<RawResponse & { written: string[] }> {
  const res = await sendAndDiff(service, {
    method,
    path,
    headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
    body,
  });
  checkInvariants(res);
  return res;
}

/** Registers `connectionId` (installation `inst-a`, workspace `ws-1`) and completes its handshake. */
export async function connectInstA(service: TestService, connectionId: string): Promise<void> {
  const reg = await service.api('POST', '/v1/connections', {
    connectionId,
    installationId: 'inst-a',
    workspaceId: 'ws-1',
  });
  expect(reg.status, JSON.stringify(reg.body)).toBe(201);
  const shake = await service.api('POST', `/v1/connections/${connectionId}/handshake`, {
    protocolVersion: '1.2.0',
    negotiatedCapabilities: ['fs'],
  });
  expect(shake.status, JSON.stringify(shake.body)).toBe(200);
  expect(shake.body.status).toBe('connected');
}

/** A route as the app registered it (`:param` segments unfilled). */
export interface Route {
  method: string;
  path: string;
}

/** Every route of the running app, built-in and modules', read from Express's router. */
export function routesOf(service: TestService): Route[] {
  const { router } = service.app as unknown as {
    router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
  };
  return router.stack.flatMap(({ route }) =>
    route
      ? Object.keys(route.methods).map((m) => ({ method: m.toUpperCase(), path: route.path }))
      : [],
  );
}
