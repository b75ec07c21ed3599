/**
 * Semver comparison against pre-normalised comparator sets.
 *
 * Range *parsing* happens once in src/config.ts with the `semver` package, which turns e.g.
 * `^1.0.0` into `[[{ operator: '>=', version: '1.0.0' }, { operator: '<', version: '2.0.0-0' }]]`.
 * The chart only compares, so it stays free of dependencies and deterministic.
 */

export type Comparator = { operator: '' | '=' | '<' | '<=' | '>' | '>='; version: string };
/** OR of AND-ed comparators, as `semver.Range#set` yields them. */
export type ComparatorSets = Comparator[][];

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

interface Parsed {
  core: [number, number, number];
  pre: string[];
}

function parse(version: string): Parsed | null {
  const m = SEMVER.exec(version);
  if (!m) return null;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

export function isSemver(version: string): boolean {
  return parse(version) !== null;
}

function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return b.length - a.length; // a release sorts after its prereleases
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Number(x) - Number(y);
    if (xn) return -1;
    if (yn) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

function compare(a: Parsed, b: Parsed): number {
  for (let i = 0; i < 3; i++) {
    const d = a.core[i]! - b.core[i]!;
    if (d !== 0) return d;
  }
  return comparePre(a.pre, b.pre);
}

function test(v: Parsed, c: Comparator): boolean {
  const target = parse(c.version);
  if (!target) return true; // semver's "any version" comparator has an empty version
  const d = compare(v, target);
  switch (c.operator) {
    case '<':
      return d < 0;
    case '<=':
      return d <= 0;
    case '>':
      return d > 0;
    case '>=':
      return d >= 0;
    default:
      return d === 0;
  }
}

/**
 * True when `version` satisfies one of the comparator sets. Like npm's semver, a prerelease
 * only matches a set that names a prerelease of the same major.minor.patch.
 *
 * @example
 * satisfies('1.2.0', [[{ operator: '>=', version: '1.0.0' }, { operator: '<', version: '2.0.0-0' }]]); // true
 */
export function satisfies(version: string, sets: ComparatorSets): boolean {
  const v = parse(version);
  if (!v) return false;
  return sets.some((set) => {
    if (!set.every((c) => test(v, c))) return false;
    if (v.pre.length === 0) return true;
    return set.some((c) => {
      const t = parse(c.version);
      return (
        t !== null &&
        t.pre.length > 0 &&
        t.core[0] === v.core[0] &&
        t.core[1] === v.core[1] &&
        t.core[2] === v.core[2]
      );
    });
  });
}

/** `^1.0.0` as comparator sets, the chart's default supported range. */
export const CARET_1: ComparatorSets = [
  [
    { operator: '>=', version: '1.0.0' },
    { operator: '<', version: '2.0.0-0' },
  ],
];
