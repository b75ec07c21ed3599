/**
 * Random commands for one connection's chart (fast-check), shared by the chart's property tests
 * and the snapshot codec's: heartbeats at event-time minutes after T0, the other commands, and
 * the chart's own timer events.
 */
import fc from 'fast-check';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import type { Stepper } from '../../src/engine/step.ts';
import { T0 } from '../helpers.ts';

const MIN = 60_000;

export const heartbeatCommand = fc.record({
  type: fc.constant('HEARTBEAT' as const),
  minute: fc.integer({ min: 0, max: 200 }),
  succeeded: fc.integer({ min: 0, max: 400 }),
  failed: fc.integer({ min: 0, max: 40 }),
  latencyMs: fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 20 }),
});

export const connectionCommand = fc.oneof(
  heartbeatCommand,
  heartbeatCommand,
  heartbeatCommand,
  fc.constantFrom(
    { type: 'HANDSHAKE', protocolVersion: '1.1.0', negotiatedCapabilities: ['fs'] },
    { type: 'HANDSHAKE', protocolVersion: '3.0.0', negotiatedCapabilities: [] },
    { type: 'DROPPED', reason: 'x' },
    { type: 'RECOVERED' },
    { type: 'ROLLBACK', reason: 'x' },
    { type: 'xstate.after.handshakeTimeout.connection.connecting' },
    { type: 'xstate.after.heartbeatTimeout.connection.connected' },
    { type: 'xstate.after.heartbeatTimeout.connection.degraded' },
    { type: 'xstate.after.reconnectBackoff.connection.error' },
    { type: 'xstate.after.reconnectTimeout.connection.reconnecting' },
  ),
);

export type ConnectionCommand = typeof connectionCommand extends fc.Arbitrary<infer C> ? C : never;

/** The chart event of a command: a heartbeat at its minute after T0 (received then), anything else at T0. */
export function eventOf(c: ConnectionCommand): EventObject & { at: number; receivedAt?: number } {
  if (c.type !== 'HEARTBEAT') return { ...c, at: T0 };
  const { minute, ...heartbeat } = c;
  return { ...heartbeat, at: T0 + minute * MIN, receivedAt: T0 + minute * MIN };
}

/** A new connection `id` of installation `i`, workspace `w`, created at T0. */
export function newConnection(stepper: Stepper, id = 'p'): AnyMachineSnapshot {
  return stepper.initial({ connectionId: id, installationId: 'i', workspaceId: 'w', at: T0 })
    .snapshot;
}
