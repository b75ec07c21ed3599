/**
 * The one loader of the Lua commands (after BullMQ's `script-loader.ts`). Every atomic Redis
 * operation is a file in ./commands/ named `<name>-<numKeys>.lua` whose header lists KEYS, ARGV
 * and the reply codes. The folder is read once, at import: each `--- @include "includes/x"` line
 * is replaced by ./commands/includes/x.lua (once per script), and each script with a fixed key
 * count is registered on a client with ioredis `defineCommand`, which runs EVALSHA and falls back
 * to EVAL by itself (in pipelines and on Redis Cluster too). The typed wrappers in `commands` are
 * the only way in; reply-codes.ts turns their replies into typed results.
 *
 * Variable key counts: a header line `KEYS[n..]` (n = numKeys + 1) says more keys follow the
 * fixed ones. Such a script is not registered: it is sent as EVALSHA with its key count, and as
 * EVAL when the server answers NOSCRIPT (nothing ran then). A script defined with ioredis
 * `defineCommand` needs a fixed key count (without one the count is its first argument, and
 * ioredis groups auto-pipelined commands on a cluster by their first argument, while it finds
 * EVALSHA's keys by the command's key positions), and one definition per key count made every
 * pipeline ioredis builds copy them all: ~100 `commit:<n>` definitions in a benchmark run, about
 * 50 µs per auto-pipeline, one per tick.
 *
 * A command defined while the client has auto-pipelined commands queued is sent on its own until
 * that queue has drained once: those pipelines were built before the command existed and lack it.
 * RedisStore defines the fixed-key commands when it is created, before anything is queued.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type { RedisClient } from './client.ts';
import type { CommitResult } from './store.ts';
import {
  type JobClaimReply,
  type SessionAppendReply,
  decodeAppendSession,
  decodeSaveSettings,
  decodeClaimJobs,
  decodeCommit,
  decodeCompleteJob,
  decodeFailJob,
  decodeSettleDeadJob,
  stringOrNil,
} from './reply-codes.ts';

export const COMMANDS_DIR = new URL('./commands/', import.meta.url);

/** One script of the folder, ready to register. */
export interface CommandDefinition {
  /** The command name: the file name before `-<numKeys>.lua`. */
  name: string;
  file: string;
  /** The number in the file name: the fixed KEYS. */
  numberOfKeys: number;
  /** Whether more keys follow the fixed ones (header line `KEYS[numberOfKeys + 1..]`). */
  variableKeys: boolean;
  /** The source with every include resolved. */
  lua: string;
  /** SHA1 of `lua`: how EVALSHA names it. */
  sha: string;
  /** The include paths resolved into `lua`, in order. */
  includes: string[];
}

const FILE_NAME = /^([a-z][A-Za-z0-9]*)-(\d+)\.lua$/;
const INCLUDE = /^--- @include "([^"]+)"[ \t]*$/gm;
const HEADER_KEY = /^\s*KEYS\[(\d+)(\.\.)?\]/gm;

/** The KEYS a script's header comment (its first `--[[ ]]` block) declares. */
export function declaredKeys(lua: string): { fixed: number[]; variableFrom: number | null } {
  const header = /^--\[\[([\s\S]*?)\]\]/.exec(lua)?.[1] ?? '';
  const fixed = new Set<number>();
  let variableFrom: number | null = null;
  for (const [, n, more] of header.matchAll(HEADER_KEY)) {
    if (more) variableFrom = Number(n);
    else fixed.add(Number(n));
  }
  return { fixed: [...fixed].sort((a, b) => a - b), variableFrom };
}

/**
 * `source` with each `--- @include "path"` line replaced by `<dir>/<path>.lua`, itself resolved.
 * A file included twice (directly or through another include) is inserted once; a cycle throws.
 */
export function resolveIncludes(
  source: string,
  dir: URL,
  included: string[] = [],
  stack: readonly string[] = [],
): string {
  return source.replace(INCLUDE, (_line, path: string) => {
    const file = path.endsWith('.lua') ? path : `${path}.lua`;
    if (stack.includes(file))
      throw new Error(`Lua include cycle: ${[...stack, file].join(' -> ')}`);
    if (included.includes(file)) return '';
    included.push(file);
    const text = readFileSync(new URL(file, dir), 'utf8');
    return resolveIncludes(text, dir, included, [...stack, file]).trimEnd();
  });
}

