import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import RedisMock from 'ioredis-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisClient } from '../../src/store/client.ts';
import { type ActorCommit, RedisStore } from '../../src/store/redis-store.ts';
import type { RetryQueue } from '../../src/store/store.ts';
import {
  COMMANDS,
  COMMANDS_DIR,
  commands,
  declaredKeys,
  loadCommands,
  resolveIncludes,
} from '../../src/store/scripts.ts';
import { deletePrefix, realRedis, testPrefix } from '../helpers.ts';

const dir = COMMANDS_DIR.pathname;
const luaFiles = readdirSync(dir).filter((f) => f.endsWith('.lua'));

const POLICY = { maxAttempts: 5, baseDelayMs: 1000, leaseMs: 1000 };

/** Claims the due outbox entries at `now` and completes them; their ids, sorted. */
async function drain(queue: RetryQueue, installationId: string, now: number): Promise<string[]> {
  const jobs = await queue.claim(installationId, now, 10);
  for (const job of jobs) expect(await queue.complete(installationId, job, now)).toBe(true);
  return jobs.map((j) => j.id).sort();
}

function commitOf(id: string): ActorCommit {
  return {
    ref: { kind: 'connection', installationId: 'inst-s', id },
    expectedVersion: 0,
    snapshot: `{"id":"${id}"}`,
    timers: [],
    outbox: [{ id: `o-${id}`, leaseUntil: 0, json: `{"for":"${id}"}` }],
    indexes: [{ op: 'add', index: 'connection:all', member: id }],
  };
}

