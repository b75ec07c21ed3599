/**
 * Bursts larger than one commit should carry: tens of thousands of heartbeats of one
 * installation arriving in the same tick (16 batch requests of 1,000 items sent at once). Made
 * into one script call, their arguments overflowed the stack inside ioredis, every heartbeat
 * was answered 500, and ioredis then threw outside any promise, which ends the process. The
 * mailbox (MAX_BATCH) and the chains (MAX_CHAIN_COMMANDS) split them into several commits.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_CHAIN_COMMANDS } from '../../src/engine/chain-order.ts';
import { MAX_BATCH } from '../../src/engine/mailbox.ts';
import { T0, type TestService, startService } from '../helpers.ts';

const OPERATOR = { installations: null };
const HEARTBEATS = 16_000;

let svc: TestService;
beforeEach(async () => {
  svc = await startService({ HEARTBEAT_MAX_AGE_MS: String(24 * 3_600_000) });
});
afterEach(async () => {
  await svc.close();
});

async function connect(ids: string[]) {
  for (const [i, id] of ids.entries()) {
    const ws = `ws-${i % 2}`;
    await svc.connections.register(OPERATOR, {
      connectionId: id,
      installationId: 'inst-a',
      workspaceId: ws,
    });
    await svc.connections.command(OPERATOR, id, {
      type: 'HANDSHAKE',
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
  }
}

/** Every heartbeat sent in one tick; the ones that failed. */
async function burst(ids: string[]) {
  const sent = Array.from({ length: HEARTBEATS }, (_, i) =>
    svc.connections.heartbeat(OPERATOR, ids[i % ids.length]!, {
      timestamp: T0 + 1,
      succeeded: 1,
      failed: 0,
      latencyMs: [1],
    }),
  );
  const settled = await Promise.allSettled(sent);
  return settled.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
}

describe('bursts larger than one commit', () => {
  it('applies 16,000 heartbeats of one connection sent in one tick, in commits of at most MAX_BATCH', async () => {
    expect(MAX_BATCH).toBeLessThan(HEARTBEATS);
    await connect(['c1']);
    expect(await burst(['c1'])).toEqual([]);
    await svc.engine.idle();
    const record = await svc.connections.get(OPERATOR, 'c1');
    expect(record.sampleSize).toBe(HEARTBEATS);
    expect(record.version).toBeGreaterThanOrEqual(HEARTBEATS / MAX_BATCH);
  });

  it('applies 16,000 heartbeats over 40 connections in two workspaces, in chains of at most MAX_CHAIN_COMMANDS', async () => {
    expect(MAX_CHAIN_COMMANDS).toBeLessThan(HEARTBEATS);
    const ids = Array.from({ length: 40 }, (_, i) => `c${i}`);
    await connect(ids);
    expect(await burst(ids)).toEqual([]);
    await svc.engine.idle();
    let samples = 0;
    for (const id of ids) samples += (await svc.connections.get(OPERATOR, id)).sampleSize;
    expect(samples).toBe(HEARTBEATS);
  });
});