/** Reads and checks every `<name>-<numKeys>.lua` of `dir` (not its subfolders). */
export function loadCommands(dir: URL = COMMANDS_DIR): Map<string, CommandDefinition> {
  const out = new Map<string, CommandDefinition>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const match = FILE_NAME.exec(entry.name);
    if (!match) throw new Error(`${entry.name}: Lua commands are named <name>-<numKeys>.lua`);
    const [, name, keys] = match as unknown as [string, string, string];
    const numberOfKeys = Number(keys);
    const includes: string[] = [];
    const lua = resolveIncludes(readFileSync(new URL(entry.name, dir), 'utf8'), dir, includes);
    const { fixed, variableFrom } = declaredKeys(lua);
    if (fixed.length !== numberOfKeys || fixed.some((k, i) => k !== i + 1)) {
      throw new Error(
        `${entry.name}: the header declares KEYS[${fixed.join('], KEYS[')}], not KEYS[1..${numberOfKeys}]`,
      );
    }
    if (variableFrom !== null && variableFrom !== numberOfKeys + 1) {
      throw new Error(`${entry.name}: variable keys must start at KEYS[${numberOfKeys + 1}..]`);
    }
    if (out.has(name)) throw new Error(`${entry.name}: a second command named ${name}`);
    out.set(name, {
      name,
      file: entry.name,
      numberOfKeys,
      variableKeys: variableFrom !== null,
      lua,
      sha: createHash('sha1').update(lua).digest('hex'),
      includes,
    });
  }
  return out;
}

/** Every command of the folder, read once. */
export const COMMANDS: ReadonlyMap<string, CommandDefinition> = loadCommands();

type Arg = string | number;
type Callable = (...args: string[]) => Promise<unknown>;

/** Command names registered per client by this module. */
const registered = new WeakMap<RedisClient, Set<string>>();

function queuedCommands(client: RedisClient): number {
  return (client as { autoPipelineQueueSize?: number }).autoPipelineQueueSize ?? 0;
}

/**
 * An auto-pipeline queued before `name` was defined lacks it, and ioredis would call it there:
 * `name` is sent on its own until no such pipeline is left (the queue drained once).
 */
function bypassAutoPipelining(client: RedisClient, name: string): void {
  const options = client.options as { autoPipeliningIgnoredCommands?: string[] };
  options.autoPipeliningIgnoredCommands = [...(options.autoPipeliningIgnoredCommands ?? []), name];
  const drained = () => {
    if (queuedCommands(client) > 0) {
      setImmediate(drained).unref();
      return;
    }
    options.autoPipeliningIgnoredCommands = (options.autoPipeliningIgnoredCommands ?? []).filter(
      (n) => n !== name,
    );
  };
  setImmediate(drained).unref();
}

/** Defines a fixed-key script on `client` (once); its name is the command's. */
function register(client: RedisClient, def: CommandDefinition): string {
  const { name, numberOfKeys } = def;
  let names = registered.get(client);
  if (!names) registered.set(client, (names = new Set()));
  if (names.has(name)) return name;
  if (name in client) throw new Error(`Lua command ${name} would shadow the client's own ${name}`);
  const queued = queuedCommands(client);
  client.defineCommand(name, { numberOfKeys, lua: def.lua });
  if (queued > 0) bypassAutoPipelining(client, name);
  names.add(name);
  return name;
}

/**
 * Registers every fixed-key command on `client` (idempotent). Called when the store is created,
 * before the client queues anything: an auto-pipeline queued before a command exists lacks it.
 */
export function defineCommands(client: RedisClient): void {
  for (const def of COMMANDS.values()) if (!def.variableKeys) register(client, def);
}

/** A variable-key script: EVALSHA with its key count, EVAL if the server lacks the script. */
async function evalVariable(
  client: RedisClient,
  def: CommandDefinition,
  keys: readonly string[],
  args: readonly Arg[],
): Promise<unknown> {
  const rest = [...keys, ...args.map(String)];
  try {
    return await client.evalsha(def.sha, keys.length, ...rest);
  } catch (error) {
    // NOSCRIPT: the server has not cached it (first use, a restart, SCRIPT FLUSH); nothing ran.
    if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
    return client.eval(def.lua, keys.length, ...rest);
  }
}

/** Runs command `name`; arguments travel as strings, as on a real server. */
async function run(
  client: RedisClient,
  name: string,
  keys: readonly string[],
  args: readonly Arg[],
): Promise<unknown> {
  const def = COMMANDS.get(name);
  if (!def) throw new Error(`no Lua command ${name} in ${COMMANDS_DIR.pathname}`);
  const fits = def.variableKeys
    ? keys.length >= def.numberOfKeys
    : keys.length === def.numberOfKeys;
  if (!fits) throw new Error(`${def.file} called with ${keys.length} keys`);
  if (def.variableKeys) return evalVariable(client, def, keys, args);
  const command = register(client, def);
  const fn = (client as unknown as Record<string, Callable>)[command]!;
  return fn.call(client, ...keys, ...args.map(String));
}

type Keys<N extends number, T extends string[] = []> = T['length'] extends N
  ? readonly [...T]
  : Keys<N, [...T, string]>;

