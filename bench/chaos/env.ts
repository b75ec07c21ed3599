/**
 * `npm run chaos`'s two settings, read before anything runs: a typo in either must not start a
 * run that does nothing (or something else) and then overwrites the measured
 * bench/chaos-results.md with an empty table.
 */
export interface ChaosEnv {
  seconds: number;
  /** Scenario numbers, 1-based, as given (duplicates removed). */
  picked: number[];
}

export function readChaosEnv(
  env: Record<string, string | undefined>,
  scenarioCount: number,
): ChaosEnv | { error: string } {
  const secondsText = env.CHAOS_SECONDS?.trim() || '10';
  const seconds = /^\d+(\.\d+)?$/.test(secondsText) ? Number(secondsText) : NaN;
  if (!(seconds > 0)) {
    return {
      error: `CHAOS_SECONDS must be a positive number of seconds, such as 10 (got ${JSON.stringify(env.CHAOS_SECONDS)})`,
    };
  }
  const scenariosText = env.CHAOS_SCENARIOS?.trim() || '';
  if (scenariosText === '') {
    return { seconds, picked: Array.from({ length: scenarioCount }, (_, i) => i + 1) };
  }
  const parts = scenariosText.split(',').map((s) => s.trim());
  const bad = parts.filter((s) => !/^\d+$/.test(s) || Number(s) < 1 || Number(s) > scenarioCount);
  if (bad.length > 0) {
    return {
      error: `CHAOS_SCENARIOS must list scenario numbers from 1 to ${scenarioCount}, such as 1,3 (got ${JSON.stringify(env.CHAOS_SCENARIOS)}: ${bad.map((s) => JSON.stringify(s)).join(', ')} is not one)`,
    };
  }
  return { seconds, picked: [...new Set(parts.map(Number))] };
}
