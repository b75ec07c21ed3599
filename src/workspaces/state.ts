import type { PersistedState } from '../engine/step.ts';

/** Dotted state path of a workspace (`http.cooldown`). */
export function workspaceState(value: PersistedState['value']): string {
  if (typeof value === 'string') return value;
  const [k, v] = Object.entries(value)[0]!;
  return `${k}.${workspaceState(v as PersistedState['value'])}`;
}
