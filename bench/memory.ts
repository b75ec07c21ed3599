/**
 * Redis bytes per connection: every key under the run's prefix is found with SCAN (on each
 * master of a cluster), grouped by shape (`{i}:actor:connection:*`, `{i}:events:connection:*`,
 * `{i}:idx:...`, the global owner hash, ...), and MEMORY USAGE is read for a sample of each group
 * (all of a small group), extrapolated by the group's key count. Shared keys (indexes, timers,
 * the workspace actors) are included: they are part of what a connection costs.
 */
import type { Redis } from 'ioredis';

export interface MemoryFigures {
  connections: number;
  keys: number;
  /** Estimated bytes of every key under the prefix. */
  totalBytes: number;
  bytesPerConnection: number;
  /** Per group: keys and estimated bytes per connection, largest first. */
  groups: {
    group: string;
    keys: number;
    bytesPerConnection: number;
    /**
     * Streams and lists (the live streams, the what-if journals): their type, entries over every
     * key of the group, and bytes per entry, since they grow with traffic up to their caps.
     */
    entryType?: 'stream' | 'list';
    entries?: number;
    bytesPerEntry?: number;
  }[];
}

/** `{inst-3}:actor:connection:c17` -> `{i}:actor:connection:*`. */
export function keyGroup(prefix: string, key: string): string {
  const rest = key.slice(prefix.length + 1).replace(/^\{[^}]*\}/, '{i}');
  const actor = /^\{i\}:(actor|events|rids|journal):([^:]+):/.exec(rest);
  if (actor) return `{i}:${actor[1]}:${actor[2]}:*`;
  const index = /^\{i\}:idx:([^:]+):([^:]+):/.exec(rest);
  if (index) return `{i}:idx:${index[1]}:${index[2]}:*`;
  return rest;
}

async function scanAll(node: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/**
 * Estimates the bytes per connection of everything under `prefix` on `nodes` (one Redis, or
 * every master of a cluster), MEMORY USAGE on up to `samplePerGroup` keys of each group.
 */
export async function bytesPerConnection(
  nodes: readonly Redis[],
  prefix: string,
  connections: number,
  samplePerGroup = 400,
): Promise<MemoryFigures> {
  const groups = new Map<string, { node: Redis; key: string }[]>();
  let keys = 0;
  for (const node of nodes) {
    for (const key of await scanAll(node, prefix)) {
      keys++;
      const g = keyGroup(prefix, key);
      let list = groups.get(g);
      if (!list) groups.set(g, (list = []));
      list.push({ node, key });
    }
  }
  const out: MemoryFigures['groups'] = [];
  let totalBytes = 0;
  for (const [group, members] of groups) {
    const step = Math.max(1, Math.floor(members.length / samplePerGroup));
    const sample = members.filter((_, i) => i % step === 0).slice(0, samplePerGroup);
    const sizes = await Promise.all(
      sample.map(({ node, key }) =>
        node.call('MEMORY', 'USAGE', key, 'SAMPLES', '0').then((v) => Number(v ?? 0)),
      ),
    );
    const mean = sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length);
    const bytes = mean * members.length;
    totalBytes += bytes;
    const first = members[0]!;
    const type = await first.node.type(first.key);
    // Bounded streams (MAXLEN) and lists (LTRIM) grow until the cap: entries and bytes per entry
    // show where.
    const entryType = type === 'stream' || type === 'list' ? type : undefined;
    const entries = entryType
      ? (
          await Promise.all(
            members.map(({ node, key }) =>
              entryType === 'stream' ? node.xlen(key) : node.llen(key),
            ),
          )
        ).reduce((a, b) => a + b, 0)
      : 0;
    out.push({
      group,
      keys: members.length,
      bytesPerConnection: bytes / connections,
      ...(entryType
        ? { entryType, entries, bytesPerEntry: Math.round(bytes / Math.max(1, entries)) }
        : {}),
    });
  }
  out.sort((a, b) => b.bytesPerConnection - a.bytesPerConnection);
  return {
    connections,
    keys,
    totalBytes,
    bytesPerConnection: totalBytes / connections,
    groups: out.map((g) => ({ ...g, bytesPerConnection: Math.round(g.bytesPerConnection) })),
  };
}
