import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONNECTION_STATUSES,
  type ConnectionContext,
  connectionMachine,
} from '../../machines/connection.machine.ts';
import { WINDOW_MINUTES, windowStats } from '../../machines/shared/window.ts';
import { CONNECTION } from '../../src/connections/connections.ts';
import { Stepper } from '../../src/engine/step.ts';
import { T0, startService } from '../helpers.ts';
import { connectionCommand, eventOf, newConnection } from './connection-commands.ts';

type Hb = { minute: number; succeeded: number; failed: number };

/** The rolling window recomputed from scratch: operations in the hour ending at the newest minute. */
function bruteForce(accepted: Hb[]) {
  const head = Math.max(...accepted.map((h) => h.minute));
  const live = accepted.filter((h) => h.minute > head - WINDOW_MINUTES);
  const ok = live.reduce((n, h) => n + h.succeeded, 0);
  const ko = live.reduce((n, h) => n + h.failed, 0);
  return { samples: ok + ko, rate: ok + ko === 0 ? null : ok / (ok + ko) };
}

describe('connection chart properties (fast-check)', () => {
  it('stays in its states, under the payload limit, and its rolling rate equals a brute-force recomputation', () => {
    fc.assert(
      fc.property(fc.array(connectionCommand, { maxLength: 60 }), (commands) => {
        const stepper = new Stepper(connectionMachine);
        let snapshot = newConnection(stepper);
        const accepted: Hb[] = [];
        for (const c of commands) {
          const event = eventOf(c);
          const before = snapshot.context as ConnectionContext;
          const next = stepper.step(snapshot, event).snapshot;
          const after = next.context as ConnectionContext;
          if (
            c.type === 'HEARTBEAT' &&
            next !== snapshot &&
            after.staleHeartbeats === before.staleHeartbeats
          ) {
            accepted.push(c);
          }
          snapshot = next;
          expect(CONNECTION_STATUSES).toContain(snapshot.value);
          expect(JSON.stringify(stepper.persist(snapshot)).length).toBeLessThan(32 * 1024);
          if (accepted.length > 0) {
            const s = windowStats((snapshot.context as ConnectionContext).window, 1);
            const expected = bruteForce(accepted);
            expect(s.samples).toBe(expected.samples);
            expect(s.rawSuccessRate).toBe(expected.rate);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never loses a counted operation through the real engine, whatever the interleaving', async () => {
    const svc = await startService();
    try {
      const principal = { installations: null };
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              conn: fc.integer({ min: 0, max: 2 }),
              ok: fc.integer({ min: 0, max: 50 }),
              ko: fc.integer({ min: 0, max: 5 }),
            }),
            { minLength: 1, maxLength: 40 },
          ),
          async (beats) => {
            run++;
            const ids = [0, 1, 2].map((i) => `p${run}-${i}`);
            for (const id of ids) {
              await svc.connections.register(principal, {
                connectionId: id,
                installationId: 'inst-a',
                workspaceId: `ws-${run}`,
              });
              await svc.connections.command(principal, id, {
                type: 'HANDSHAKE',
                protocolVersion: '1.0.0',
                negotiatedCapabilities: [],
              });
            }
            // All at once: the engine coalesces and compare-and-sets; none may be lost.
            await Promise.all(
              beats.map((b) =>
                svc.connections.heartbeat(principal, ids[b.conn]!, {
                  timestamp: T0,
                  succeeded: b.ok,
                  failed: b.ko,
                  latencyMs: [],
                }),
              ),
            );
            for (const [i, id] of ids.entries()) {
              const found = await svc.engine.read({
                kind: CONNECTION,
                installationId: 'inst-a',
                id,
              });
              const w = (found!.state.context as unknown as ConnectionContext).window;
              const mine = beats.filter((b) => b.conn === i);
              expect(w.okTotal).toBe(mine.reduce((n, b) => n + b.ok, 0));
              expect(w.koTotal).toBe(mine.reduce((n, b) => n + b.ko, 0));
            }
          },
        ),
        { numRuns: 15 },
      );
    } finally {
      await svc.close();
    }
  });
});
