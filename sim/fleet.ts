/**
 * The simulated fleet: N containers that register, handshake, heartbeat, drop, reconnect and
 * opt in to ACP, round after round, through the public HTTP API. What the answers say (every
 * status a connection entered, rollbacks, refusals) is kept for the report.
 */
import {
  type ApiClient,
  type CapacityAnswer,
  type ConnectionAnswer,
  type HeartbeatAnswer,
  type HeartbeatBody,
  errorCode,
} from './client.ts';
import type { Harness } from './harness.ts';
import { Prng } from './prng.ts';
import type { ContainerInfo, Scenario } from './scenarios.ts';

export interface FleetOptions {
  scenario: Scenario;
  installationId: string;
  /** Prefix of workspace and connection ids (`sim-` embedded; unique per run against a URL). */
  idPrefix: string;
  containers?: number;
  rounds?: number;
  /** Time between heartbeat rounds (virtual or real). */
  intervalMs: number;
  seed: number;
  /** Requests in flight at once. */
  concurrency?: number;
  onRound?: (progress: RoundProgress) => void;
  /** Told, before the first round, when the rounds cannot show the scenario's outcome. */
  onWarning?: (message: string) => void;
}

export interface RoundProgress {
  round: number;
  rounds: number;
  at: number;
  live: number;
  rollbacks: number;
  shed: number;
}

/** What the fleet saw, from the answers alone. */
export interface Observations {
  containers: number;
  workspaces: string[];
  rounds: number;
  startedAt: number;
  endedAt: number;
  /** How many times a connection was seen entering each status. */
  entered: Record<string, number>;
  /** `from -> to` pairs as seen between consecutive answers of one connection. */
  transitions: Record<string, number>;
  heartbeats: { sent: number; operations: number; failedOperations: number };
  drops: number;
  reconnects: number;
  unsupportedHandshakes: number;
  /** Registrations answered 503 capacity-shed. */
  shed: number;
  /** Rollbacks announced in heartbeat answers (`rollback.eventId`): eventId -> workspace. */
  rollbacksAnswered: Record<string, string>;
  /**
   * Workspaces seen rolled back: announced, or a connection of theirs found `rolled-back` (not
   * an old agent's own move to HTTP after its refused handshake: no workspace was rolled back).
   */
  workspacesRolledBack: string[];
  migrationsRequested: number;
  migrationsRefused: Record<string, number>;
  /** Capacity states seen when polled once per round, in order, without repeats. */
  capacityStates: string[];
  capacity: number | null;
}

type Phase =
  | 'new'
  | 'live'
  /** Dropped by the simulation: it reports `recovered` next round. */
  | 'dropped'
  /** Its workspace was rolled back: it reads its record instead of heartbeating. */
  | 'check'
  | 'gone';

interface Container extends ContainerInfo {
  id: string;
  workspaceId: string;
  version: string;
  rng: Prng;
  phase: Phase;
  status: string | null;
}

/** Protocol versions the containers speak: supported 1.x and an unsupported 2.0.0. */
const SUPPORTED_VERSIONS = ['1.2.0', '1.3.1', '1.4.0'];
const UNSUPPORTED_VERSION = '2.0.0';

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

/**
 * Drives the fleet through the scenario and answers what it observed.
 *
 * @example
 * const seen = await runFleet(api, harness, { scenario: SCENARIOS.steady,
 *   installationId: 'sim-steady', idPrefix: 'sim-', intervalMs: 30_000, seed: 1 });
 */
