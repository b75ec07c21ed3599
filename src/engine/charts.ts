import type { AnyMachineSnapshot } from 'xstate';
import type { StoredActor } from '../store/store.ts';
import type { Cached } from './snapshot-cache.ts';
import { jsonSnapshots } from './snapshot-codec.ts';
import { type PersistedState, Stepper } from './step.ts';
import type { Chart, ChartBinding } from './types.ts';

/**
 * The charts the engine runs, by actor kind, each with its stepper.
 *
 * @example
 * const charts = new ChartRegistry([connectionBinding(machine)]);
 * const base = charts.restore(ref.kind, await store.load(ref));
 */
export class ChartRegistry {
  readonly #charts = new Map<string, Chart>();

  constructor(bindings: readonly ChartBinding[]) {
    for (const binding of bindings) {
      this.#charts.set(binding.kind, { binding, stepper: new Stepper(binding.machine) });
    }
  }

  /** Whether a chart is bound for `kind`. */
  has(kind: string): boolean {
    return this.#charts.has(kind);
  }

  /** The chart of `kind`; throws if none is bound (a programming error, not a request error). */
  get(kind: string): Chart {
    const chart = this.#charts.get(kind);
    if (!chart) throw new Error(`no chart bound for kind "${kind}"`);
    return chart;
  }

  /** A stored snapshot restored into its chart, with its version; null for an absent actor. */
  restore(kind: string, stored: StoredActor | null): Cached | null {
    if (!stored) return null;
    return { version: stored.version, snapshot: this.restoreText(kind, stored.snapshot) };
  }

  /** The snapshot a stored text of `kind` holds, restored into its chart. */
  restoreText(kind: string, text: string): AnyMachineSnapshot {
    return this.get(kind).stepper.restore(this.decode(kind, text));
  }

  /** The persisted state in a stored snapshot text of `kind` (its binding's codec). */
  decode(kind: string, text: string): PersistedState {
    return (this.get(kind).binding.snapshotCodec ?? jsonSnapshots).decode(text);
  }
}
