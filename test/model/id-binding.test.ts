import { describe, expect, it } from 'vitest';
import { IdBinding } from './workspace.driver.ts';

/** The placeholder ids of the workspace model bind one to one to the real ids, or the check fails. */
describe('IdBinding (placeholder ids of the model against the real ids)', () => {
  it('binds a placeholder to the real id found in its place and keeps it', () => {
    const ids = new IdBinding();
    ids.check({ id: 'real-1', n: 1 }, { id: '@event:1', n: 1 }, 'first');
    ids.check([{ ref: 'real-1' }], [{ ref: '@event:1' }], 'same placeholder, same id');
    expect(() => ids.check({ ref: 'real-2' }, { ref: '@event:1' }, 'another id')).toThrow(
      /another id/,
    );
  });

  it('refuses one real id for two placeholders, and a placeholder where nothing is', () => {
    const ids = new IdBinding();
    ids.check({ a: 'real-1' }, { a: '@migration:2' }, 'bind');
    expect(() => ids.check({ b: 'real-1' }, { b: '@migration:3' }, 'reused')).toThrow(/reused/);
    expect(() => ids.check({}, { c: '@event:4' }, 'missing')).toThrow(/missing/);
  });

  it('compares everything else as it is', () => {
    expect(() => new IdBinding().check({ n: 2 }, { n: 1 }, 'values')).toThrow(/values/);
  });
});
