/**
 * The embedded in-process store (ioredis-mock, what `connectRedis` in src/main.ts starts when
 * neither REDIS_URL nor REDIS_CLUSTER_NODES is set) with Redis stream semantics.
 *
 * ioredis-mock's streams are not Redis streams: XADD numbers entries `<length + 1>-0`, so ids
 * repeat once MAXLEN has trimmed the stream (and XADD fails for good a few entries later, when
 * the oldest entry kept has the id it would give); XRANGE and XREVRANGE compare ids with
 * `parseInt`, so any bound but `-` and `+` (e.g. the exclusive `(id` or the `<ms>-<seq + 1>` a
 * cursor continues from) matches nothing; XTRIM does not exist. A cursor over a stream (the
 * envelopes of `GET /v1/metrics/envelopes`, the Last-Event-ID of a live stream) cannot work on
 * that. `adaptEmbeddedStore` replaces these commands on the client, in its pipelines and in the
 * Lua scripts it runs, so that every stream of the embedded store behaves as on Redis:
 *
 * - XADD gives `<ms>-<seq>` ids from the clock (`seq` counting entries of one millisecond,
 *   never going back when the clock does), refuses an explicit id not after the newest entry,
 *   and takes NOMKSTREAM, MAXLEN / MINID with `=` or `~` (both exact here) and LIMIT;
 * - XRANGE / XREVRANGE compare ids as numbers (`<ms>-<seq>`), with incomplete ids (`<ms>`),
 *   exclusive bounds (`(id`) and COUNT;
 * - XTRIM MAXLEN / MINID.
 *
 * Streams keep ioredis-mock's own representation (an array of `[id, fields]`, oldest first),
 * so its XLEN keeps working (its XREAD does not: nothing here uses it). Lua scripts run the mock's own stream commands, which this
 * module cannot replace: a script that uses streams runs with a prelude (`STREAM_PRELUDE`) and
 * the current time as one more ARGV, and adds entries as `<ms>-0`, after the newest entry (a
 * millisecond later when that one is as new), and reads them as Redis answers them.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './client.ts';

/** ioredis-mock's key space (`client.data`): values are copied on get and on set. */
interface MockData {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  has(key: string): boolean;
}

type Fields = string[];
type Entry = [id: string, fields: Fields];
type Emulator = (...args: string[]) => unknown;

/** What ioredis-mock has beyond the ioredis API, as far as this module uses it. */
interface MockClient {
  data: MockData;
  /** Commands its pipelines and MULTI take over from the client (after the built-in ones). */
  customCommands: Record<string, Emulator>;
  /** Scripts EVALSHA finds, by SHA1 of their source. */
  shaScripts: Record<string, string>;
  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void;
  eval(script: string, numberOfKeys: number | string, ...args: unknown[]): Promise<unknown>;
  evalsha(sha: string, numberOfKeys: number | string, ...args: unknown[]): Promise<unknown>;
  [command: string]: unknown;
}

const U64_MAX = 2n ** 64n - 1n;
const ID = /^(\d+)(?:-(\d+))?$/;
const INVALID_ID = 'ERR Invalid stream ID specified as stream command argument';
const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/** A stream id as two numbers, comparable as Redis orders entries. */
type StreamId = readonly [ms: bigint, seq: bigint];

function compare(a: StreamId, b: StreamId): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1;
}

const format = (id: StreamId) => `${id[0]}-${id[1]}`;

/**
 * Parses an id or an incomplete id (`<ms>`, whose missing sequence is `missingSeq`); null
 * when it is neither.
 */
function parseId(s: string, missingSeq: bigint): StreamId | null {
  const m = ID.exec(s);
  if (!m) return null;
  const ms = BigInt(m[1]!);
  const seq = m[2] === undefined ? missingSeq : BigInt(m[2]);
  return ms <= U64_MAX && seq <= U64_MAX ? [ms, seq] : null;
}

/** The id of a stored entry (always complete: written here or by `STREAM_PRELUDE`). */
function idOf(entry: Entry): StreamId {
  const id = parseId(entry[0], 0n);
  if (!id) throw new Error(`not a stream id in the embedded store: ${entry[0]}`);
  return id;
}

