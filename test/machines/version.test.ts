import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { type ComparatorSets, satisfies } from '../../machines/shared/version.ts';

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
