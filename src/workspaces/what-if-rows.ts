/**
 * The two runs of a what-if answer side by side: one row per decision, merged by time, kind and
 * record id, with both sides where both runs made it. Pure (no DOM, no Node), shared by the
 * console's what-if panel and `npm run what-if`.
 *
 * @example
 * decisionRows(answer.actual.decisions, answer.whatIf.decisions)
 * // [{ at: '2026-11-30T09:51:00.000Z', actual: {...rollback}, whatIf: undefined }, ...]
 */
export interface DecisionLike {
  at: string;
  kind: string;
  id: string;
}

export interface DecisionRow<D extends DecisionLike> {
  at: string;
  actual?: D;
  whatIf?: D;
}

export function decisionRows<D extends DecisionLike>(
  actual: readonly D[],
  whatIf: readonly D[],
): DecisionRow<D>[] {
  const rows = new Map<string, DecisionRow<D>>();
  for (const [side, list] of [
    ['actual', actual],
    ['whatIf', whatIf],
  ] as const) {
    for (const d of list) {
      const key = `${d.at} ${d.kind} ${d.id}`;
      const row = rows.get(key) ?? { at: d.at };
      row[side] = d;
      rows.set(key, row);
    }
  }
  // A stable sort: decisions of one moment keep the chart's order.
  return [...rows.values()].sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : 0));
}
