import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import {
  ACTIVE_CONNECTION_STATUSES,
  type ConnectionContext,
  DEFAULT_CONNECTION_THRESHOLDS as D,
  createConnectionMachine,
} from '../../machines/connection.machine.ts';
import { windowStats } from '../../machines/shared/window.ts';
import { type PlannedAction, Stepper } from '../../src/engine/step.ts';

const T0 = Date.parse('2026-11-25T12:00:00.000Z');
const AFTER = (delay: string, state: string) => `xstate.after.${delay}.connection.${state}`;

/** Drives the pure chart the way the engine does, remembering the timers it asked for. */
function harness(thresholds = D) {
  const stepper = new Stepper(createConnectionMachine(thresholds));
  const initial = stepper.initial({
    connectionId: 'c1',
    installationId: 'i1',
    workspaceId: 'w1',
    at: T0,
  });
  let snapshot = initial.snapshot;
  const actions = initial.actions;
  let last: PlannedAction[] = actions;
  const timers = new Map<string, number>();
  const track = (acts: PlannedAction[]) => {
    for (const a of acts) {
      const p = a.params as any;
      if (a.type === 'xstate.raise' && typeof p.delay === 'number') timers.set(p.id, p.delay);
      if (a.type === 'xstate.cancel') timers.delete(p.sendId);
    }
  };
  track(actions);
  const h = {
    get state() {
      return snapshot.value as string;
    },
    get context() {
      return snapshot.context as ConnectionContext;
    },
    get snapshot(): AnyMachineSnapshot {
      return snapshot;
    },
    get actions() {
      return last;
    },
    timers,
    send(event: any) {
      const r = stepper.step(snapshot, { at: T0, ...event });
      snapshot = r.snapshot;
      last = r.actions;
      track(r.actions);
      return h;
    },
    /** Delivers a pending delayed event, as the engine's durable timer would. */
    fire(id: string) {
      expect(timers.has(id), `timer ${id} pending`).toBe(true);
      timers.delete(id);
      return h.send({ type: id });
    },
    handshake(version = '1.2.0') {
      return h.send({
        type: 'HANDSHAKE',
        protocolVersion: version,
        negotiatedCapabilities: ['fs', 'terminal'],
      });
    },
    heartbeat(succeeded: number, failed = 0, latencyMs: number[] = [], at = T0) {
      return h.send({ type: 'HEARTBEAT', at, succeeded, failed, latencyMs });
    },
  };
  return h;
}

/** The events a step emitted for other actors (the engine routes them by `to`). */
const emittedBy = (h: { actions: PlannedAction[] }) =>
  h.actions.filter((a) => a.type === 'xstate.emit').map((a) => (a.params as any).event);
const statusReport = (status: string) => ({
  type: 'CONNECTION_REPORT',
  to: { kind: 'workspace', id: 'w1' },
  connectionId: 'c1',
  status,
  ops: null,
});
const slot = (delta: number) => ({
  type: 'CONNECTION_ACTIVE',
  to: { kind: 'capacity', id: 'i1' },
  connectionId: 'c1',
  workspaceId: 'w1',
  delta,
});

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

