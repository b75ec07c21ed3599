/**
 * What the connection suites (test/http/connections*.test.ts) share: the real app on port 0,
 * real Redis under a per-test key prefix and a manual clock at T0, started and closed around each
 * test by `useService()`. Every response any test receives is checked for two invariants (see
 * `call`): no bearer token ever appears in a body, and every error has the shape
 * `{ error: { code, message, details } }`.
 */
import { afterEach, beforeEach, expect } from 'vitest';
import {
  OPERATOR,
  TOKEN_A,
  TOKEN_B,
  type TestService,
  namedFields,
  startService,
} from '../helpers.ts';

export const TOKENS = [OPERATOR, TOKEN_A, TOKEN_B];

export interface Res {
  status: number;
  body: any;
}

export let service: TestService;

/** Starts the service before each test of the calling file and closes it after. */
export function useService(): void {
  beforeEach(async () => {
    service = await startService();
  });
  afterEach(async () => {
    await service.close();
  });
}

/** Asserts what must hold for every response: no token in the body, errors in one shape. */
export function checkInvariants(res: Res): void {
  const text = JSON.stringify(res.body);
  for (const token of TOKENS) expect(text).not.toContain(token);
  if (res.status >= 400) expectErrorShape(res.body?.error, res.body);
}

export function expectErrorShape(error: any, whole: unknown = error): void {
  expect(whole, 'error body').toBeTypeOf('object');
  expect(error, 'error envelope').toBeTypeOf('object');
  expect(Object.keys(error as object).sort()).toEqual(['code', 'details', 'message', 'requestId']);
  expect(error.code).toBeTypeOf('string');
  expect(error.message).toBeTypeOf('string');
  expect(error.message.length).toBeGreaterThan(0);
  expect(error.details).toBeTypeOf('object');
  expect(error.details).not.toBeNull();
}

/** A real request through the running service, checked against the invariants. */
export async function call(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = OPERATOR,
) {
  const res = await service.api(method, path, body, token);
  checkInvariants(res);
  return res;
}

/** A request with a raw body and headers, for what `api` cannot express. */
export async function raw(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Res & { contentType: string | null }> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${OPERATOR}`,
      'content-type': 'application/json',
      ...headers,
    },
    body,
  });
  const text = await res.text();
  const out = {
    status: res.status,
    body: text ? JSON.parse(text) : null,
    contentType: res.headers.get('content-type'),
  };
  checkInvariants(out);
  return out;
}

export function expectError(res: Res, status: number, code: string, field?: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expectErrorShape(res.body?.error, res.body);
  expect(res.body.error.code).toBe(code);
  if (field !== undefined) {
    expect(namedFields(res.body.error)).toContain(field);
    expect(res.body.error.message).toContain(field);
  }
}

export async function register(
  connectionId: string,
  installationId = 'inst-a',
  workspaceId = 'ws-1',
  token: string = OPERATOR,
) {
  const res = await call(
    'POST',
    '/v1/connections',
    { connectionId, installationId, workspaceId },
    token,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export async function handshake(connectionId: string, protocolVersion = '1.2.0') {
  return call('POST', `/v1/connections/${connectionId}/handshake`, {
    protocolVersion,
    negotiatedCapabilities: ['fs', 'terminal'],
  });
}

/** Registers and completes the handshake: a connection in `connected`. */
export async function connect(
  connectionId: string,
  installationId = 'inst-a',
  workspaceId = 'ws-1',
) {
  await register(connectionId, installationId, workspaceId);
  const res = await handshake(connectionId);
  expect(res.body.status).toBe('connected');
  return res.body;
}

export async function get(connectionId: string) {
  const res = await call('GET', `/v1/connections/${connectionId}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

export async function heartbeat(connectionId: string, body: unknown, token: string = OPERATOR) {
  return call('POST', `/v1/connections/${connectionId}/heartbeats`, body, token);
}

/** Every connection the operator can see, as sorted ids with their versions. */
export async function snapshotAll(): Promise<string[]> {
  const res = await call('GET', '/v1/connections?limit=500');
  expect(res.status).toBe(200);
  return (res.body.items as any[]).map((c) => `${c.connectionId}@${c.version}`).sort();
}

export const SEED_FIELDS = [
  'connectionId',
  'installationId',
  'workspaceId',
  'status',
  'protocolVersion',
  'negotiatedCapabilities',
  'successRate',
  'latencyP95',
  'throughputPerMin',
  'lastHeartbeat',
  'rollbackTriggered',
  'diagnostics',
];
