/**
 * The order in which a chain hands routed events to a receiver across rounds (causalOrder in
 * src/engine/chain-order.ts). test/http/workspaces.test.ts shows why through HTTP: a rollback decided
 * inside one batch names every connection, because their rolled-back reports come after it.
 */
import { describe, expect, it } from 'vitest';
import { causalOrder } from '../../src/engine/chain-order.ts';

describe('causalOrder', () => {
  it('keeps what was delivered in earlier rounds first, and appends what was emitted since', () => {
    expect(causalOrder(['c1#0', 'c2#0'], ['c1#0', 'c1#1', 'c2#0', 'c2#1'])).toEqual([
      'c1#0',
      'c2#0',
      'c1#1',
      'c2#1',
    ]);
  });

  it('orders a first round by actor, then emission', () => {
    expect(causalOrder([], ['a#0', 'a#1', 'b#0'])).toEqual(['a#0', 'a#1', 'b#0']);
  });

  it('drops an event that is no longer emitted, keeping the order of the rest', () => {
    expect(causalOrder(['a#0', 'b#0', 'c#0'], ['c#0', 'a#0'])).toEqual(['a#0', 'c#0']);
  });

  it('is stable once nothing new is emitted', () => {
    const order = causalOrder(['b#0'], ['a#0', 'b#0']);
    expect(causalOrder(order, ['a#0', 'b#0'])).toEqual(order);
  });
});