/** A range bound: `-`, `+`, an id, an incomplete id, each but `-`/`+` exclusive with `(`. */
function bound(s: string, side: 'start' | 'end'): StreamId | null {
  if (s === '-') return [0n, 0n];
  if (s === '+') return [U64_MAX, U64_MAX];
  const exclusive = s.startsWith('(');
  const id = parseId(exclusive ? s.slice(1) : s, side === 'start' ? 0n : U64_MAX);
  if (!id) throw new Error(INVALID_ID);
  if (!exclusive) return id;
  // The first id after (or last before) the excluded one; null when there is none.
  const [ms, seq] = id;
  if (side === 'start') {
    if (seq < U64_MAX) return [ms, seq + 1n];
    return ms < U64_MAX ? [ms + 1n, 0n] : null;
  }
  if (seq > 0n) return [ms, seq - 1n];
  return ms > 0n ? [ms - 1n, U64_MAX] : null;
}

function integer(s: string | undefined): bigint {
  if (s === undefined || !/^-?\d+$/.test(s))
    throw new Error('ERR value is not an integer or out of range');
  return BigInt(s);
}

/** The stream at `key` (oldest first), or null when there is none; WRONGTYPE for other types. */
function streamAt(data: MockData, key: string): Entry[] | null {
  if (!data.has(key)) return null;
  const value = data.get(key);
  if (!Array.isArray(value)) throw new Error(WRONGTYPE);
  return value as Entry[];
}

/** A trim strategy (`=`, `~` and LIMIT are accepted; the trim is exact). */
type Trim = { by: 'MAXLEN'; max: number } | { by: 'MINID'; min: StreamId };

/** Reads `MAXLEN|MINID [=|~] threshold [LIMIT count]` at `args[i]`; the index after it. */
function parseTrim(args: string[], i: number): [Trim, number] {
  const by = args[i]!.toUpperCase();
  let at = i + 1;
  if (args[at] === '=' || args[at] === '~') at++;
  const raw = args[at++];
  let trim: Trim;
  if (by === 'MAXLEN') {
    const max = integer(raw);
    if (max < 0n) throw new Error('ERR The MAXLEN argument must be >= 0.');
    trim = { by, max: Number(max) };
  } else {
    const min = raw === undefined ? null : parseId(raw, 0n);
    if (!min) throw new Error(INVALID_ID);
    trim = { by: 'MINID', min };
  }
  if (args[at]?.toUpperCase() === 'LIMIT') {
    integer(args[at + 1]);
    at += 2;
  }
  return [trim, at];
}

/** The entries a trim keeps. */
function trimmed(entries: Entry[], trim: Trim): Entry[] {
  if (trim.by === 'MAXLEN') {
    return entries.length > trim.max ? entries.slice(entries.length - trim.max) : entries;
  }
  const first = entries.findIndex((e) => compare(idOf(e), trim.min) >= 0);
  return first < 0 ? [] : entries.slice(first);
}

/**
 * The stream commands of the embedded store, on its key space. `now` is the store's clock
 * (Redis uses its own server time for `*` ids).
 */
