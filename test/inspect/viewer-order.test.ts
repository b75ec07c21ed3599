/**
 * One inspector socket's frames when transitions come faster than they are read: each published
 * transition's events are sent once, even when the snapshot read for it already shows a later
 * transition (that snapshot is sent once), and nothing the history showed is sent again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import type { TransitionMessage } from '../../src/inspect/actors.ts';
import { Viewer } from '../../src/inspect/feed.ts';
import type { ActorRef } from '../../src/store/redis-store.ts';
import { type TestService, startService } from '../helpers.ts';

let s: TestService;

beforeAll(async () => {
  s = await startService();
});

afterAll(async () => {
  await s.close();
});

/** A socket that keeps what it is sent. */
function socket() {
  const frames: { type: string; event?: { type: string }; snapshot?: { value: unknown } }[] = [];
  const ws = {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    send: (text: string) => frames.push(JSON.parse(text)),
  };
  return { ws: ws as unknown as WebSocket, frames };
}

const ref: ActorRef = { kind: 'connection', installationId: 'inst-a', id: 'c1' };
const message = (
  version: number,
  from: string,
  to: string,
  events: string[],
): TransitionMessage => ({
  actorId: 'connection:c1',
  kind: 'connection',
  installationId: 'inst-a',
  from,
  to,
  events,
  version,
  at: new Date(s.clock.now()).toISOString(),
});

describe('an inspector socket under transitions faster than their reads', () => {
  it('sends every transition its events once, and each snapshot once', async () => {
    await s.api('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    const { ws, frames } = socket();
    const live = new Viewer(ws, { installations: null, name: 'op' }, ref, s.modules);
    await live.history(ref);
    const told = frames.length;

    // Two transitions commit before the first one's message is handled: both reads see the second.
    await s.api('POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    await s.api('POST', '/v1/connections/c1/dropped', { reason: 'network' });
    const found = (await s.engine.read(ref))!;
    live.transition(
      message(found.version - 1, 'connecting', 'connected', ['HANDSHAKE']),
      ref,
      found,
    );
    live.transition(message(found.version, 'connected', 'error', ['DROPPED']), ref, found);
    // The history's transition published late: already shown, nothing sent.
    live.transition(message(1, 'connecting', 'connecting', ['xstate.init']), ref, found);

    const sent = frames.slice(told).map((f) => f.event?.type ?? f.type);
    expect(frames.slice(told).map((f) => f.type)).toEqual([
      '@xstate.event',
      '@xstate.snapshot',
      '@xstate.event',
    ]);
    expect(sent).toEqual(['HANDSHAKE', 'HANDSHAKE', 'DROPPED']);
    expect(frames.filter((f) => f.type === '@xstate.snapshot').at(-1)?.snapshot?.value).toBe(
      'error',
    );
  });
});