describe('connection chart at its thresholds', () => {
  const lat = (n: number, ms: number) => Array.from({ length: n }, () => ms);

  it('degrades but does not fail at exactly the 95 % error rate, and fails just below it', () => {
    const at95 = harness().handshake().heartbeat(950, 50);
    expect(at95.state).toBe('degraded');
    expect(at95.context.health).toBe('degraded');
    const below = harness().handshake().heartbeat(949, 51);
    expect(below.state).toBe('error');
    expect(below.context.health).toBe('failing');
  });

  it('stays connected at exactly the 99.5 % degraded rate and degrades just below it', () => {
    expect(harness().handshake().heartbeat(995, 5).context.health).toBe('healthy');
    expect(harness().handshake().heartbeat(994, 6).state).toBe('degraded');
  });

  it('judges the success rate from exactly the minimum number of samples, not one fewer', () => {
    expect(harness().handshake().heartbeat(90, 10).state).toBe('error');
    const h = harness().handshake().heartbeat(89, 10);
    expect(h.state).toBe('connected');
    expect(h.context.health).toBe('insufficient-data');
  });

  it('degrades on high p95 latency from exactly the minimum number of latency samples', () => {
    expect(harness().handshake().heartbeat(0, 0, lat(100, 4000)).state).toBe('degraded');
    const few = harness().handshake().heartbeat(0, 0, lat(99, 4000));
    expect(few.state).toBe('connected');
    expect(few.context.health).toBe('insufficient-data');
  });

  it('degrades on latency alone while the success rate has too few samples to judge', () => {
    const h = harness().handshake().heartbeat(10, 0, lat(100, 4000));
    expect(h.state).toBe('degraded');
    expect(h.context.health).toBe('degraded');
  });

  it('treats a p95 exactly at the latency threshold as fine and one bucket above as high', () => {
    const t = { ...D, degradedLatencyP95Ms: 2500 };
    expect(harness(t).handshake().heartbeat(100, 0, lat(100, 2500)).context.health).toBe('healthy');
    expect(harness(t).handshake().heartbeat(100, 0, lat(100, 2501)).context.health).toBe(
      'degraded',
    );
  });

  it('returns from degraded to connected once the window holds too few samples to judge', () => {
    const h = harness().handshake().heartbeat(985, 15);
    expect(h.state).toBe('degraded');
    h.heartbeat(5, 0, [], T0 + 61 * 60_000);
    expect(h.context.health).toBe('insufficient-data');
    expect(h.state).toBe('connected');
    expect(h.context.diagnostics.at(-1)).toMatchObject({
      from: 'degraded',
      to: 'connected',
      cause: 'health-restored',
      samples: 5,
      successRate: 1,
    });
  });

  it('counts a heartbeat older than the window as stale and changes nothing else', () => {
    const h = harness()
      .handshake()
      .heartbeat(10, 0, [], T0 + 61 * 60_000);
    const before = h.context;
    h.heartbeat(0, 500, [], T0);
    expect(h.context.staleHeartbeats).toBe(1);
    expect(h.context.window).toBe(before.window);
    expect(h.context.lastHeartbeat).toBe(T0 + 61 * 60_000);
    expect(h.context.health).toBe(before.health);
    h.heartbeat(0, 500, [], T0);
    expect(h.context.staleHeartbeats).toBe(2);
  });

  it('keeps the newest heartbeat time when a late one arrives inside the window', () => {
    const h = harness()
      .handshake()
      .heartbeat(1, 0, [], T0 + 10 * 60_000)
      .heartbeat(1, 0, [], T0 + 5 * 60_000);
    expect(h.context.lastHeartbeat).toBe(T0 + 10 * 60_000);
    expect(h.context.window.okTotal).toBe(2);
  });

  it('records the rate, p95 and sample count of the window in each diagnostics entry', () => {
    const h = harness().handshake().heartbeat(985, 15, [12, 40]);
    expect(h.context.diagnostics.at(-1)).toEqual({
      at: T0,
      from: 'connected',
      to: 'degraded',
      event: 'HEARTBEAT',
      cause: 'health-degraded',
      successRate: 0.985,
      latencyP95: 50,
      samples: 1000,
    });
  });

  it('caps the reconnect backoff at the maximum delay', () => {
    const h = harness({ ...D, maxReconnectAttempts: 9 })
      .handshake()
      .send({ type: 'DROPPED' });
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      delays.push(h.timers.get(AFTER('reconnectBackoff', 'error'))!);
      h.fire(AFTER('reconnectBackoff', 'error')).fire(AFTER('reconnectTimeout', 'reconnecting'));
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });

  it('uses the configured handshake, heartbeat and reconnect timeouts', () => {
    const t = { ...D, handshakeTimeoutMs: 1, heartbeatTimeoutMs: 2, reconnectTimeoutMs: 3 };
    const h = harness(t);
    expect(h.timers.get(AFTER('handshakeTimeout', 'connecting'))).toBe(1);
    h.handshake();
    expect(h.timers.get(AFTER('heartbeatTimeout', 'connected'))).toBe(2);
    h.send({ type: 'DROPPED' }).fire(AFTER('reconnectBackoff', 'error'));
    expect(h.timers.get(AFTER('reconnectTimeout', 'reconnecting'))).toBe(3);
  });

  it('explains a drop without a reason and a reconnect timeout', () => {
    const h = harness().handshake().send({ type: 'DROPPED' });
    expect(h.context.lastError).toEqual({
      code: 'connection-dropped',
      category: 'connection',
      message: 'The ACP connection dropped. The engine will try to reconnect.',
      at: T0,
    });
    h.fire(AFTER('reconnectBackoff', 'error')).fire(AFTER('reconnectTimeout', 'reconnecting'));
    expect(h.context.lastError).toMatchObject({
      code: 'reconnect-timeout',
      category: 'connection',
      message: 'A reconnect attempt did not succeed in time.',
    });
    expect(h.context.diagnostics.at(-1)).toMatchObject({
      from: 'reconnecting',
      to: 'error',
      cause: 'reconnect-timeout',
    });
  });

  it('names the refused version and the supported range in the negotiation failure', () => {
    const h = harness().handshake('2.1.0');
    expect(h.context.lastError?.message).toBe(
      'Protocol version 2.1.0 is outside the supported range ^1.0.0; upgrade the agent or keep this session on HTTP.',
    );
    expect(h.context.negotiatedCapabilities).toEqual([]);
  });

  it('starts with the identities from its input and nothing measured', () => {
    const h = harness();
    expect(h.context).toMatchObject({
      connectionId: 'c1',
      installationId: 'i1',
      workspaceId: 'w1',
      createdAt: T0,
      protocolVersion: null,
      negotiatedCapabilities: [],
      health: 'insufficient-data',
      lastHeartbeat: null,
      staleHeartbeats: 0,
      rollbackTriggered: false,
      rollbackReason: null,
      reconnectAttempts: 0,
      lastError: null,
      diagnostics: [],
      status: 'connecting',
    });
  });
});

