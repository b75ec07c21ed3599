/**
 * The connection chart's model: concrete events for the traversal, the abstraction that keeps
 * it finite, and how each event is driven through the real system (HTTP API on real Redis;
 * delayed events by moving the injected clock to the durable timer's due time and letting the
 * engine fire it).
 */
import { expect } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import {
  type ConnectionContext,
  DEFAULT_CONNECTION_THRESHOLDS as D,
  connectionMachine,
} from '../../machines/connection.machine.ts';
import { windowStats } from '../../machines/shared/window.ts';
import { T0, type TestService, hb } from '../helpers.ts';
import { type ModelOptions, fireDurableTimer } from './paths.ts';

const after = (delay: string, state: string) => ({
  type: `xstate.after.${delay}.connection.${state}`,
  at: T0,
});

const events = [
  { type: 'HANDSHAKE', at: T0, protocolVersion: '1.0.0', negotiatedCapabilities: ['fs'] },
  { type: 'HANDSHAKE', at: T0, protocolVersion: '2.0.0', negotiatedCapabilities: [] },
  { type: 'HEARTBEAT', at: T0, receivedAt: T0, succeeded: 100_000, failed: 0, latencyMs: [] },
  { type: 'HEARTBEAT', at: T0, receivedAt: T0, succeeded: 985, failed: 15, latencyMs: [] },
  { type: 'HEARTBEAT', at: T0, receivedAt: T0, succeeded: 0, failed: 1000, latencyMs: [] },
  {
    type: 'HEARTBEAT',
    at: T0,
    receivedAt: T0,
    succeeded: 100,
    failed: 0,
    latencyMs: Array.from({ length: 100 }, () => 4000),
  },
  { type: 'DROPPED', at: T0, reason: 'socket closed' },
  { type: 'RECOVERED', at: T0 },
  // Driven through POST /v1/connections/:id/rollback, which marks the event manual.
  { type: 'ROLLBACK', at: T0, reason: 'operator rollback', manual: true },
  after('handshakeTimeout', 'connecting'),
  after('heartbeatTimeout', 'connected'),
  after('heartbeatTimeout', 'degraded'),
  after('reconnectBackoff', 'error'),
  after('reconnectTimeout', 'reconnecting'),
] as unknown as EventObject[];

const describeEvent = (e: EventObject): string => {
  const x = e as any;
  if (e.type === 'HANDSHAKE') return `HANDSHAKE(${x.protocolVersion})`;
  if (e.type === 'HEARTBEAT')
    return `HEARTBEAT(${x.succeeded}/${x.failed}${x.latencyMs.length ? ' slow' : ''})`;
  if (e.type.startsWith('xstate.after.')) return `after ${e.type.split('.')[2]}`;
  return e.type;
};

export const connectionModel: ModelOptions = {
  machine: connectionMachine,
  input: { connectionId: 'm1', installationId: 'inst-a', workspaceId: 'ws-m', at: T0 },
  events,
  describeEvent,
  // Metrics are abstracted to the health verdict; attempts stay exact (0..max, finite).
  serializeState: ({ chart }) => {
    const c = chart.context as ConnectionContext;
    return JSON.stringify([
      chart.value,
      c.health,
      c.reconnectAttempts,
      c.lastError?.category ?? null,
    ]);
  },
};

const ID = 'm1';

/** Registers the connection through the API (the chart's initial state). */
export async function setupConnection(svc: TestService): Promise<void> {
  const res = await svc.api('POST', '/v1/connections', {
    connectionId: ID,
    installationId: 'inst-a',
    workspaceId: 'ws-m',
  });
  expect(res.status).toBe(201);
}

/** Drives one model event through the real system. */
export async function driveConnection(svc: TestService, event: EventObject): Promise<void> {
  const e = event as any;
  const post = async (path: string, body: unknown) => {
    const res = await svc.api('POST', `/v1/connections/${ID}/${path}`, body);
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(200);
  };
  switch (event.type) {
    case 'HANDSHAKE':
      return post('handshake', {
        protocolVersion: e.protocolVersion,
        negotiatedCapabilities: e.negotiatedCapabilities,
      });
    case 'HEARTBEAT':
      return post('heartbeats', hb(e.at, e.succeeded, e.failed, e.latencyMs));
    case 'DROPPED':
      return post('dropped', { reason: e.reason });
    case 'RECOVERED':
      return post('recovered', {});
    case 'ROLLBACK':
      return post('rollback', { reason: e.reason });
  }
  // A delayed event: the engine must hold exactly this durable timer; move the clock to it.
  await fireDurableTimer(svc, { kind: 'connection', installationId: 'inst-a', id: ID }, event.type);
}

/** The persisted record must be in the chart's state with the chart's fields and timers. */
export async function checkConnection(
  svc: TestService,
  model: AnyMachineSnapshot,
  pendingTimers: string[],
): Promise<void> {
  const c = model.context as ConnectionContext;
  const res = await svc.api('GET', `/v1/connections/${ID}`);
  expect(res.status).toBe(200);
  const stats = windowStats(c.window, D.minSamples);
  expect(res.body).toMatchObject({
    status: String(model.value).replace(/[A-Z]/g, (x) => `-${x.toLowerCase()}`),
    health: c.health,
    reconnectAttempts: c.reconnectAttempts,
    rollbackTriggered: c.rollbackTriggered,
    protocolVersion: c.protocolVersion,
    sampleSize: stats.samples,
    successRate: stats.successRate,
    latencyP95: stats.latencyP95,
  });
  expect(res.body.lastError?.code ?? null).toBe(c.lastError?.code ?? null);
  expect(res.body.diagnostics.map((d: any) => `${d.from}>${d.to}:${d.cause}`)).toEqual(
    c.diagnostics.map((d) => `${kebab(d.from)}>${kebab(d.to)}:${d.cause}`),
  );
  const timers = await svc.store.timersOf({ kind: 'connection', installationId: 'inst-a', id: ID });
  expect(timers.map((t) => t.sendId).sort()).toEqual([...pendingTimers].sort());
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (x) => `-${x.toLowerCase()}`);
