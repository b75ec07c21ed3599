import fc from 'fast-check';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { type ComparatorSets, isSemver, satisfies } from '../../machines/shared/version.ts';

function sets(range: string): ComparatorSets {
  return new semver.Range(range).set.map((set) =>
    set.map((c) => ({
      operator: c.operator,
      version: c.semver.version ?? '',
    })),
  );
}

describe('protocol version ranges', () => {
  const ranges = [
    '^1.0.0',
    '~1.2.0',
    '>=1.1.0 <1.4.0',
    '1.x || 2.1.x',
    '*',
    '1.2.3',
    '^1.0.0-beta.2',
  ];
  const versions = [
    '0.9.9',
    '1.0.0',
    '1.0.0-beta.3',
    '1.2.0',
    '1.2.9',
    '1.3.5',
    '1.9.0',
    '2.0.0',
    '2.0.0-0',
    '2.1.4',
    '3.0.0',
  ];
  for (const range of ranges) {
    it(`agrees with npm semver for ${range}`, () => {
      for (const v of versions)
        expect(satisfies(v, sets(range)), `${v} in ${range}`).toBe(semver.satisfies(v, range));
    });
  }

  it('rejects strings that are not semantic versions', () => {
    expect(satisfies('1.2', sets('^1.0.0'))).toBe(false);
    expect(satisfies('banana', sets('*'))).toBe(false);
  });
});

describe('protocol version ranges against npm semver on generated versions (fast-check)', () => {
  // Small pools so that generated versions often share a core and differ in the prerelease only.
  // '-x' sorts before digits as a string, 'a1' and '1a' only look numeric at one end.
  const identifier = fc.constantFrom(
    'alpha',
    'beta',
    'x-y',
    '-x',
    'a1',
    '1a',
    '0',
    '2',
    '20',
    '100',
  );
  const version = fc
    .record({
      core: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2)),
      pre: fc.oneof(fc.constant([]), fc.array(identifier, { minLength: 1, maxLength: 3 })),
    })
    .map(({ core, pre }) => `${core.join('.')}${pre.length > 0 ? `-${pre.join('.')}` : ''}`);
  const operator = fc.constantFrom('', '=', '<', '<=', '>', '>=');
  const range = fc
    .array(fc.array(fc.tuple(operator, version), { minLength: 1, maxLength: 2 }), {
      minLength: 1,
      maxLength: 2,
    })
    .map((sets) => sets.map((set) => set.map(([op, v]) => `${op}${v}`).join(' ')).join(' || '));

  it('orders prereleases like npm semver: numeric below alphanumeric, by length, release last', () => {
    fc.assert(
      fc.property(version, range, (v, r) => {
        expect(satisfies(v, sets(r)), `${v} in ${r}`).toBe(semver.satisfies(v, r));
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts a release after its own prereleases and numeric identifiers by value', () => {
    expect(satisfies('1.0.0', sets('>1.0.0-rc.1'))).toBe(true);
    expect(satisfies('1.0.0-rc.1', sets('<1.0.0'))).toBe(false); // no comparator names a 1.0.0 prerelease
    expect(satisfies('1.0.0-beta.10', sets('>1.0.0-beta.2'))).toBe(true);
    expect(satisfies('1.0.0-beta.2', sets('>1.0.0-beta.10'))).toBe(false);
    expect(satisfies('1.0.0-beta.2.1', sets('>1.0.0-beta.2'))).toBe(true);
    expect(satisfies('1.0.0-beta', sets('<1.0.0-beta.0'))).toBe(true);
    expect(satisfies('1.0.0-1', sets('<1.0.0-alpha'))).toBe(true);
    expect(satisfies('1.0.0-alpha', sets('<1.0.0-beta'))).toBe(true);
    expect(satisfies('1.0.0-rc.1', sets('>=1.0.0-alpha <1.0.0'))).toBe(true);
    expect(satisfies('1.0.0-beta.20', sets('<1.0.0-beta.100'))).toBe(true);
    expect(satisfies('1.0.0-1', sets('<1.0.0--x'))).toBe(true);
    expect(satisfies('1.0.0--x', sets('>1.0.0-1'))).toBe(true);
    expect(satisfies('1.0.0-b1', sets('>1.0.0-a1'))).toBe(true);
    expect(satisfies('1.0.0-1b', sets('>1.0.0-1a'))).toBe(true);
  });

  it('includes the bound of <= and >=, and excludes it from < and >', () => {
    expect(satisfies('1.2.3', sets('<=1.2.3'))).toBe(true);
    expect(satisfies('1.2.3', sets('>=1.2.3'))).toBe(true);
    expect(satisfies('1.2.3', sets('<1.2.3'))).toBe(false);
    expect(satisfies('1.2.3', sets('>1.2.3'))).toBe(false);
    expect(satisfies('1.2.4', sets('>1.2.3'))).toBe(true);
  });
});

describe('isSemver', () => {
  it('accepts a semantic version with or without prerelease or build metadata', () => {
    for (const v of [
      '1.2.3',
      '1.2.3-rc.1',
      '1.2.3+build.5',
      '10.0.0-x-y.0+b',
      '1.10.3',
      '1.2.30',
      '1.2.3-alpha.beta',
      '1.2.3+build.5.x',
      '1.2.3+b.10',
    ])
      expect(isSemver(v), v).toBe(true);
  });

  it('refuses leading zeros, a leading v (semver.org), missing parts, empty identifiers and stray characters', () => {
    for (const v of [
      '1.2',
      '01.2.3',
      '1.02.3',
      '1.2.03',
      '1.2.3-',
      '1.2.3-a..b',
      'x1.2.3',
      'v1.2.3',
      'V1.2.3',
      '1.2.3 ',
    ])
      expect(isSemver(v), v).toBe(false);
  });
});