export function streamCommands(data: MockData, now: () => number = Date.now) {
  const xadd = (key: string, ...args: string[]): string | null => {
    let i = 0;
    let noMkStream = false;
    let trim: Trim | null = null;
    for (;;) {
      const option = args[i]?.toUpperCase();
      if (option === 'NOMKSTREAM') {
        noMkStream = true;
        i++;
      } else if (option === 'MAXLEN' || option === 'MINID') {
        [trim, i] = parseTrim(args, i);
      } else break;
    }
    const requested = args[i];
    const fields = args.slice(i + 1);
    if (requested === undefined || fields.length === 0 || fields.length % 2 !== 0) {
      throw new Error("ERR wrong number of arguments for 'xadd' command");
    }
    const entries = streamAt(data, key);
    if (entries === null && noMkStream) return null;
    const list = entries ?? [];
    const last = list.length > 0 ? idOf(list[list.length - 1]!) : null;
    let id: StreamId;
    if (requested === '*') {
      const ms = BigInt(Math.max(0, Math.floor(now())));
      id = last === null || ms > last[0] ? [ms, 0n] : [last[0], last[1] + 1n];
    } else if (/^\d+-\*$/.test(requested)) {
      const ms = parseId(requested.slice(0, -2), 0n);
      if (!ms) throw new Error(INVALID_ID);
      id = last !== null && last[0] === ms[0] ? [ms[0], last[1] + 1n] : ms;
    } else {
      const explicit = parseId(requested, 0n);
      if (!explicit) throw new Error(INVALID_ID);
      id = explicit;
    }
    if (compare(id, [0n, 0n]) === 0) {
      throw new Error('ERR The ID specified in XADD must be greater than 0-0');
    }
    if (last !== null && compare(id, last) <= 0) {
      throw new Error(
        'ERR The ID specified in XADD is equal or smaller than the target stream top item',
      );
    }
    const added: Entry[] = [...list, [format(id), fields]];
    data.set(key, trim ? trimmed(added, trim) : added);
    return format(id);
  };

  const range = (key: string, start: string, end: string, rest: string[], reverse: boolean) => {
    if (start === undefined || end === undefined) {
      throw new Error(
        `ERR wrong number of arguments for '${reverse ? 'xrevrange' : 'xrange'}' command`,
      );
    }
    let count: bigint | null = null;
    if (rest.length > 0) {
      if (rest.length !== 2 || rest[0]!.toUpperCase() !== 'COUNT')
        throw new Error('ERR syntax error');
      count = integer(rest[1]);
    }
    const from = bound(start, 'start');
    const to = bound(end, 'end');
    if (from === null) throw new Error('ERR invalid start ID for the interval');
    if (to === null) throw new Error('ERR invalid end ID for the interval');
    const entries = streamAt(data, key);
    // Redis answers nil to COUNT 0 (or less) on a stream, an empty list when there is none.
    if (entries === null) return [];
    if (count !== null && count <= 0n) return null;
    const inRange = (e: Entry) => {
      const id = idOf(e);
      return compare(id, from) >= 0 && compare(id, to) <= 0;
    };
    const out: Entry[] = [];
    const limit = count === null ? Infinity : Number(count);
    for (let k = 0; k < entries.length && out.length < limit; k++) {
      const e = entries[reverse ? entries.length - 1 - k : k]!;
      if (inRange(e)) out.push([e[0], [...e[1]]]);
    }
    return out;
  };

  return {
    xadd,
    /** XRANGE key start end [COUNT n]. */
    xrange: (key: string, start: string, end: string, ...rest: string[]) =>
      range(key, start, end, rest, false),
    /** XREVRANGE key end start [COUNT n]. */
    xrevrange: (key: string, end: string, start: string, ...rest: string[]) =>
      range(key, start, end, rest, true),
    /** XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]: the number of entries removed. */
    xtrim: (key: string, ...args: string[]): number => {
      const option = args[0]?.toUpperCase();
      if (option !== 'MAXLEN' && option !== 'MINID') throw new Error('ERR syntax error');
      const [trim, next] = parseTrim(args, 0);
      if (next !== args.length) throw new Error('ERR syntax error');
      const entries = streamAt(data, key);
      if (entries === null) return 0;
      const kept = trimmed(entries, trim);
      if (kept.length !== entries.length) data.set(key, kept);
      return entries.length - kept.length;
    },
  };
}

/**
 * Prepended to a script that uses a stream command, on the embedded store only. Its last ARGV is
 * the time (ms), taken off before the script runs. In the mock's Lua:
 * - `XADD key ... * field value ...` adds the entry as `<ms>-0`, with ms the later of that time
 *   and one after the newest entry's: the mock's XADD takes an explicit `<ms>` and writes
 *   `<ms>-0`, so a script cannot write a sequence number. The key the mock's XADD leaves per
 *   entry (`stream:<key>:<id>`) is deleted.
 * - XRANGE / XREVRANGE answer entries as Redis does, `{ id, { field, value, ... } }` (the mock
 *   hands the entries to Lua as JavaScript arrays, indexed from 0), and only from `-` to `+`:
 *   any other bound is an error rather than the mock's wrong answer. No script needs one.
 * Decimal strings are compared as such: the Lua of the mock counts in 32-bit integers and floats.
 */
const STREAM_PRELUDE = `
local embeddedNow = table.remove(ARGV)
local embeddedCall = redis.call
local function embeddedAfter(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local function embeddedRange(command, key, from, to, ...)
  if (from ~= '-' and from ~= '+') or (to ~= '-' and to ~= '+') then
    error('the embedded store ranges a stream in Lua only from - to +')
  end
  local reply = embeddedCall(command, key, from, to, ...)
  local entries = {}
  for i = 1, #reply do
    local entry = reply[i]
    local fields = {}
    for j = 0, entry[1].length - 1 do
      fields[#fields + 1] = entry[1][j]
    end
    entries[i] = { entry[0], fields }
  end
  return entries
end
local function embeddedAdd(key, ...)
  local args = { ... }
  for i = 1, #args do
    if args[i] == '*' then
      local ms = embeddedNow
      local newest = embeddedRange('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
      if newest then
        local newestMs = string.match(newest[1], '^(%d+)')
        if not embeddedAfter(ms, newestMs) then
          ms = string.format('%.0f', tonumber(newestMs) + 1)
        end
      end
      args[i] = ms
      break
    end
    local option = string.upper(args[i])
    if option ~= 'MAXLEN' and option ~= '~' and option ~= '=' and not string.match(args[i], '^%d+$') then
      error('the embedded store adds stream entries in Lua only as XADD key [MAXLEN [~|=] n] * ...')
    end
  end
  local id = embeddedCall('XADD', key, unpack(args))
  embeddedCall('DEL', 'stream:' .. key .. ':' .. id)
  return id
end
redis.call = function(command, ...)
  local name = string.upper(command)
  if name == 'XADD' then
    return embeddedAdd(...)
  end
  if name == 'XRANGE' or name == 'XREVRANGE' then
    return embeddedRange(name, ...)
  end
  return embeddedCall(command, ...)
end
`;