describe('connection chart: why every transition happened', () => {
  const reconnecting = () =>
    harness().handshake().send({ type: 'DROPPED' }).fire(AFTER('reconnectBackoff', 'error'));
  const degraded = () => harness().handshake().heartbeat(985, 15);
  const cases: [string, () => ReturnType<typeof harness>, string, string, string][] = [
    [
      'a handshake timeout',
      () => harness().fire(AFTER('handshakeTimeout', 'connecting')),
      'connecting',
      'error',
      'handshake-timeout',
    ],
    [
      'an unsupported version',
      () => harness().handshake('3.0.0'),
      'connecting',
      'error',
      'protocol-version-unsupported',
    ],
    [
      'a drop before the handshake',
      () => harness().send({ type: 'DROPPED' }),
      'connecting',
      'error',
      'connection-dropped',
    ],
    [
      'a missed heartbeat',
      () => harness().handshake().fire(AFTER('heartbeatTimeout', 'connected')),
      'connected',
      'error',
      'heartbeat-timeout',
    ],
    [
      'a drop while connected',
      () => harness().handshake().send({ type: 'DROPPED' }),
      'connected',
      'error',
      'connection-dropped',
    ],
    [
      'a missed heartbeat while degraded',
      () => degraded().fire(AFTER('heartbeatTimeout', 'degraded')),
      'degraded',
      'error',
      'heartbeat-timeout',
    ],
    [
      'a failing rate while degraded',
      () => degraded().heartbeat(0, 200),
      'degraded',
      'error',
      'success-rate-below-threshold',
    ],
    [
      'a drop while degraded',
      () => degraded().send({ type: 'DROPPED' }),
      'degraded',
      'error',
      'connection-dropped',
    ],
    ['the reconnect backoff', reconnecting, 'error', 'reconnecting', 'reconnect-attempt'],
    [
      'a reconnect timeout',
      () => reconnecting().fire(AFTER('reconnectTimeout', 'reconnecting')),
      'reconnecting',
      'error',
      'reconnect-timeout',
    ],
    [
      'a successful reconnect',
      () => reconnecting().send({ type: 'RECOVERED' }),
      'reconnecting',
      'connected',
      'reconnected',
    ],
    [
      'a drop while reconnecting',
      () => reconnecting().send({ type: 'DROPPED' }),
      'reconnecting',
      'error',
      'connection-dropped',
    ],
  ];
  const holds = (status: string) => (ACTIVE_CONNECTION_STATUSES as string[]).includes(status);
  for (const [what, run, from, to, cause] of cases) {
    it(`notes ${what} as ${from} -> ${to} (${cause})`, () => {
      const h = run();
      expect(h.state).toBe(to);
      expect(h.context.diagnostics.at(-1)).toMatchObject({ from, to, cause });
    });

    it(`reports ${what} to the workspace, and to capacity when a slot is taken or freed`, () => {
      const h = run();
      expect(h.context.status).toBe(to);
      const emitted = emittedBy(h);
      expect(emitted.filter((e) => e.type === 'CONNECTION_REPORT' && e.ops === null)).toEqual([
        statusReport(to),
      ]);
      const delta = Number(holds(to)) - Number(holds(from));
      expect(emitted.filter((e) => e.type === 'CONNECTION_ACTIVE')).toEqual(
        delta === 0 ? [] : [slot(delta)],
      );
    });
  }

  const errors: [string, () => ReturnType<typeof harness>, object][] = [
    [
      'a handshake timeout',
      () => harness().fire(AFTER('handshakeTimeout', 'connecting')),
      {
        code: 'handshake-timeout',
        category: 'protocol',
        message:
          'The agent did not complete the ACP handshake in time; check the container is running an ACP-capable agent.',
      },
    ],
    [
      'a missed heartbeat while connected',
      () => harness().handshake().fire(AFTER('heartbeatTimeout', 'connected')),
      {
        code: 'heartbeat-timeout',
        category: 'connection',
        message:
          'No heartbeat arrived in time; the connection is treated as dropped and will be retried.',
      },
    ],
    [
      'a missed heartbeat while degraded',
      () => degraded().fire(AFTER('heartbeatTimeout', 'degraded')),
      {
        code: 'heartbeat-timeout',
        category: 'connection',
        message:
          'No heartbeat arrived in time; the connection is treated as dropped and will be retried.',
      },
    ],
    [
      'a failing rate',
      () => degraded().heartbeat(0, 200),
      {
        code: 'success-rate-below-threshold',
        category: 'application',
        message:
          'Too many ACP operations are failing on this connection; the engine will reconnect it.',
      },
    ],
    [
      'a reconnect timeout',
      () => reconnecting().fire(AFTER('reconnectTimeout', 'reconnecting')),
      {
        code: 'reconnect-timeout',
        category: 'connection',
        message: 'A reconnect attempt did not succeed in time.',
      },
    ],
  ];
  const dropped = {
    code: 'connection-dropped',
    category: 'connection',
    message: 'The ACP connection dropped. The engine will try to reconnect.',
  };
  errors.push(
    ['a drop before the handshake', () => harness().send({ type: 'DROPPED' }), dropped],
    ['a drop while connected', () => harness().handshake().send({ type: 'DROPPED' }), dropped],
    ['a drop while degraded', () => degraded().send({ type: 'DROPPED' }), dropped],
    [
      'a drop while reconnecting after a missed heartbeat',
      () =>
        harness()
          .handshake()
          .fire(AFTER('heartbeatTimeout', 'connected'))
          .fire(AFTER('reconnectBackoff', 'error'))
          .send({ type: 'DROPPED' }),
      dropped,
    ],
  );
  for (const [what, run, error] of errors) {
    it(`explains ${what} in lastError`, () => {
      expect(run().context.lastError).toEqual({ ...error, at: T0 });
    });
  }

  it('counts a connection as holding an ACP slot in every live state except error', () => {
    expect([...ACTIVE_CONNECTION_STATUSES].sort()).toEqual([
      'connected',
      'connecting',
      'degraded',
      'reconnecting',
    ]);
  });
});