/**
 * The typed entry points, one per file of ./commands/: keys and arguments as each header lists
 * them, replies decoded by reply-codes.ts.
 *
 * @example
 * const jobs = await commands.claimJobs(redis, [due, data, state], [now, now + 30_000, 100, 5, token]);
 */
export const commands = {
  /** commit-5.lua: the opcode protocol is built by commitArgs (commit-args.ts). */
  async commit(
    client: RedisClient,
    keys: readonly [...Keys<5>, ...string[]],
    args: readonly Arg[],
  ): Promise<CommitResult[]> {
    return decodeCommit((await run(client, 'commit', keys, args)) as (string | number)[]);
  },

  /** The number of jobs scheduled. */
  async scheduleJobs(
    client: RedisClient,
    keys: Keys<2>,
    args: readonly (string | number)[],
  ): Promise<number> {
    return Number(await run(client, 'scheduleJobs', keys, args));
  },

  async claimJobs(
    client: RedisClient,
    keys: Keys<3>,
    args: readonly [
      now: number,
      leaseUntil: number,
      limit: number,
      maxAttempts: number,
      token: string,
    ],
  ): Promise<JobClaimReply[]> {
    return decodeClaimJobs((await run(client, 'claimJobs', keys, args)) as unknown[]);
  },

  /** Whether the job was completed (false: the claim was lost). Keys: 3, then the record. */
  async completeJob(
    client: RedisClient,
    keys: readonly [...Keys<3>, ...string[]],
    args: readonly [id: string, token: string, retentionMs: number, ...recordFields: string[]],
  ): Promise<boolean> {
    return decodeCompleteJob(await run(client, 'completeJob', keys, args));
  },

  /** What the failure led to (null: the claim was lost). Keys: 4, then the record. */
  async failJob(
    client: RedisClient,
    keys: readonly [...Keys<4>, ...string[]],
    args: readonly [
      id: string,
      token: string,
      retryAt: number,
      maxAttempts: number,
      error: string,
      deadMember: string,
      retryPairs: number,
      ...recordFields: string[],
    ],
  ): Promise<'retrying' | 'dead-lettered' | null> {
    return decodeFailJob(await run(client, 'failJob', keys, args));
  },

  /** Whether the job was dead-lettered (now retried or discarded). Keys: 4, then the record. */
  async settleDeadJob(
    client: RedisClient,
    keys: readonly [...Keys<4>, ...string[]],
    args: readonly [
      id: string,
      action: 'retry' | 'discard',
      now: number,
      retentionMs: number,
      ...recordFields: string[],
    ],
  ): Promise<boolean> {
    return decodeSettleDeadJob(await run(client, 'settleDeadJob', keys, args));
  },

  /** notify-6.lua: null for a new request, else the summary JSON recorded before. */
  async notify(
    client: RedisClient,
    keys: readonly [...Keys<6>, ...string[]],
    args: readonly Arg[],
  ): Promise<string | null> {
    return stringOrNil(await run(client, 'notify', keys, args));
  },

  /** The stream entry id given to the event: its SSE `id:`. */
  async appendLiveEvent(
    client: RedisClient,
    keys: Keys<1>,
    args: readonly [maxLen: number, channel: string, payload: string],
  ): Promise<string> {
    return String(await run(client, 'appendLiveEvent', keys, args));
  },

  /** Whether `holder` has the lease now (taken or renewed). */
  async holdLease(
    client: RedisClient,
    keys: Keys<1>,
    args: readonly [holder: string, ttlMs: number],
  ): Promise<boolean> {
    return Number(await run(client, 'holdLease', keys, args)) === 1;
  },

  /** Whether the lease was released (false: `holder` did not have it). */
  async releaseLease(
    client: RedisClient,
    keys: Keys<1>,
    args: readonly [holder: string],
  ): Promise<boolean> {
    return Number(await run(client, 'releaseLease', keys, args)) === 1;
  },

  /** The new stream entry's id, or null when the marker was set before (nothing written). */
  async addMetricOnce(
    client: RedisClient,
    keys: Keys<2>,
    args: readonly [ttlMs: number, maxLen: number, field: string, json: string],
  ): Promise<string | null> {
    return stringOrNil(await run(client, 'addMetricOnce', keys, args));
  },

  async appendSession(
    client: RedisClient,
    keys: Keys<7>,
    args: readonly string[],
  ): Promise<SessionAppendReply> {
    return decodeAppendSession((await run(client, 'appendSession', keys, args)) as unknown[]);
  },

  /** Whether the settings were saved and audited (false: changed since `expected` was read). */
  async saveSettings(
    client: RedisClient,
    keys: Keys<3>,
    args: readonly [expected: string, json: string, auditMember: string, auditJson: string],
  ): Promise<boolean> {
    return decodeSaveSettings(await run(client, 'saveSettings', keys, args));
  },
};