const USES_STREAMS = /redis\.call\(\s*'(?:XADD|XRANGE|XREVRANGE)'/;

/** The source the embedded store runs for `lua`: with the stream prelude when it uses streams. */
export function embeddedLua(lua: string): string {
  return USES_STREAMS.test(lua) ? `${STREAM_PRELUDE}\n${lua}` : lua;
}

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');

/** Whether `client` is the embedded store (ioredis-mock) rather than a client of a server. */
export function isEmbeddedStore(client: RedisClient): boolean {
  // A client of a server (ioredis Redis or Cluster) has neither a key space nor the mock's
  // custom command table.
  const mock = client as unknown as Partial<MockClient>;
  return (
    typeof mock.data?.get === 'function' &&
    typeof mock.customCommands === 'object' &&
    typeof mock.shaScripts === 'object'
  );
}

const adapted = new WeakSet<object>();

/** A command as the mock's client methods are: arguments flattened to strings, a promise. */
function asCommand(emulator: Emulator) {
  return (...args: unknown[]): Promise<unknown> =>
    new Promise((resolve) => resolve(emulator(...args.flat().map(String))));
}

/**
 * Gives the embedded store Redis stream semantics (see the module comment); nothing for a client
 * of a Redis server. Idempotent. Must run before the Lua commands are defined on the client
 * (RedisStore does it first).
 *
 * @example
 * const redis = new RedisMock();
 * adaptEmbeddedStore(redis);
 * await redis.xadd('s', '*', 'f', 'v'); // '1764072000000-0'
 */
export function adaptEmbeddedStore(client: RedisClient): void {
  if (!isEmbeddedStore(client) || adapted.has(client)) return;
  adapted.add(client);
  const mock = client as unknown as MockClient;
  const streams = streamCommands(mock.data);
  for (const [name, emulator] of Object.entries(streams) as [string, Emulator][]) {
    // Pipelines and MULTI copy custom commands over the mock's own.
    mock.customCommands[name] = emulator;
    mock[name] = asCommand(emulator);
  }

  // Scripts that use streams run with the prelude and the time as their last ARGV.
  const withNow = <T>(args: T[]) => [...args, String(Date.now())];
  const defineCommand = mock.defineCommand.bind(mock);
  mock.defineCommand = (name, definition) => {
    const lua = embeddedLua(definition.lua);
    defineCommand(name, { ...definition, lua });
    if (lua === definition.lua) return;
    const run = mock[name] as (...args: unknown[]) => Promise<unknown>;
    const inPipelines = mock.customCommands[name]!;
    mock[name] = (...args: unknown[]) => run(...withNow(args));
    mock.customCommands[name] = (...args: string[]) => inPipelines(...withNow(args));
  };
  const evaluate = mock.eval.bind(mock);
  const evalsha = mock.evalsha.bind(mock);
  /** SHA1 of a script's own source -> whether it runs with the prelude. */
  const usesStreams = new Map<string, boolean>();
  mock.eval = (script, numberOfKeys, ...args) => {
    const lua = embeddedLua(script);
    const sha = sha1(script);
    usesStreams.set(sha, lua !== script);
    if (lua === script) return evaluate(script, numberOfKeys, ...args);
    // EVALSHA of the script's own SHA1 runs it with the prelude from now on.
    mock.shaScripts[sha] = lua;
    return evaluate(lua, numberOfKeys, ...withNow(args));
  };
  mock.evalsha = (sha, numberOfKeys, ...args) =>
    evalsha(sha, numberOfKeys, ...(usesStreams.get(sha) ? withNow(args) : args));
}
