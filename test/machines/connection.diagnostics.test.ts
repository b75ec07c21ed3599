/**
 * The connection chart: why every transition happened (its diagnostics) (shared set-up and
 * helpers: connection.machine.helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import { ACTIVE_CONNECTION_STATUSES } from '../../machines/connection.machine.ts';
import { T0, AFTER, harness, emittedBy, statusReport, slot } from './connection.machine.helpers.ts';

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
