/**
 * The connection chart, stepped as the engine steps it: its lifecycle (shared set-up and helpers:
 * connection.machine.helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CONNECTION_THRESHOLDS as D,
  createConnectionMachine,
} from '../../machines/connection.machine.ts';
import { Stepper } from '../../src/engine/step.ts';
import { T0, AFTER, harness } from './connection.machine.helpers.ts';

describe('connection chart', () => {
  describe('connecting', () => {
    it('starts in connecting with the handshake timeout pending', () => {
      const h = harness();
      expect(h.state).toBe('connecting');
      expect(h.timers.get(AFTER('handshakeTimeout', 'connecting'))).toBe(D.handshakeTimeoutMs);
    });

    it('moves to connected after a handshake in the supported range and records what was negotiated', () => {
      const h = harness().handshake('1.4.2');
      expect(h.state).toBe('connected');
      expect(h.context).toMatchObject({
        protocolVersion: '1.4.2',
        negotiatedCapabilities: ['fs', 'terminal'],
      });
      expect(h.timers.has(AFTER('handshakeTimeout', 'connecting'))).toBe(false);
      expect(h.context.diagnostics.at(-1)).toMatchObject({
        from: 'connecting',
        to: 'connected',
        cause: 'handshake-complete',
      });
    });

    it('fails the negotiation with a recorded reason for a version outside the range', () => {
      const h = harness().handshake('2.0.0');
      expect(h.state).toBe('error');
      expect(h.context.protocolVersion).toBeNull();
      expect(h.context.lastError).toMatchObject({
        code: 'protocol-version-unsupported',
        category: 'protocol',
      });
      expect(h.context.lastError?.message).toContain('^1.0.0');
    });

    it('does not retry a protocol failure automatically', () => {
      const h = harness().handshake('0.9.0');
      h.fire(AFTER('reconnectBackoff', 'error'));
      expect(h.state).toBe('error');
    });

    it('fails when the handshake does not arrive in time', () => {
      const h = harness().fire(AFTER('handshakeTimeout', 'connecting'));
      expect(h.state).toBe('error');
      expect(h.context.lastError?.code).toBe('handshake-timeout');
    });

    it('goes to error when the connection drops before the handshake', () => {
      expect(harness().send({ type: 'DROPPED', reason: 'socket closed' }).state).toBe('error');
    });

    it('ignores heartbeats before the handshake', () => {
      const h = harness();
      const before = h.snapshot;
      h.heartbeat(10);
      expect(h.snapshot).toBe(before);
    });
  });

  describe('connected', () => {
    it('records a heartbeat timestamped ahead of its receipt as received, not as its timestamp', () => {
      const h = harness()
        .handshake()
        .heartbeat(10, 0, [], T0 + 240_000, T0);
      expect(h.context.lastHeartbeat).toBe(T0);
      // The operations still count at the client's time.
      expect(h.context.window.head).toBe(Math.floor((T0 + 240_000) / 60_000));
      expect(h.context.window.okTotal).toBe(10);
      h.heartbeat(1, 0, [], T0 + 1_000, T0 + 2_000);
      expect(h.context.lastHeartbeat).toBe(T0 + 1_000);
    });

    it('records heartbeats and restarts the heartbeat timeout on each one', () => {
      const h = harness().handshake().heartbeat(10, 0, [12]);
      expect(h.state).toBe('connected');
      expect(h.context.lastHeartbeat).toBe(T0);
      expect(h.actions.map((a) => a.type)).toEqual([
        'xstate.cancel',
        'xstate.emit',
        'xstate.raise',
      ]);
      expect(h.timers.get(AFTER('heartbeatTimeout', 'connected'))).toBe(D.heartbeatTimeoutMs);
    });

    it('keeps the state while the success rate has insufficient data', () => {
      const h = harness().handshake().heartbeat(0, 99);
      expect(h.state).toBe('connected');
      expect(h.context.health).toBe('insufficient-data');
    });

    it('degrades when the success rate falls below the degraded threshold but stays tolerable', () => {
      const h = harness().handshake().heartbeat(985, 15);
      expect(h.state).toBe('degraded');
      expect(h.context.diagnostics.at(-1)).toMatchObject({
        from: 'connected',
        to: 'degraded',
        cause: 'health-degraded',
        samples: 1000,
      });
    });

    it('degrades when p95 latency rises above the threshold', () => {
      const h = harness()
        .handshake()
        .heartbeat(
          100,
          0,
          Array.from({ length: 100 }, () => 4000),
        );
      expect(h.state).toBe('degraded');
    });

    it('treats a missed heartbeat timeout as a dropped connection', () => {
      const h = harness().handshake().fire(AFTER('heartbeatTimeout', 'connected'));
      expect(h.state).toBe('error');
      expect(h.context.lastError).toMatchObject({
        code: 'heartbeat-timeout',
        category: 'connection',
      });
    });

    it('goes to error when the connection drops', () => {
      const h = harness().handshake().send({ type: 'DROPPED', reason: 'EOF' });
      expect(h.state).toBe('error');
      expect(h.context.lastError?.message).toContain('EOF');
    });

    it('passes through degraded on its way to error when the rate collapses at once', () => {
      const h = harness().handshake().heartbeat(50, 50);
      expect(h.state).toBe('error');
      expect(h.context.diagnostics.slice(-2).map((d) => d.to)).toEqual(['degraded', 'error']);
    });
  });

  describe('degraded', () => {
    const degraded = () => harness().handshake().heartbeat(985, 15);

    it('goes to error when the success rate falls below the error threshold', () => {
      const h = degraded().heartbeat(0, 200);
      expect(h.state).toBe('error');
      expect(h.context.lastError).toMatchObject({
        code: 'success-rate-below-threshold',
        category: 'application',
      });
    });

    it('returns to connected when health is restored', () => {
      const h = degraded().heartbeat(10_000, 0);
      expect(h.state).toBe('connected');
      expect(h.context.diagnostics.at(-1)).toMatchObject({
        from: 'degraded',
        to: 'connected',
        cause: 'health-restored',
      });
    });

    it('stays degraded while health is still degraded', () => {
      expect(degraded().heartbeat(99, 1).state).toBe('degraded');
    });

    it('restarts the heartbeat timeout on each heartbeat', () => {
      const h = degraded().heartbeat(99, 1, [], T0 + 60_000);
      expect(h.state).toBe('degraded');
      expect(h.actions.map((a) => a.type)).toEqual([
        'xstate.cancel',
        'xstate.emit',
        'xstate.raise',
      ]);
      expect(h.timers.get(AFTER('heartbeatTimeout', 'degraded'))).toBe(D.heartbeatTimeoutMs);
    });

    it('treats a missed heartbeat timeout as a drop', () => {
      expect(degraded().fire(AFTER('heartbeatTimeout', 'degraded')).state).toBe('error');
    });

    it('goes to error when the connection drops', () => {
      expect(degraded().send({ type: 'DROPPED' }).state).toBe('error');
    });
  });

  describe('error and reconnecting', () => {
    const failed = () => harness().handshake().send({ type: 'DROPPED' });

    it('tries to reconnect after the backoff and asks the transport to reconnect', () => {
      const h = failed();
      expect(h.timers.get(AFTER('reconnectBackoff', 'error'))).toBe(D.reconnectBaseDelayMs);
      h.fire(AFTER('reconnectBackoff', 'error'));
      expect(h.state).toBe('reconnecting');
      expect(h.context.reconnectAttempts).toBe(1);
      expect(h.actions).toContainEqual({
        type: 'requestReconnect',
        params: { connectionId: 'c1', attempt: 1 },
      });
    });

    it('returns to connected when the reconnect succeeds and resets the attempts', () => {
      const h = failed().fire(AFTER('reconnectBackoff', 'error')).send({ type: 'RECOVERED' });
      expect(h.state).toBe('connected');
      expect(h.context.reconnectAttempts).toBe(0);
      expect(h.context.lastError).toBeNull();
    });

    it('backs off exponentially and stays in error once attempts are exhausted', () => {
      const h = failed();
      const delays: number[] = [];
      for (let i = 0; i < D.maxReconnectAttempts; i++) {
        delays.push(h.timers.get(AFTER('reconnectBackoff', 'error'))!);
        h.fire(AFTER('reconnectBackoff', 'error'));
        expect(h.state).toBe('reconnecting');
        h.fire(AFTER('reconnectTimeout', 'reconnecting'));
        expect(h.state).toBe('error');
      }
      expect(delays).toEqual([1000, 2000, 4000, 8000, 16000]);
      h.fire(AFTER('reconnectBackoff', 'error'));
      expect(h.state).toBe('error');
      expect(h.context.reconnectAttempts).toBe(D.maxReconnectAttempts);
    });

    it('goes back to error when the connection drops while reconnecting', () => {
      const h = failed().fire(AFTER('reconnectBackoff', 'error')).send({ type: 'DROPPED' });
      expect(h.state).toBe('error');
    });

    it('keeps counting operations reported while in error', () => {
      const h = failed().heartbeat(5, 1);
      expect(h.state).toBe('error');
      expect(h.context.window.okTotal + h.context.window.koTotal).toBe(6);
    });

    it('keeps counting operations reported while reconnecting', () => {
      const h = failed().fire(AFTER('reconnectBackoff', 'error')).heartbeat(7, 0);
      expect(h.state).toBe('reconnecting');
      expect(h.context.window.okTotal).toBe(7);
    });
  });

  describe('rolledBack', () => {
    const states: Record<string, () => ReturnType<typeof harness>> = {
      connecting: () => harness(),
      connected: () => harness().handshake(),
      degraded: () => harness().handshake().heartbeat(985, 15),
      error: () => harness().handshake().send({ type: 'DROPPED' }),
      reconnecting: () =>
        harness().handshake().send({ type: 'DROPPED' }).fire(AFTER('reconnectBackoff', 'error')),
    };
    for (const [from, make] of Object.entries(states)) {
      it(`rolls back from ${from}, marks rollbackTriggered and schedules the transport change`, () => {
        const h = make();
        expect(h.state).toBe(from);
        h.send({ type: 'ROLLBACK', reason: 'workspace-rollback' });
        expect(h.state).toBe('rolledBack');
        expect(h.snapshot.status).toBe('done');
        expect(h.context).toMatchObject({
          rollbackTriggered: true,
          rollbackReason: 'workspace-rollback',
        });
        expect(h.actions).toContainEqual({
          type: 'scheduleTransportChange',
          params: { connectionId: 'c1', workspaceId: 'w1', reason: 'workspace-rollback' },
        });
        expect(h.context.diagnostics.at(-1)).toMatchObject({ from, to: 'rolledBack' });
        // Leaving a state cancels every timer it had scheduled.
        expect(h.timers.size).toBe(0);
      });
    }

    it('accepts nothing once rolled back', () => {
      const h = harness().send({ type: 'ROLLBACK', reason: 'x' });
      const done = structuredClone({ value: h.snapshot.value, context: h.context });
      h.heartbeat(1).send({ type: 'ROLLBACK', reason: 'again' });
      expect({ value: h.snapshot.value, context: h.context }).toEqual(done);
      expect(h.actions).toEqual([]);
    });
  });

  describe('persistence', () => {
    it('survives a JSON round trip and keeps stepping from the restored snapshot', () => {
      const stepper = new Stepper(createConnectionMachine());
      const h = harness().handshake().heartbeat(985, 15, [10]);
      const restored = stepper.restore(JSON.parse(JSON.stringify(stepper.persist(h.snapshot))));
      expect(restored.value).toBe('degraded');
      expect(restored.context).toEqual(h.context);
      const next = stepper.step(restored, {
        type: 'HEARTBEAT',
        at: T0,
        receivedAt: T0,
        succeeded: 10_000,
        failed: 0,
        latencyMs: [],
      } as any);
      expect(next.snapshot.value).toBe('connected');
    });

    it('keeps only the last 50 diagnostics entries', () => {
      const h = harness().handshake();
      // Each pair lands in a fresh hour, so it degrades and then recovers: two entries per pair.
      for (let i = 0; i < 40; i++) {
        const at = T0 + i * 2 * 3_600_000;
        h.heartbeat(985, 15, [], at).heartbeat(100_000, 0, [], at);
      }
      expect(h.context.diagnostics).toHaveLength(50);
      expect(h.context.diagnostics.at(-1)).toMatchObject({
        to: 'connected',
        cause: 'health-restored',
      });
    });

    it('keeps the persisted snapshot far below the 32 KB payload limit', () => {
      const stepper = new Stepper(createConnectionMachine());
      const h = harness().handshake();
      for (let m = 0; m < 120; m++)
        h.heartbeat(985, 15, [5, 50, 500, 5000], T0 + m * 60_000).heartbeat(
          100_000,
          0,
          [],
          T0 + m * 60_000,
        );
      expect(JSON.stringify(stepper.persist(h.snapshot)).length).toBeLessThan(16 * 1024);
    });
  });
});