describe('the Lua command folder', () => {
  it('loads every file, each named <name>-<numKeys>.lua with numKeys the KEYS its header lists', () => {
    expect(luaFiles.length).toBeGreaterThanOrEqual(8);
    expect([...COMMANDS.values()].map((c) => c.file).sort()).toEqual([...luaFiles].sort());
    for (const file of luaFiles) {
      const [, name, keys] = /^([a-z][A-Za-z0-9]*)-(\d+)\.lua$/.exec(file) ?? [];
      expect(name, file).toBeDefined();
      const { fixed } = declaredKeys(readFileSync(join(dir, file), 'utf8'));
      expect(fixed, file).toEqual(Array.from({ length: Number(keys) }, (_, i) => i + 1));
      const def = COMMANDS.get(name!)!;
      expect(def.numberOfKeys).toBe(Number(keys));
      expect(def.lua, file).toMatch(/ARGV/);
      expect(def.lua, file).toMatch(/Output/);
    }
  });

  it('has one typed wrapper per file and no file without one', () => {
    expect(Object.keys(commands).sort()).toEqual([...COMMANDS.keys()].sort());
  });

  it('marks the scripts with a variable key count from their header', () => {
    const variable = [...COMMANDS.values()].filter((c) => c.variableKeys).map((c) => c.name);
    expect(variable.sort()).toEqual([
      'commit',
      'completeJob',
      'failJob',
      'notify',
      'settleDeadJob',
    ]);
  });

  it('resolves includes: the retry queue is inlined, once, in every script that writes its jobs', () => {
    for (const name of [
      'commit',
      'notify',
      'scheduleJobs',
      'claimJobs',
      'completeJob',
      'failJob',
      'settleDeadJob',
    ]) {
      const def = COMMANDS.get(name)!;
      expect(def.includes, name).toContain('includes/jobQueue.lua');
      expect(def.lua.match(/local function scheduleJob\(/g), name).toHaveLength(1);
    }
    for (const def of COMMANDS.values()) expect(def.lua, def.file).not.toMatch(/@include/);
  });

  describe('on a folder of its own', () => {
    let tmp: string;
    let url: URL;
    beforeAll(() => {
      tmp = mkdtempSync(join(tmpdir(), 'lua-commands-'));
      mkdirSync(join(tmp, 'includes'));
      url = pathToFileURL(`${tmp}/`);
    });
    afterAll(() => rmSync(tmp, { recursive: true, force: true }));

    it('includes a file reached twice once, nested includes too', () => {
      writeFileSync(join(tmp, 'includes/a.lua'), 'local a = 1');
      writeFileSync(join(tmp, 'includes/b.lua'), '--- @include "includes/a"\nlocal b = a');
      const lua = resolveIncludes(
        '--- @include "includes/b"\n--- @include "includes/a"\nreturn b',
        url,
      );
      expect(lua.match(/local a = 1/g)).toHaveLength(1);
      expect(lua.indexOf('local a')).toBeLessThan(lua.indexOf('local b'));
    });

    it('refuses an include cycle', () => {
      writeFileSync(join(tmp, 'includes/c.lua'), '--- @include "includes/d"');
      writeFileSync(join(tmp, 'includes/d.lua'), '--- @include "includes/c"');
      expect(() => resolveIncludes('--- @include "includes/c"', url)).toThrow(/cycle/);
    });

    it('refuses a file whose name does not match its KEYS header', () => {
      writeFileSync(join(tmp, 'twoKeys-3.lua'), '--[[\n  KEYS[1] a\n  KEYS[2] b\n]]\nreturn 1');
      expect(() => loadCommands(url)).toThrow(/twoKeys-3.lua/);
      rmSync(join(tmp, 'twoKeys-3.lua'));
      writeFileSync(join(tmp, 'two_keys.lua'), 'return 1');
      expect(() => loadCommands(url)).toThrow(/<name>-<numKeys>\.lua/);
      rmSync(join(tmp, 'two_keys.lua'));
      writeFileSync(join(tmp, 'twoKeys-2.lua'), '--[[\n  KEYS[1] a\n  KEYS[2] b\n]]\nreturn 1');
      expect([...loadCommands(url).keys()]).toEqual(['twoKeys']);
    });
  });
});

describe.each<[string, () => RedisClient]>([['embedded ioredis-mock', () => new RedisMock()]])(
  'the commands on the %s',
  (_name, connect) => {
    it('commit with a varying key count, claim and complete the outbox', async () => {
      const redis = connect();
      const store = new RedisStore(redis, testPrefix('scripts'));
      try {
        expect(await store.commit('inst-s', [commitOf('a')])).toEqual([
          { status: 'committed', version: 1 },
        ]);
        expect(await store.commit('inst-s', [commitOf('b'), commitOf('c')])).toEqual([
          { status: 'committed', version: 1 },
          { status: 'committed', version: 1 },
        ]);
        const queue = store.effectQueue(POLICY);
        const claimed = await queue.claim('inst-s', 1, 10);
        expect(claimed.map((e) => [e.id, e.attempt]).sort()).toEqual([
          ['o-a', 2],
          ['o-b', 2],
          ['o-c', 2],
        ]);
        for (const job of claimed.slice(0, 2))
          expect(await queue.complete('inst-s', job, 1)).toBe(true);
        expect(await queue.size('inst-s')).toBe(1);
      } finally {
        redis.disconnect();
      }
    });
  },
);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('the commands on a Redis whose script cache is flushed', () => {
  // A server of our own: SCRIPT FLUSH on the shared Redis would disturb everyone else on it.
  let server: ChildProcess;
  let redis: Redis;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    redis = new Redis(port, '127.0.0.1', {
      enableAutoPipelining: true,
      retryStrategy: (n) => (n > 50 ? null : 100),
    });
    redis.on('error', () => {}); // refused until the server listens
    await redis.ping();
  });
  afterAll(async () => {
    redis?.disconnect();
    if (server?.pid) process.kill(server.pid, 'SIGTERM');
    await new Promise((r) => server?.once('exit', r));
  });

  it('runs every kind of command again after SCRIPT FLUSH (EVALSHA falls back to EVAL)', async () => {
    const store = new RedisStore(redis, testPrefix('scripts'));
    await store.commit('inst-s', [commitOf('a')]);
    const queue = store.effectQueue(POLICY);
    expect(await queue.claim('inst-s', 1, 10)).toHaveLength(1);
    const sha = createHash('sha1').update(COMMANDS.get('commit')!.lua).digest('hex');
    expect(await redis.script('EXISTS', sha)).toEqual([1]);

    await redis.script('FLUSH');
    expect(await redis.script('EXISTS', sha)).toEqual([0]);
    // The same key count (3 keys more than the fixed 5), another one, and a fixed-key command.
    expect(await store.commit('inst-s', [commitOf('b')])).toEqual([
      { status: 'committed', version: 1 },
    ]);
    expect(await store.commit('inst-s', [commitOf('c'), commitOf('d')])).toHaveLength(2);
    expect(await drain(queue, 'inst-s', 3000)).toEqual(['o-a', 'o-b', 'o-c', 'o-d']);
    expect(await redis.script('EXISTS', sha)).toEqual([1]);
  });

  it('defines no command per key count: a pipeline ioredis builds copies every defined one', async () => {
    const fresh = new Redis(port, '127.0.0.1', { enableAutoPipelining: true });
    try {
      const store = new RedisStore(fresh, testPrefix('scripts'));
      const defined = Object.keys(fresh.scriptsSet).sort();
      for (let n = 1; n <= 12; n++) {
        const batch = Array.from({ length: n }, (_, i) => commitOf(`k${n}-${i}`));
        expect((await store.commit('inst-s', batch)).map((r) => r.status)).toEqual(
          batch.map(() => 'committed'),
        );
      }
      expect(Object.keys(fresh.scriptsSet).sort()).toEqual(defined);
      expect(defined).toEqual(
        [...COMMANDS.values()]
          .filter((d) => !d.variableKeys)
          .map((d) => d.name)
          .sort(),
      );
    } finally {
      fresh.disconnect();
    }
  });

  it('runs commands auto-pipelined with others in one tick, on a client that just got them', async () => {
    const fresh = new Redis(port, '127.0.0.1', { enableAutoPipelining: true });
    const prefix = testPrefix('scripts');
    try {
      // Queued before the store defines its commands, with commit's first EVALSHA.
      const pending = fresh.set(`${prefix}:x`, '1');
      const store = new RedisStore(fresh, prefix);
      const [, committed, claimed] = await Promise.all([
        pending,
        store.commit('inst-s', [commitOf('e'), commitOf('f'), commitOf('g')]),
        commands.claimJobs(
          fresh,
          [`${prefix}:o`, `${prefix}:d`, `${prefix}:a`],
          [1, 2, 10, 5, 't'],
        ),
      ]);
      expect(committed.map((r) => r.status)).toEqual(['committed', 'committed', 'committed']);
      expect(claimed).toEqual([]);
    } finally {
      fresh.disconnect();
    }
  });
});

