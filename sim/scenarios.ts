/**
 * The named scenarios. Each says how many containers arrive when, how often their ACP operations
 * fail, and which workspaces move to ACP; the fleet (fleet.ts) turns that into HTTP calls.
 */

export const SCENARIO_NAMES = [
  'steady',
  'flaky-workspace',
  'outage',
  'capacity-surge',
  'migration-wave',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** What a scenario knows about one container when it draws the container's behaviour. */
export interface ContainerInfo {
  index: number;
  /** 0-based index of the container's workspace. */
  workspace: number;
}

export interface Scenario {
  name: ScenarioName;
  summary: string;
  /** The outcome the scenario is built to show (printed with the report). */
  expected: string;
  containers: number;
  rounds: number;
  containersPerWorkspace: number;
  /** Share of containers whose agent speaks an unsupported ACP version (2.0.0). */
  unsupportedShare: number;
  /** Chance per container and round that its connection drops (it reconnects next round). */
  dropChance: number;
  /** Operators migrate every workspace to ACP once its containers have connected (round 0). */
  migrateAtStart: boolean;
  /** Probability that one ACP operation of `c` fails in `round`. */
  failureRate(c: ContainerInfo, round: number, rounds: number): number;
  /** Multiplier of the container's latency in `round` (1 = normal). */
  latencyFactor?(c: ContainerInfo, round: number, rounds: number): number;
  /** Containers (by index) that register in `round`; default: all in round 0. */
  arrivals?(round: number, rounds: number, containers: number): number[];
  /** Workspaces (by index) whose users opt in to ACP in `round`. */
  optIns?(round: number, rounds: number, workspaces: number): number[];
  /** The fleet size from the installation's capacity (capacity-surge). */
  containersFor?(capacity: number): number;
  /**
   * Why `rounds` rounds cannot show the expected outcome (they end before what the scenario
   * is built around happens), or null. `firstWorkspace` is this run's id of `sim-ws-1`.
   */
  tooShort?(rounds: number, firstWorkspace: string): string | null;
}

/** A healthy ACP agent: about 2 failed operations in 10,000. */
export const HEALTHY_FAILURE_RATE = 0.0002;

const healthy = () => HEALTHY_FAILURE_RATE;

/** Indexes in [from, to). */
const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** Splits `total` items evenly over `rounds` rounds and answers the share of `round`. */
function spread(round: number, rounds: number, total: number): number[] {
  if (round >= rounds) return [];
  const until = (r: number) => Math.round((total * r) / rounds);
  return range(until(round), until(round + 1));
}

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  steady: {
    name: 'steady',
    summary: 'a healthy fleet on ACP: heartbeats, the odd drop and reconnect, a few old agents',
    expected: 'no rollback, no alert',
    containers: 24,
    rounds: 30,
    containersPerWorkspace: 3,
    unsupportedShare: 0.05,
    dropChance: 0.004,
    migrateAtStart: true,
    failureRate: healthy,
  },
  'flaky-workspace': {
    name: 'flaky-workspace',
    summary:
      'one workspace on ACP (sim-ws-1) slips to about 97.5 % success after a few healthy rounds; the others stay healthy',
    expected: 'exactly one automatic rollback (auto-threshold), of sim-ws-1 only',
    containers: 24,
    rounds: 30,
    containersPerWorkspace: 3,
    unsupportedShare: 0,
    dropChance: 0.004,
    migrateAtStart: true,
    failureRate: (c, round) =>
      c.workspace === 0 && round >= FLAKY_FROM ? 0.025 : HEALTHY_FAILURE_RATE,
    tooShort: (rounds, first) =>
      rounds > FLAKY_FROM
        ? null
        : `--rounds ${rounds} ends before ${first} slips (from round ${FLAKY_FROM + 1}): the run will show no rollback`,
  },
  outage: {
    name: 'outage',
    summary:
      'a healthy fleet on ACP, then a burst of failures (40 % of operations, slow) across most workspaces for 3 rounds',
    expected:
      'automatic rollbacks of the workspaces the burst hits (3 in 4), in its first round; the others stay on ACP',
    containers: 30,
    rounds: 24,
    containersPerWorkspace: 3,
    unsupportedShare: 0.05,
    dropChance: 0.004,
    migrateAtStart: true,
    failureRate: (c, round, rounds) =>
      inOutage(round, rounds) && c.workspace % 4 !== 3 ? 0.4 : HEALTHY_FAILURE_RATE,
    latencyFactor: (c, round, rounds) => (inOutage(round, rounds) && c.workspace % 4 !== 3 ? 8 : 1),
    tooShort: (rounds) =>
      rounds > outageStart(rounds)
        ? null
        : `--rounds ${rounds} ends before the burst of failures (from round ${outageStart(rounds) + 1}): the run will show no rollback`,
  },
  'capacity-surge': {
    name: 'capacity-surge',
    summary:
      'registrations climb to 97 % of the installation capacity over the first half of the run',
    expected:
      'a warning alert at 85 %, escalated to critical at 95 %; registrations beyond answer 503 capacity-shed',
    containers: 97,
    rounds: 12,
    containersPerWorkspace: 10,
    unsupportedShare: 0,
    dropChance: 0,
    migrateAtStart: false,
    failureRate: healthy,
    arrivals: (round, rounds, containers) => spread(round, Math.ceil(rounds / 2), containers),
    containersFor: (capacity) => Math.ceil(capacity * 0.97),
  },
  'migration-wave': {
    name: 'migration-wave',
    summary:
      'every workspace starts on HTTP; users opt in to ACP, a few workspaces per round, over the first half of the run',
    expected: 'every workspace ends on ACP, each with a succeeded migration',
    containers: 40,
    rounds: 24,
    containersPerWorkspace: 2,
    unsupportedShare: 0.05,
    dropChance: 0.004,
    migrateAtStart: false,
    failureRate: healthy,
    optIns: (round, rounds, workspaces) => spread(round, Math.ceil(rounds / 2), workspaces),
  },
};

/** The flaky workspace slips from this round (0-based) on. */
const FLAKY_FROM = 4;

/** The first round (0-based) of the outage scenario's burst: a quarter into the run. */
function outageStart(rounds: number): number {
  return Math.max(2, Math.floor(rounds / 4));
}

/** The outage scenario's burst: three rounds starting a quarter into the run. */
function inOutage(round: number, rounds: number): boolean {
  const start = outageStart(rounds);
  return round >= start && round < start + 3;
}

export function isScenarioName(name: string): name is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(name);
}
