/**
 * The connection chart at its thresholds, and what it tells its workspace and its capacity actor
 * (shared set-up and helpers: connection.machine.helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONNECTION_THRESHOLDS as D } from '../../machines/connection.machine.ts';
import { windowStats } from '../../machines/shared/window.ts';
import { T0, AFTER, harness, emittedBy, statusReport, slot } from './connection.machine.helpers.ts';

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

describe('connection chart: what it tells its workspace and its capacity actor', () => {
  const opsReport = (status: string, ops: object) => ({ ...statusReport(status), ops });

  it('joins its workspace as connecting and asks for a slot (an admission) when it is created', () => {
    const h = harness();
    expect(emittedBy(h)).toEqual([statusReport('connecting'), { ...slot(1), admission: true }]);
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