export async function runFleet(
  api: ApiClient,
  harness: Harness,
  options: FleetOptions,
): Promise<Observations> {
  const { scenario, installationId, idPrefix } = options;
  const concurrency = options.concurrency ?? 8;
  const rounds = options.rounds ?? scenario.rounds;
  const root = new Prng(options.seed);

  const cap = await api.call<CapacityAnswer>('GET', `/v1/installations/${installationId}/capacity`);
  const capacity = cap.status === 200 ? cap.body.capacity : null;
  const size =
    options.containers ??
    (scenario.containersFor && capacity !== null
      ? scenario.containersFor(capacity)
      : scenario.containers);
  const workspaceCount = Math.max(1, Math.ceil(size / scenario.containersPerWorkspace));
  const workspaces = Array.from({ length: workspaceCount }, (_, i) => `${idPrefix}ws-${i + 1}`);
  const tooShort = scenario.tooShort?.(rounds, workspaces[0]!);
  if (tooShort) options.onWarning?.(tooShort);
  // Old agents (unsupported ACP version) sit in distinct workspaces, each next to supported
  // ones, so no workspace is left without a connection that speaks ACP.
  const unsupportedCount = Math.min(workspaceCount, Math.round(size * scenario.unsupportedShare));
  const unsupported = new Set(
    Array.from({ length: unsupportedCount }, (_, k) =>
      Math.floor((k * workspaceCount) / unsupportedCount),
    ),
  );
  const containers: Container[] = Array.from({ length: size }, (_, index) => {
    const rng = root.fork(index);
    const workspace = index % workspaceCount;
    return {
      index,
      workspace,
      id: `${idPrefix}c-${index + 1}`,
      workspaceId: workspaces[workspace]!,
      version: unsupported.has(index)
        ? UNSUPPORTED_VERSION
        : SUPPORTED_VERSIONS[rng.int(0, SUPPORTED_VERSIONS.length - 1)]!,
      rng,
      phase: 'new',
      status: null,
    };
  });

  const seen: Observations = {
    containers: size,
    workspaces,
    rounds,
    startedAt: harness.now(),
    endedAt: harness.now(),
    entered: {},
    transitions: {},
    heartbeats: { sent: 0, operations: 0, failedOperations: 0 },
    drops: 0,
    reconnects: 0,
    unsupportedHandshakes: 0,
    shed: 0,
    rollbacksAnswered: {},
    workspacesRolledBack: [],
    migrationsRequested: 0,
    migrationsRefused: {},
    capacityStates: [],
    capacity,
  };

  const observe = (c: Container, status: string, ownFallback = false) => {
    if (status === c.status) return;
    bump(seen.entered, status);
    if (c.status !== null) bump(seen.transitions, `${c.status} -> ${status}`);
    c.status = status;
    if (status === 'rolled-back' && !ownFallback) {
      c.phase = 'gone';
      if (!seen.workspacesRolledBack.includes(c.workspaceId)) {
        seen.workspacesRolledBack.push(c.workspaceId);
      }
    }
  };

  const rolledBack = (workspaceId: string, eventId: string) => {
    seen.rollbacksAnswered[eventId] = workspaceId;
    for (const other of containers) {
      if (other.workspaceId === workspaceId && other.phase !== 'gone' && other.phase !== 'new') {
        other.phase = 'check';
      }
    }
  };

  const arrive = async (c: Container) => {
    const reg = await api.call<ConnectionAnswer>('POST', '/v1/connections', {
      connectionId: c.id,
      installationId,
      workspaceId: c.workspaceId,
      requestId: `${c.id}-register`,
    });
    if (reg.status !== 201 && reg.status !== 200) {
      if (errorCode(reg) === 'capacity-shed') seen.shed++;
      c.phase = 'gone';
      return;
    }
    observe(c, reg.body.status);
    const hs = await api.call<ConnectionAnswer>('POST', `/v1/connections/${c.id}/handshake`, {
      protocolVersion: c.version,
      negotiatedCapabilities: ['fs', 'terminal'],
    });
    if (hs.status !== 200) {
      c.phase = 'gone';
      return;
    }
    observe(c, hs.body.status);
    if (hs.body.lastError?.code === 'protocol-version-unsupported') {
      // An old agent: its session falls back to HTTP, and says so. Left in `error`, the
      // connection would count as pending and hold up its workspace's migration to ACP.
      seen.unsupportedHandshakes++;
      const back = await api.call<ConnectionAnswer>('POST', `/v1/connections/${c.id}/rollback`, {
        reason: `agent speaks ACP ${c.version} only; the session continues on HTTP`,
        requestId: `${c.id}-fallback`,
      });
      if (back.status === 200) observe(c, back.body.status, true);
      c.phase = 'gone';
      return;
    }
    c.phase = 'live';
  };

  const heartbeat = async (c: Container, round: number) => {
    const failureRate = scenario.failureRate(c, round, rounds);
    const latency = scenario.latencyFactor?.(c, round, rounds) ?? 1;
    const operations = Math.max(1, Math.round(c.rng.logNormal(60, 0.3)));
    const failed = c.rng.binomial(operations, failureRate);
    const body: HeartbeatBody = {
      timestamp: new Date(harness.now()).toISOString(),
      succeeded: operations - failed,
      failed,
      latencyMs: Array.from(
        { length: 5 },
        () => Math.round(c.rng.logNormal(120 * latency, 0.5) * 10) / 10,
      ),
      heartbeatId: `${c.id}-hb-${round}`,
    };
    let res = await api.call<HeartbeatAnswer>('POST', `/v1/connections/${c.id}/heartbeats`, body);
    if (res.status >= 500) {
      // Safe to retry: the same heartbeatId is counted once.
      res = await api.call<HeartbeatAnswer>('POST', `/v1/connections/${c.id}/heartbeats`, body);
    }
    seen.heartbeats.sent++;
    if (res.status !== 200) {
      // Refused (e.g. the connection was rolled back meanwhile): ask what it is now.
      await check(c);
      return;
    }
    seen.heartbeats.operations += operations;
    seen.heartbeats.failedOperations += failed;
    observe(c, res.body.status);
    if (res.body.rollback) rolledBack(c.workspaceId, res.body.rollback.eventId);
  };

  const check = async (c: Container) => {
    const res = await api.call<ConnectionAnswer>('GET', `/v1/connections/${c.id}`);
    if (res.status !== 200) {
      c.phase = 'gone';
      return;
    }
    observe(c, res.body.status);
    if (c.phase === 'check') c.phase = 'live';
  };

  const recover = async (c: Container, round: number) => {
    const res = await api.call<ConnectionAnswer>('POST', `/v1/connections/${c.id}/recovered`, {
      requestId: `${c.id}-recovered-${round}`,
    });
    if (res.status === 200) {
      seen.reconnects++;
      observe(c, res.body.status);
      c.phase = 'live';
    }
    // 409: the backoff has not elapsed yet; the container tries again next round.
  };

  const turn = async (c: Container, round: number) => {
    if (c.phase === 'check') return check(c);
    if (c.phase === 'dropped') return recover(c, round);
    if (c.phase !== 'live') return;
    if (c.status === 'reconnecting') await recover(c, round);
    if (scenario.dropChance > 0 && c.rng.chance(scenario.dropChance)) {
      const res = await api.call<ConnectionAnswer>('POST', `/v1/connections/${c.id}/dropped`, {
        reason: 'network blip (simulated)',
        requestId: `${c.id}-dropped-${round}`,
      });
      if (res.status === 200) {
        seen.drops++;
        observe(c, res.body.status);
        c.phase = 'dropped';
        return;
      }
    }
    if (c.phase === 'live') await heartbeat(c, round);
  };

  const migrate = async (workspace: number, initiatedBy: 'operator' | 'user') => {
    seen.migrationsRequested++;
    const res = await api.call('POST', `/v1/workspaces/${workspaces[workspace]}/migrations`, {
      toProtocol: 'acp',
      initiatedBy,
      requestedBy: initiatedBy === 'user' ? `sim-user-${workspace + 1}` : 'sim-operator',
      requestId: `${workspaces[workspace]}-migrate-${initiatedBy}`,
    });
    if (res.status !== 201) bump(seen.migrationsRefused, errorCode(res));
  };

  const pollCapacity = async () => {
    const now = await api.call<CapacityAnswer>(
      'GET',
      `/v1/installations/${installationId}/capacity`,
    );
    if (now.status === 200 && seen.capacityStates.at(-1) !== now.body.state) {
      seen.capacityStates.push(now.body.state);
    }
  };

  for (let round = 0; round < rounds; round++) {
    const roundStarted = harness.now();
    const arriving = scenario.arrivals
      ? scenario.arrivals(round, rounds, size).map((i) => containers[i]!)
      : round === 0
        ? containers
        : [];
    if (scenario.arrivals) {
      // A surge: one registration at a time, reading the capacity after each, so every level
      // it crosses (warning at 85 %, critical at 95 %) shows up in the report.
      for (const c of arriving) {
        await arrive(c);
        await pollCapacity();
      }
    } else await pool(arriving, concurrency, arrive);
    if (round === 0 && scenario.migrateAtStart) {
      await pool(
        workspaces.map((_, i) => i),
        concurrency,
        (i) => migrate(i, 'operator'),
      );
    }
    if (scenario.optIns) {
      await pool(scenario.optIns(round, rounds, workspaceCount), concurrency, (i) =>
        migrate(i, 'user'),
      );
    }
    await pool(
      containers.filter((c) => !arriving.includes(c)),
      concurrency,
      (c) => turn(c, round),
    );
    // Those that arrived this round heartbeat too, after their handshake.
    await pool(arriving, concurrency, (c) => turn(c, round));

    await pollCapacity();
    seen.endedAt = harness.now();
    options.onRound?.({
      round: round + 1,
      rounds,
      at: harness.now(),
      live: containers.filter((c) => c.phase === 'live' || c.phase === 'dropped').length,
      rollbacks: seen.workspacesRolledBack.length,
      shed: seen.shed,
    });
    // Rounds start intervalMs apart, as a container's heartbeats would: in real time the
    // round's own requests took part of the interval (a round longer than it: the next at once).
    if (round < rounds - 1)
      await harness.pass(Math.max(0, options.intervalMs - (harness.now() - roundStarted)));
  }
  return seen;
}
