/**
 * Redis layout of the automation module. Every key of a session lives under its installation's
 * hash tag (`<prefix>:{<installationId>}:...`), so the one script that appends a summary with its
 * transcript entries addresses a single slot (and works unchanged on Redis Cluster).
 *
 *   session:<sessionId>:ids              hash  `<stream>:<idempotency key>` -> seq; `#a`, `#t` counters
 *   session:<sessionId>:automation       zset  seq (score) of each summary, append order
 *   session:<sessionId>:automation-data  hash  seq -> GitHubAutomationSummary JSON
 *   session:<sessionId>:transcript       zset  seq of each transcript entry
 *   session:<sessionId>:transcript-data  hash  seq -> SessionTranscriptEntry JSON
 *   automation:ws-sessions:<workspaceId> set   sessions with a summary or entry in the workspace
 *   automation:skips                     hash  <workspaceId> -> skipped summaries recorded
 *
 * The session -> installation owner mapping is the store's global owners hash (kind `session`).
 */
import type { RedisClient as Redis } from '../store/client.ts';
import type { RedisStore } from '../store/redis-store.ts';
import { commands } from '../store/scripts.ts';

export type Stream = 'automation' | 'transcript';
const CODE: Record<Stream, 'a' | 't'> = { automation: 'a', transcript: 't' };

export interface Append {
  stream: Stream;
  /** Idempotency key within the session and stream. */
  key: string;
  json: string;
}

export interface AppendResult {
  /** False when the first append's key already existed: nothing was written. */
  created: boolean;
  /** The stored JSON of the first append (the earlier one on a repeat). */
  json: string;
  /** The workspace's skip count after this append, when a skip was counted. */
  skipCount: number | null;
}

export class SessionStore {
  readonly redis: Redis;

  constructor(readonly store: RedisStore) {
    this.redis = store.redis;
  }

  #tag(installationId: string): string {
    return `${this.store.keys.prefix}:{${installationId}}`;
  }

  #session(installationId: string, sessionId: string, part: string): string {
    return `${this.#tag(installationId)}:session:${sessionId}:${part}`;
  }

  streamKey(installationId: string, sessionId: string, stream: Stream): string {
    return this.#session(installationId, sessionId, stream);
  }

  dataKey(installationId: string, sessionId: string, stream: Stream): string {
    return this.#session(installationId, sessionId, `${stream}-data`);
  }

  workspaceSessionsKey(installationId: string, workspaceId: string): string {
    return `${this.#tag(installationId)}:automation:ws-sessions:${workspaceId}`;
  }

  skipsKey(installationId: string): string {
    return `${this.#tag(installationId)}:automation:skips`;
  }

  /** Claims the session for an installation; returns the owner (possibly another one). */
  claim(sessionId: string, installationId: string): Promise<string> {
    return this.store.claimOwner('session', sessionId, installationId);
  }

  owner(sessionId: string): Promise<string | null> {
    return this.store.owner('session', sessionId);
  }

  async append(
    installationId: string,
    sessionId: string,
    workspaceId: string | null,
    entries: readonly Append[],
    countSkipFor: string | null = null,
  ): Promise<AppendResult> {
    if (entries.length === 0) throw new Error('append needs at least one entry');
    const ids = this.#session(installationId, sessionId, 'ids');
    const keys = [
      ids,
      this.streamKey(installationId, sessionId, 'automation'),
      this.dataKey(installationId, sessionId, 'automation'),
      this.streamKey(installationId, sessionId, 'transcript'),
      this.dataKey(installationId, sessionId, 'transcript'),
      // Without a workspace the set key is the ids hash itself, which the script skips.
      workspaceId === null ? ids : this.workspaceSessionsKey(installationId, workspaceId),
      this.skipsKey(installationId),
    ] as const;
    const args: string[] = [sessionId, countSkipFor ?? '', String(entries.length)];
    for (const e of entries) args.push(CODE[e.stream], e.key, e.json);
    // appendSession-7.lua: the first entry decides; see its header.
    return commands.appendSession(this.redis, keys, args);
  }

  /**
   * One page of a stream in append order (or reversed), strictly after the `after` cursor (a
   * sequence number from a previous page). Returns the items and the next cursor, if any.
   */
  async page(
    installationId: string,
    sessionId: string,
    stream: Stream,
    opts: { after?: string; limit: number; order: 'oldest-first' | 'newest-first' },
  ): Promise<{ items: string[]; nextCursor: string | null }> {
    const key = this.streamKey(installationId, sessionId, stream);
    const asc = opts.order === 'oldest-first';
    const bound = opts.after === undefined ? null : `(${opts.after}`;
    const members = asc
      ? await this.redis.zrangebyscore(key, bound ?? '-inf', '+inf', 'LIMIT', 0, opts.limit + 1)
      : await this.redis.zrevrangebyscore(key, bound ?? '+inf', '-inf', 'LIMIT', 0, opts.limit + 1);
    const more = members.length > opts.limit;
    const page = more ? members.slice(0, opts.limit) : members;
    if (page.length === 0) return { items: [], nextCursor: null };
    const data = await this.redis.hmget(this.dataKey(installationId, sessionId, stream), ...page);
    return {
      items: data.filter((d): d is string => d !== null),
      nextCursor: more ? page[page.length - 1]! : null,
    };
  }

  workspaceSessions(installationId: string, workspaceId: string): Promise<string[]> {
    return this.redis.smembers(this.workspaceSessionsKey(installationId, workspaceId));
  }
}