describe('the commands on the Redis this run targets (single node or cluster)', () => {
  it('routes commands queued in one tick with commands for other slots', async () => {
    const redis = realRedis();
    const prefix = testPrefix('scripts');
    const store = new RedisStore(redis, prefix);
    try {
      // Keys of two installations (two slots, on a cluster usually two masters) in one tick.
      const installations = ['inst-s', 'inst-t', 'inst-u'];
      const [commits, claims, reads] = await Promise.all([
        Promise.all(
          installations.map((inst) =>
            store.commit(inst, [
              { ...commitOf('h'), ref: { ...commitOf('h').ref, installationId: inst } },
            ]),
          ),
        ),
        Promise.all(installations.map((inst) => store.effectQueue(POLICY).claim(inst, 1, 10))),
        Promise.all(installations.map((inst) => redis.get(`${prefix}:unrelated:${inst}`))),
      ]);
      expect(commits).toEqual(installations.map(() => [{ status: 'committed', version: 1 }]));
      expect(claims.every(Array.isArray)).toBe(true);
      expect(reads).toEqual([null, null, null]);
      const claimed = await Promise.all(
        installations.map((i) => store.effectQueue(POLICY).claim(i, 1, 10)),
      );
      expect(claimed.flat().length + claims.flat().length).toBe(3);
    } finally {
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  });
});
