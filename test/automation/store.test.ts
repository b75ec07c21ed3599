/**
 * The session store's append script on both stores the service runs on: real Redis (under a
 * test prefix) and the embedded ioredis-mock (whose Lua formats numbers differently).
 */
import RedisMock from 'ioredis-mock';
import type { RedisClient as Redis } from '../../src/store/client.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionStore } from '../../src/automation/store.ts';
import { RedisStore } from '../../src/store/redis-store.ts';
import { deletePrefix, realRedis, testPrefix } from '../helpers.ts';

const real = realRedis();
const prefix = testPrefix('automation-store');

afterAll(async () => {
  await deletePrefix(real, prefix);
  real.disconnect();
});

describe.each([
  ['real Redis', () => real],
  ['embedded store', (): Redis => new RedisMock()],
])('SessionStore on %s', (_name, redis) => {
  it('appends once per key, links the workspace, counts skips and pages with integer cursors', async () => {
    const store = new SessionStore(new RedisStore(redis(), `${prefix}:${_name.length}`));
    const a = { stream: 'automation', key: 'run:1', json: '{"n":1}' } as const;
    const t = { stream: 'transcript', key: 'automation-1', json: '{"t":1}' } as const;
    expect(await store.append('i1', 's1', 'w1', [a, t], 'w1')).toEqual({
      created: true,
      json: '{"n":1}',
      skipCount: 1,
    });
    expect(await store.append('i1', 's1', 'w1', [{ ...a, json: '{"n":2}' }, t], 'w1')).toEqual({
      created: false,
      json: '{"n":1}',
      skipCount: null,
    });
    await store.append('i1', 's1', null, [
      { stream: 'transcript', key: 'x', json: '{"t":2}' },
      { stream: 'transcript', key: 'automation-1', json: '{"t":"dup"}' },
    ]);
    const first = await store.page('i1', 's1', 'transcript', { limit: 1, order: 'oldest-first' });
    expect(first).toEqual({ items: ['{"t":1}'], nextCursor: '1' });
    expect(
      await store.page('i1', 's1', 'transcript', {
        after: first.nextCursor!,
        limit: 1,
        order: 'oldest-first',
      }),
    ).toEqual({ items: ['{"t":2}'], nextCursor: null });
    expect(await store.page('i1', 's1', 'transcript', { limit: 5, order: 'newest-first' })).toEqual(
      { items: ['{"t":2}', '{"t":1}'], nextCursor: null },
    );
    expect(await store.workspaceSessions('i1', 'w1')).toEqual(['s1']);
    expect(await store.workspaceSessions('i1', 'w2')).toEqual([]);
  });
});
