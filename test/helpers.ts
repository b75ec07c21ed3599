import { expect } from 'vitest';
/**
 * Shared test plumbing: a real Redis at REDIS_URL (default 127.0.0.1:6379) or, in the vitest
 * project "cluster", the Redis Cluster at TEST_REDIS_CLUSTER_NODES; a unique key prefix per
 * test, and the real service started on port 0. Cleanup deletes only the test's own keys.
 */
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../src/store/client.ts';
import { ManualClock } from '../src/clock.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { type Service, start } from '../src/main.ts';
import type { AppModule } from '../src/module-context.ts';
import { RedisStore } from '../src/store/redis-store.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const OPERATOR = 'operator-token-for-tests-0001';
export const TOKEN_A = 'tenant-a-token-for-tests-0001';
export const TOKEN_B = 'tenant-b-token-for-tests-0001';
export const T0 = Date.parse('2026-11-25T12:00:00.000Z');

/**
 * A fresh key prefix for one test: `<root>:<name>:<random>`, the root `test` unless
 * TEST_KEY_PREFIX names another (runs sharing one Redis can keep their keys apart by it).
 */
export function testPrefix(name = 't'): string {
  return `${process.env.TEST_KEY_PREFIX ?? 'test'}:${name}:${randomBytes(6).toString('hex')}`;
}

/** Seed nodes of the cluster this test run targets, or null for the single Redis. */
export const CLUSTER_NODES: string[] | null =
  process.env.TEST_REDIS_TARGET === 'cluster'
    ? (process.env.TEST_REDIS_CLUSTER_NODES ?? '').split(',').filter(Boolean)
    : null;

/** A client of the Redis this run targets: the single node, or the cluster. */
export function realRedis(): RedisClient {
  if (CLUSTER_NODES) {
    return new Cluster(
      CLUSTER_NODES.map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })),
      { enableAutoPipelining: true, redisOptions: { maxRetriesPerRequest: 2 } },
    );
  }
  return new Redis(REDIS_URL, { enableAutoPipelining: true, maxRetriesPerRequest: 2 });
}

/** Deletes every key under `prefix` (and nothing else). */
export async function deletePrefix(redis: RedisClient, prefix: string): Promise<void> {
  await new RedisStore(redis, prefix).deleteAllOwnKeys();
}

export interface TestService extends Service {
  clock: ManualClock;
  prefix: string;
  redis: RedisClient;
  /** Sends a JSON request with the operator token unless `token` says otherwise (null: none). */
  api(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: any }>;
  /** Stops the service and deletes its keys (idempotent). */
  close(): Promise<void>;
  /**
   * Stops the service and disconnects, leaving every key in Redis: a "crash" or restart that
   * another service started on the same prefix (`startService({ KEY_PREFIX: s.prefix })`) picks
   * up. That later service's close() deletes the keys.
   */
  stopKeepingKeys(): Promise<void>;
}

/**
 * Starts the real service on real Redis with a manual clock and no background loops. Pass
 * `{ KEY_PREFIX: other.prefix }` to start a second process over the same keys.
 */
export async function startService(
  env: Record<string, string> = {},
  clock = new ManualClock(T0),
  /** Feature modules to run (default: every module in src/modules.ts). */
  modules?: AppModule[],
  /** The Redis client (default: the one this run targets); closed with the service. */
  redis: RedisClient = realRedis(),
): Promise<TestService> {
  const prefix = env.KEY_PREFIX ?? testPrefix();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    OPERATOR_TOKENS: OPERATOR,
    API_TOKENS: JSON.stringify([
      { token: TOKEN_A, installations: ['inst-a'] },
      { token: TOKEN_B, installations: ['inst-b'] },
    ]),
    ...env,
  });
  const service = await start({
    config,
    clock,
    redis,
    logger: silentLogger,
    background: false,
    ...(modules ? { modules } : {}),
  });
  const api: TestService['api'] = async (method, path, body, token = OPERATOR) => {
    // A fixed request id, so that answers can be compared whole (tenancy: no existence leak).
    const headers: Record<string, string> = { 'x-request-id': 'test-request' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(`${service.url}${path}`, { method, headers, body: payload });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  let stopped = false;
  const shutdown = async (deleteKeys: boolean) => {
    if (stopped) return;
    stopped = true;
    await service.stop();
    if (deleteKeys) await deletePrefix(redis, prefix);
    redis.disconnect();
  };
  return {
    ...service,
    clock,
    prefix,
    redis,
    api,
    close: () => shutdown(true),
    stopKeepingKeys: () => shutdown(false),
  };
}

/** A service (every module) with one connection registered: `c1` of `inst-a` in `ws-1`. */
export async function startWithConnection(): Promise<TestService> {
  const s = await startService();
  await s.api('POST', '/v1/connections', {
    connectionId: 'c1',
    installationId: 'inst-a',
    workspaceId: 'ws-1',
  });
  return s;
}

/** A heartbeat body at `at` (ms). */
export function hb(at: number, succeeded: number, failed = 0, latencyMs: number[] = []) {
  return { timestamp: new Date(at).toISOString(), succeeded, failed, latencyMs };
}

export const TOKENS = [OPERATOR, TOKEN_A, TOKEN_B];

/** What every API answer must satisfy: no token in it, and errors in the one house shape. */
export function checkInvariants(res: { status: number; body: any }): void {
  const text = JSON.stringify(res.body);
  for (const token of TOKENS) expect(text).not.toContain(token);
  if (res.status >= 400) {
    const error = res.body?.error;
    expect(Object.keys(error as object).sort()).toEqual([
      'code',
      'details',
      'message',
      'requestId',
    ]);
    expect(error.message).toBeTypeOf('string');
    expect(error.details).toBeTypeOf('object');
  }
}

/** An error answer with this status and code that names `field` in its details and message. */
/**
 * The field names an error points at. A validation error names them only in
 * `details.fields[].field`, with `details.in` (the README's promise for every 400 that names a
 * field); other errors (404, 403, 409) may name one in `details.field`.
 */
export function namedFields(error: any): string[] {
  // One entry per field: an entry naming several (`foo, bar`) is not one of the names.
  const fields: string[] = (error?.details?.fields ?? []).map((f: any) => String(f.field));
  if (error?.code === 'validation-failed') {
    expect(error.details?.field, 'a validation error names its fields in details.fields[]').toBe(
      undefined,
    );
    if (fields.length > 0) expect(typeof error.details.in).toBe('string');
  } else if (typeof error?.details?.field === 'string') {
    fields.push(error.details.field);
  }
  return fields;
}

export function expectError(
  res: { status: number; body: any },
  status: number,
  code: string,
  field?: string,
): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  if (field !== undefined) {
    expect(namedFields(res.body.error)).toContain(field);
    expect(res.body.error.message).toContain(field);
  }
}
