/**
 * What the workspace suites (test/http/workspaces*.test.ts) share: the real service on port 0,
 * real Redis under a per-test key prefix and a manual clock at T0, started and closed around each
 * test by `useServices()`, and the requests they make.
 *
 * A command or heartbeat is answered once everything it caused is committed (the chain of
 * actors); its effects (notifications, transcripts) run after that commit, and `settle()` waits
 * for them. Durable timers fire only when a test says so (`elapse`). Every response is checked
 * for the same invariants as in connections.test.ts: no bearer token in any body, errors in one
 * shape.
 */
import { afterEach, beforeEach, expect } from 'vitest';
import { OPERATOR, type TestService, checkInvariants, hb, startService } from '../helpers.ts';

export const SEC = 1000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
export const iso = (ms: number) => new Date(ms).toISOString();

export interface Res {
  status: number;
  body: any;
}

export let service: TestService;
/** Further processes on the same keys, closed after the test. */
export let others: TestService[] = [];

/** Starts the service before each test of the calling file and closes it (and `others`) after. */
export function useServices(): void {
  beforeEach(async () => {
    service = await startService();
    others = [];
  });
  afterEach(async () => {
    for (const s of others) await s.close();
    await service.close();
  });
}

export async function call(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = OPERATOR,
  svc: TestService = service,
): Promise<Res> {
  const res = await svc.api(method, path, body, token);
  checkInvariants(res);
  return res;
}

/** Waits for every pending workspace evaluation and effect of the given processes. */
export async function settle(...svcs: TestService[]): Promise<void> {
  for (const s of svcs.length ? svcs : [service]) {
    await s.engine.idle();
  }
}

/** Moves the clock, fires every durable timer now due, and lets evaluations finish. */
export async function elapse(ms: number, svc: TestService = service): Promise<void> {
  svc.clock.advance(ms);
  await svc.engine.fireDueTimers();
  await settle(svc);
}

export async function register(connectionId: string, workspaceId = 'ws-1', token = OPERATOR) {
  const res = await call(
    'POST',
    '/v1/connections',
    { connectionId, installationId: 'inst-a', workspaceId },
    token,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export async function handshake(connectionId: string) {
  const res = await call('POST', `/v1/connections/${connectionId}/handshake`, {
    protocolVersion: '1.2.0',
    negotiatedCapabilities: ['fs'],
  });
  expect(res.body.status).toBe('connected');
  await settle();
  return res.body;
}

export async function connect(connectionId: string, workspaceId = 'ws-1') {
  await register(connectionId, workspaceId);
  return handshake(connectionId);
}

export async function beat(connectionId: string, body: unknown, svc: TestService = service) {
  const res = await call('POST', `/v1/connections/${connectionId}/heartbeats`, body, OPERATOR, svc);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

export async function migrate(
  workspaceId: string,
  body: Record<string, unknown> = { toProtocol: 'acp', initiatedBy: 'operator' },
  token = OPERATOR,
) {
  const res = await call('POST', `/v1/workspaces/${workspaceId}/migrations`, body, token);
  await settle();
  return res;
}

export async function workspace(
  workspaceId = 'ws-1',
  token = OPERATOR,
  svc: TestService = service,
) {
  const res = await call('GET', `/v1/workspaces/${workspaceId}`, undefined, token, svc);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

export async function connection(connectionId: string) {
  const res = await call('GET', `/v1/connections/${connectionId}`);
  expect(res.status).toBe(200);
  return res.body;
}

type Stream = 'migrations' | 'rollbacks' | 'decisions';

export async function audit(
  stream: Stream,
  workspaceId = 'ws-1',
  query = '',
  svc: TestService = service,
): Promise<any[]> {
  const res = await call(
    'GET',
    `/v1/workspaces/${workspaceId}/${stream}${query}`,
    undefined,
    OPERATOR,
    svc,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items;
}

/** A workspace on ACP: its connections registered, migrated by the operator, handshaken. */
export async function acpWorkspace(workspaceId: string, connectionIds: string[]) {
  for (const id of connectionIds) await register(id, workspaceId);
  expect((await migrate(workspaceId)).status).toBe(201);
  for (const id of connectionIds) await handshake(id);
  expect((await workspace(workspaceId)).state).toBe('acp');
}

/**
 * One automatic rollback cycle on a workspace that is on HTTP: a new connection, an operator
 * migration back to ACP, then 90% success over 100 operations. The failures are stamped in the
 * minute the workspace went to ACP and decided a minute later, so the health window after the
 * rollback starts clean (see the same-minute test below for why that matters).
 */
export async function autoRollbackCycle(workspaceId: string, connectionId: string) {
  service.clock.advance(2 * MIN);
  const onAcpAt = service.clock.now();
  await connect(connectionId, workspaceId);
  expect((await migrate(workspaceId)).status).toBe(201);
  expect((await workspace(workspaceId)).state).toBe('acp');
  service.clock.advance(MIN);
  await beat(connectionId, hb(onAcpAt, 90, 10));
  await settle();
  expect((await workspace(workspaceId)).state).toBe('http.cooldown');
}