describe('connection chart: what it tells its workspace and its capacity actor', () => {
  const opsReport = (status: string, ops: object) => ({ ...statusReport(status), ops });

  it('joins its workspace as connecting and takes a slot when it is created', () => {
    const h = harness();
    expect(emittedBy(h)).toEqual([statusReport('connecting'), slot(1)]);
  });

  it("reports a heartbeat's operations at the heartbeat's own time with the window's p95", () => {
    const h = harness()
      .handshake()
      .heartbeat(10, 1, [12, 900], T0 + 5_000);
    const p95 = windowStats(h.context.window, D.minSamples).latencyP95;
    expect(p95).not.toBeNull();
    expect(emittedBy(h)).toEqual([
      opsReport('connected', { at: T0 + 5_000, succeeded: 10, failed: 1, latencyP95: p95 }),
    ]);
  });

  it('reports operations without latencies with no p95', () => {
    const h = harness().handshake().heartbeat(0, 3);
    expect(emittedBy(h)).toEqual([
      opsReport('connected', { at: T0, succeeded: 0, failed: 3, latencyP95: null }),
    ]);
    expect(emittedBy(h.heartbeat(2, 2))).toMatchObject([{ ops: { succeeded: 2, failed: 2 } }]);
  });

  it('reports nothing for a heartbeat without operations', () => {
    expect(emittedBy(harness().handshake().heartbeat(0, 0, [40]))).toEqual([]);
    expect(
      emittedBy(harness().handshake().send({ type: 'DROPPED' }).heartbeat(0, 0, [40])),
    ).toEqual([]);
  });

  it('reports operations seen while degraded, in error or reconnecting with that status', () => {
    const degraded = harness().handshake().heartbeat(985, 15).heartbeat(5, 0);
    expect(degraded.state).toBe('degraded');
    expect(emittedBy(degraded)).toMatchObject([{ status: 'degraded', ops: { succeeded: 5 } }]);
    const error = harness().handshake().send({ type: 'DROPPED' }).heartbeat(2, 0);
    expect(emittedBy(error)).toMatchObject([{ status: 'error', ops: { succeeded: 2 } }]);
    const reconnecting = harness()
      .handshake()
      .send({ type: 'DROPPED' })
      .fire(AFTER('reconnectBackoff', 'error'))
      .heartbeat(3, 0);
    expect(emittedBy(reconnecting)).toMatchObject([
      { status: 'reconnecting', ops: { succeeded: 3 } },
    ]);
  });

  it('reports the operations, then the status change, when a heartbeat degrades it', () => {
    const h = harness().handshake().heartbeat(985, 15);
    expect(h.state).toBe('degraded');
    expect(emittedBy(h)).toEqual([
      opsReport('connected', { at: T0, succeeded: 985, failed: 15, latencyP95: null }),
      statusReport('degraded'),
    ]);
  });

  it('reports the handshake as connected without touching its slot', () => {
    expect(emittedBy(harness().handshake())).toEqual([statusReport('connected')]);
  });

  it('frees its slot on error and takes it again when it reconnects', () => {
    const h = harness().handshake().send({ type: 'DROPPED' });
    expect(emittedBy(h)).toEqual([statusReport('error'), slot(-1)]);
    h.fire(AFTER('reconnectBackoff', 'error'));
    expect(emittedBy(h)).toEqual([statusReport('reconnecting'), slot(1)]);
    h.send({ type: 'RECOVERED' });
    expect(emittedBy(h)).toEqual([statusReport('connected')]);
  });

  it('reports its rollback and frees its slot, unless it had none', () => {
    expect(emittedBy(harness().send({ type: 'ROLLBACK', reason: 'r' }))).toEqual([
      statusReport('rolledBack'),
      slot(-1),
    ]);
    expect(
      emittedBy(harness().handshake().heartbeat(985, 15).send({ type: 'ROLLBACK', reason: 'r' })),
    ).toEqual([statusReport('rolledBack'), slot(-1)]);
    const fromError = harness().handshake().send({ type: 'DROPPED' });
    fromError.send({ type: 'ROLLBACK', reason: 'r' });
    expect(emittedBy(fromError)).toEqual([statusReport('rolledBack')]);
  });

  it('holds exactly one slot while alive and none once rolled back, whatever happened', () => {
    const h = harness();
    let held = 0;
    const count = () => {
      for (const e of emittedBy(h)) if (e.type === 'CONNECTION_ACTIVE') held += e.delta;
      return held;
    };
    expect(count()).toBe(1);
    h.handshake();
    expect(count()).toBe(1);
    h.send({ type: 'DROPPED' });
    expect(count()).toBe(0);
    h.fire(AFTER('reconnectBackoff', 'error'));
    expect(count()).toBe(1);
    h.fire(AFTER('reconnectTimeout', 'reconnecting'));
    expect(count()).toBe(0);
    h.fire(AFTER('reconnectBackoff', 'error'));
    expect(count()).toBe(1);
    h.send({ type: 'ROLLBACK', reason: 'workspace-rollback' });
    expect(count()).toBe(0);
    expect(h.state).toBe('rolledBack');
  });
});
