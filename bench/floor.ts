/**
 * The floor of one heartbeat, in-process: what the charts alone cost, with no HTTP, no Redis and
 * no engine around them. Every heartbeat is one step of its connection's chart and, because the
 * workspace decides rollbacks from its own window (the "charts are the whole truth" design), one
 * step of its workspace's chart for the report the connection emits. Both run here in a tight
 * loop on warm, realistic snapshots (a connection in `connected`, a workspace on ACP with 50
 * connected members), next to the text of the connection snapshot that every commit writes (its snapshot codec).
 *
 * It prints microseconds per operation and the heartbeats per second one core could at most
 * reach if it did nothing else, to compare with the batch target (5x the baseline's req/s).
 *
 *   npx tsx bench/floor.ts            (part of `npm run bench`)
 *   FLOOR_ITERATIONS=50000 npx tsx bench/floor.ts
 */
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import { DEFAULT_CONNECTION_THRESHOLDS } from '../machines/connection.machine.ts';
import { DEFAULT_WORKSPACE_POLICY } from '../machines/workspace.machine.ts';
import { connectionBinding } from '../src/connections/connections.ts';
import { ChartRegistry } from '../src/engine/charts.ts';
import { workspaceBinding } from '../src/workspaces/workspaces.ts';

const ITERATIONS = Number(process.env.FLOOR_ITERATIONS ?? 20_000);
const MEMBERS = 50;

const charts = new ChartRegistry([
  connectionBinding(DEFAULT_CONNECTION_THRESHOLDS),
  workspaceBinding(),
]);
const connection = charts.get('connection').stepper;
const workspace = charts.get('workspace').stepper;

let now = Date.UTC(2026, 10, 30, 12);
const step = (
  stepper: typeof connection,
  snapshot: AnyMachineSnapshot,
  event: EventObject & Record<string, unknown>,
): AnyMachineSnapshot => stepper.step(snapshot, { at: now, ...event } as EventObject).snapshot;

// A connection after its handshake.
let conn = connection.initial({
  connectionId: 'c-1',
  installationId: 'inst-1',
  workspaceId: 'ws-1',
  at: now,
}).snapshot;
conn = step(connection, conn, {
  type: 'HANDSHAKE',
  protocolVersion: '1.0.0',
  negotiatedCapabilities: [],
});

// A workspace that starts on ACP, with its members connected.
let ws = workspace.initial({
  workspaceId: 'ws-1',
  installationId: 'inst-1',
  at: now,
  policy: { ...DEFAULT_WORKSPACE_POLICY, defaultProtocol: 'acp' },
}).snapshot;
const report = (i: number, ops: unknown) => ({
  type: 'CONNECTION_REPORT',
  connectionId: `c-${i % MEMBERS}`,
  status: 'connected',
  ops,
  eventId: `e-${i}`,
  spareId: `s-${i}`,
});
for (let i = 0; i < MEMBERS; i++) ws = step(workspace, ws, report(i, null));

/**
 * A snapshot's text as the commit's socket write reads it: whole. A codec that joins remembered
 * pieces returns a string V8 keeps as pieces until something reads it; reading one character
 * joins them, a cost the write would pay.
 */
let sink = 0;
const written = (text: string) => (sink += text.charCodeAt(text.length >> 1));

function measure(name: string, run: (i: number) => void): number {
  for (let i = 0; i < ITERATIONS / 4; i++) run(i); // warm-up (JIT)
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) run(i);
  const us = Number(process.hrtime.bigint() - start) / 1000 / ITERATIONS;
  console.log(`${name.padEnd(58)} ${us.toFixed(2).padStart(7)} µs`);
  return us;
}

console.log(
  `Floor of one heartbeat, in-process (${ITERATIONS} iterations each; connection in ` +
    `${JSON.stringify(conn.value)}, workspace in ${JSON.stringify(ws.value)} with ${MEMBERS} members)`,
);
const heartbeat = measure('connection chart: HEARTBEAT step', () => {
  now += 100;
  conn = step(connection, conn, {
    type: 'HEARTBEAT',
    receivedAt: now,
    succeeded: 10,
    failed: 0,
    latencyMs: [12, 25, 40],
  });
});
const absorb = measure('workspace chart: CONNECTION_REPORT step (with operations)', (i) => {
  now += 100;
  ws = step(workspace, ws, report(i, { at: now, succeeded: 10, failed: 0, latencyP95: 40 }));
});
const codec = connectionBinding(DEFAULT_CONNECTION_THRESHOLDS).snapshotCodec!;
const json = measure('connection snapshot as stored (written by every commit)', () => {
  written(codec.encode(connection.persist(conn)));
});
const total = heartbeat + absorb + json;
console.log(`${'sum'.padEnd(58)} ${total.toFixed(2).padStart(7)} µs`);
console.log(
  `at most ${Math.round(1e6 / total).toLocaleString('en-US')} heartbeats/s per core for these ` +
    `three alone (no HTTP, validation, planning, Redis, GC of a real process)`,
);
// Not part of every heartbeat: a connection whose snapshot the cache keeps only as its text (a
// fleet larger than HOT_SNAPSHOTS) is restored from it first.
const text = codec.encode(connection.persist(conn));
measure('  + restoring a snapshot kept as text (large fleets)', () => {
  charts.restoreText('connection', text);
});
// Not per heartbeat: once per workspace a chain commits (a chain of n heartbeats of one
// workspace writes its snapshot once), its members and policy from memory (memoizedJson).
const wsCodec = workspaceBinding().snapshotCodec!;
measure('  + workspace snapshot as stored (per workspace commit)', () => {
  written(wsCodec.encode(workspace.persist(ws)));
});
// A connection that has flapped keeps up to 50 diagnostics entries; its snapshot is written at
// every heartbeat, the entries' text taken from memory (positionalCodec).
const flapped = {
  value: conn.value,
  context: {
    ...conn.context,
    diagnostics: Array.from({ length: 50 }, (_, i) => ({
      at: now + i,
      from: i % 2 ? 'degraded' : 'connected',
      to: i % 2 ? 'connected' : 'degraded',
      event: 'HEARTBEAT',
      cause: i % 2 ? 'health-restored' : 'health-degraded',
      successRate: 0.97,
      latencyP95: 150,
      samples: 1200,
    })),
  },
};
measure('  + connection snapshot with 50 diagnostics entries', () => {
  written(codec.encode(connection.persist(flapped as AnyMachineSnapshot)));
});
if (sink === 0) console.log('(no snapshot text measured)');
