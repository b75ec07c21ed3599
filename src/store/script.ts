import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisClient as Redis } from './client.ts';

/**
 * A Lua script file, run by SHA with a fallback to EVAL (which also caches it). Arguments travel
 * as strings, as on a real server, so the embedded store's Lua sees the same values.
 *
 * @example
 * const claim = new LuaScript(new URL('./lua/claim-outbox.lua', import.meta.url));
 * await claim.run(redis, [key], [now]);
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;
  constructor(file: URL) {
    this.source = readFileSync(file, 'utf8');
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  async run<T>(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<T> {
    const argv = args.map(String);
    try {
      return (await redis.evalsha(this.sha, keys.length, ...keys, ...argv)) as T;
    } catch (error) {
      if (!String(error).includes('NOSCRIPT')) throw error;
      return (await redis.eval(this.source, keys.length, ...keys, ...argv)) as T;
    }
  }
}
