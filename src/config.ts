/**
 * The only reader of process.env. Every key is documented here with its default, and the
 * README's configuration table mirrors this file.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import {
  type ConnectionThresholds,
  DEFAULT_CONNECTION_THRESHOLDS,
} from '../machines/connection.machine.ts';
import { DEFAULT_CAPACITY_THRESHOLDS } from '../machines/capacity.machine.ts';
import { DEFAULT_HEARTBEAT_MAX_AGE_MS } from './connections/connections.ts';
import {
  apiTokens,
  comparatorSets,
  int,
  isSender,
  originList,
  protocolRange,
  rate,
  timerMs,
  tokenList,
  urlOf,
  whole,
} from './config-values.ts';
import {
  DEFAULT_STREAM_LIMITS,
  DEFAULT_WHAT_IF_JOURNAL_EVENTS,
  MIN_WHAT_IF_JOURNAL_EVENTS,
  defaultSnapshotCacheSize,
} from './config-defaults.ts';
import { JOURNAL_CHECKPOINT_EVERY } from './engine/types.ts';

export {
  DEFAULT_STREAM_LIMITS,
  DEFAULT_WHAT_IF_JOURNAL_EVENTS,
  MIN_WHAT_IF_JOURNAL_EVENTS,
  SNAPSHOT_CACHE_ENTRY_BYTES,
  defaultSnapshotCacheSize,
} from './config-defaults.ts';

const EnvSchema = z.object({
  /**
   * Exactly one of these, in lower case: `Production` would not be production here (the
   * development operator token would stay active), nor to the libraries that read NODE_ENV
   * themselves and compare it exactly; refused rather than guessed.
   */
  NODE_ENV: z
    .enum(['development', 'test', 'production'], {
      message: 'must be development, test or production, in lower case',
    })
    .default('development'),
  PORT: int(3000, 0, 65_535),
  HOST: z.string().default('127.0.0.1'),
  /** Single-node Redis, e.g. redis://127.0.0.1:6379. */
  REDIS_URL: urlOf('redis:', 'rediss:')
    .refine((s) => {
      // A host (ioredis would take `redis://` as 127.0.0.1:6379) and at most a database number
      // as the path (ioredis would send `/abc` to SELECT and carry on in database 0).
      const url = URL.parse(s);
      return url === null || (url.hostname !== '' && /^(\/\d*)?$/.test(url.pathname));
    }, 'must name a host, and a database only as a number: redis://host:port/0')
    .optional(),
  /** Redis Cluster seed nodes `host:port,host:port`; takes precedence over REDIS_URL. */
  REDIS_CLUSTER_NODES: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(
          z
            .string()
            .regex(/^[^\s:]+:\d{1,5}$/, 'each node must be host:port')
            .refine((n) => {
              // Only when the form is right (the regex above names a wrong one).
              const port = n.slice(n.lastIndexOf(':') + 1);
              return !/^\d{1,5}$/.test(port) || (Number(port) >= 1 && Number(port) <= 65_535);
            }, 'each node must be host:port with a port from 1 to 65535'),
        )
        .min(1),
    )
    .optional(),
  /** A Redis command that gets no answer within this time fails, and the request answers 503. */
  REDIS_COMMAND_TIMEOUT_MS: timerMs(1000, 50),
  /** Replicas each commit waits for (Redis WAIT) before it is answered; 0 = do not wait. */
  REDIS_WAIT_REPLICAS: int(0),
  /** How long a commit waits for those replicas before answering 503 replication-timeout. */
  REDIS_WAIT_TIMEOUT_MS: timerMs(500, 1),
  /** On SIGTERM/SIGINT, how long in-flight requests may take before connections are cut. */
  SHUTDOWN_GRACE_MS: timerMs(10_000, 0),
  /** Request ids (heartbeatId, requestId) remembered per actor to make retries idempotent. */
  IDEMPOTENCY_KEYS_PER_ACTOR: int(32, 1),
  /**
   * Browser origins allowed to call the API cross-origin (comma-separated, exact match). Empty
   * (the default): no CORS headers at all.
   */
  CORS_ORIGINS: originList.default([]),
  KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]+$/, 'must be letters, digits or : _ - only, such as lumi:prod')
    .default('lumi'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  API_TOKENS: apiTokens.default([]),
  OPERATOR_TOKENS: tokenList.default([]),

  SUPPORTED_PROTOCOL_VERSIONS: protocolRange.default('^1.0.0'),
  MIN_SAMPLES: int(DEFAULT_CONNECTION_THRESHOLDS.minSamples, 1),
  DEGRADED_SUCCESS_RATE: rate(DEFAULT_CONNECTION_THRESHOLDS.degradedSuccessRate),
  ERROR_SUCCESS_RATE: rate(DEFAULT_CONNECTION_THRESHOLDS.errorSuccessRate),
  DEGRADED_LATENCY_P95_MS: int(DEFAULT_CONNECTION_THRESHOLDS.degradedLatencyP95Ms, 1),
  HEARTBEAT_TIMEOUT_MS: int(DEFAULT_CONNECTION_THRESHOLDS.heartbeatTimeoutMs, 1),
  HANDSHAKE_TIMEOUT_MS: int(DEFAULT_CONNECTION_THRESHOLDS.handshakeTimeoutMs, 1),
  RECONNECT_BASE_DELAY_MS: int(DEFAULT_CONNECTION_THRESHOLDS.reconnectBaseDelayMs, 1),
  RECONNECT_MAX_DELAY_MS: int(DEFAULT_CONNECTION_THRESHOLDS.reconnectMaxDelayMs, 1),
  RECONNECT_MAX_ATTEMPTS: int(DEFAULT_CONNECTION_THRESHOLDS.maxReconnectAttempts),
  RECONNECT_TIMEOUT_MS: int(DEFAULT_CONNECTION_THRESHOLDS.reconnectTimeoutMs, 1),
  /**
   * The oldest heartbeat `timestamp` accepted, relative to the engine clock: the rolling 1 h
   * window plus 5 minutes of grace for late heartbeats (default 65 minutes). Older is a 400 naming
   * `timestamp`; so is a timestamp more than 5 minutes ahead of the clock.
   */
  HEARTBEAT_MAX_AGE_MS: int(DEFAULT_HEARTBEAT_MAX_AGE_MS, 60_000),

  TIMER_POLL_MS: timerMs(1000, 10),
  OUTBOX_LEASE_MS: timerMs(30_000, 100),
  EFFECT_MAX_ATTEMPTS: int(10, 1),
  EFFECT_RETRY_BASE_DELAY_MS: timerMs(5000, 1),
  /** Longest delay between two attempts of an effect or a notification delivery (1 h). */
  RETRY_MAX_DELAY_MS: int(3_600_000, 1),
  /**
   * Snapshots kept per process (LRU). At least the actors a process serves (its connections and
   * their workspaces), or every heartbeat re-reads its snapshot. Default: sized from the heap
   * limit, see defaultSnapshotCacheSize.
   */
  SNAPSHOT_CACHE_SIZE: whole(0).optional(),
  /** How connection snapshots are written; both forms are always read (see README, Upgrading). */
  SNAPSHOT_FORMAT: z.enum(['compact', 'json']).default('compact'),
  /**
   * How long a request (its headers and body) may take to arrive. One that declared more body
   * than it sent is answered 408 `request-refused` after this, not held for Node's 5 minutes.
   */
  REQUEST_TIMEOUT_MS: timerMs(30_000, 100),
  BODY_LIMIT_BYTES: int(32 * 1024, 1024),
  BATCH_BODY_LIMIT_BYTES: int(512 * 1024, 1024),
  BATCH_MAX_ITEMS: int(1000, 1),
  CAPACITY_PER_WORKER: int(1000, 1),
  CAPACITY_WARNING_RATIO: rate(DEFAULT_CAPACITY_THRESHOLDS.warning),
  CAPACITY_CRITICAL_RATIO: rate(DEFAULT_CAPACITY_THRESHOLDS.critical),
  CAPACITY_RESOLVE_RATIO: rate(DEFAULT_CAPACITY_THRESHOLDS.resolve),
  CAPACITY_RESOLVE_AFTER_MS: int(DEFAULT_CAPACITY_THRESHOLDS.resolveAfterMs, 1),

  /** HMAC-SHA256 key for webhook signatures; required to deliver webhooks. */
  WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  /** smtp://user:pass@host:port; email is only sent when set. */
  SMTP_URL: urlOf('smtp:', 'smtps:')
    // nodemailer takes `smtp://` without a host as localhost: email would go there unasked.
    .refine((s) => URL.parse(s)?.hostname !== '', 'must name a host: smtp://user:pass@host:port')
    .optional(),
  /** `address` or `Name <address>`; the address by the rule of the email recipients. */
  EMAIL_FROM: z
    .string()
    .refine(
      isSender,
      'must be an email address, or a name and one in angle brackets: LumiLink <noreply@example.com>',
    )
    .default('LumiLink <noreply@lumilink.local>'),
  NOTIFY_MAX_ATTEMPTS: int(5, 1),
  NOTIFY_BASE_DELAY_MS: int(1000, 1),
  NOTIFY_POLL_MS: timerMs(1000, 10),
  /**
   * How long a finished delivery's record, a source's delivery list and a request's idempotency
   * record are kept (default 30 days; a dead-lettered delivery is kept until an operator acts).
   */
  NOTIFY_RETENTION_MS: int(30 * 86_400_000, 60_000),
  METRICS_STREAM_MAXLEN: int(100_000, 100),
  /**
   * How long envelopes stay in an installation's stream (default 15 minutes): the stream is a
   * hand-off to analytics consumers, not storage; older entries are trimmed (XTRIM MINID ~).
   */
  METRICS_RETENTION_MS: int(15 * 60_000, 1000),
  /** At most one set of workspace envelopes per workspace per process per interval (default 1 min). */
  METRICS_INTERVAL_MS: timerMs(60_000, 1000),
  /** The `instance` label of every per-process metric; default `<hostname>:<pid>`. */
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:~-]{1,128}$/, 'must be 1-128 letters, digits or . _ : ~ -')
    .optional(),
  /**
   * How long the process exporting the fleet-wide gauges holds its Redis lease without renewing
   * it (renewed every third of it); after that another process takes over (default 30 s).
   */
  METRICS_FLEET_LEASE_MS: timerMs(30_000, 1000),

  /**
   * Open Server-Sent Events streams per token (by its name; default 20) and per installation
   * (default 200), counted per process: behind a load balancer each process allows this many.
   * Beyond: 429 too-many-streams.
   */
  STREAMS_PER_TOKEN: int(DEFAULT_STREAM_LIMITS.perToken, 1),
  STREAMS_PER_INSTALLATION: int(DEFAULT_STREAM_LIMITS.perInstallation, 1),
  /** A stream client with more unsent bytes than this (1 MiB; it does not read) is disconnected. */
  STREAM_BUFFER_BYTES: int(DEFAULT_STREAM_LIMITS.bufferBytes, 1024),
  /** Interval of the `: heartbeat` comment on every open stream (default 15 s). */
  STREAM_HEARTBEAT_MS: timerMs(DEFAULT_STREAM_LIMITS.heartbeatMs, 10),
  /**
   * Events of each kind (toasts, transitions) kept per installation in Redis for clients that
   * resume with Last-Event-ID (default 1000); an older id gets `event: reset`.
   */
  STREAM_REPLAY_EVENTS: int(DEFAULT_STREAM_LIMITS.replayEvents, 1),
  /**
   * Entries (applied events, plus a checkpoint of the state every 500 events) each workspace
   * keeps in its what-if journal (default 20000; 0: no journal, what-if has nothing to replay).
   */
  WHAT_IF_JOURNAL_EVENTS: whole(0)
    .refine(
      (n) => n === 0 || n >= MIN_WHAT_IF_JOURNAL_EVENTS,
      `must be 0 (no journal) or at least ${MIN_WHAT_IF_JOURNAL_EVENTS}: a replay starts from a checkpoint, written every ${JOURNAL_CHECKPOINT_EVERY} events, and a shorter journal is trimmed to none`,
    )
    .default(DEFAULT_WHAT_IF_JOURNAL_EVENTS),
});

export interface TokenGrant {
  /** null: an operator token, every installation. */
  installations: ReadonlySet<string> | null;
  /** Recorded as `requestedBy`/`changedBy` in audit records. */
  name: string;
}

export interface Config {
  env: string;
  port: number;
  host: string;
  redisUrl: string | undefined;
  /** Cluster seed nodes; empty for a single node or the embedded store. */
  redisClusterNodes: string[];
  redisCommandTimeoutMs: number;
  /** Replicas a commit waits for (0: none) and for how long. */
  redisWait: { replicas: number; timeoutMs: number };
  shutdownGraceMs: number;
  idempotencyKeysPerActor: number;
  keyPrefix: string;
  /** Exact origins answered with CORS headers; empty: none. */
  corsOrigins: string[];
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Bearer tokens; kept only in memory, never logged or returned. */
  tokens: Map<string, TokenGrant>;
  /** True when no token was configured and the development operator token is in use. */
  devToken: boolean;
  connection: ConnectionThresholds & {
    /** The oldest heartbeat timestamp accepted, in ms before the engine clock. */
    heartbeatMaxAgeMs: number;
  };
  timerPollMs: number;
  outboxLeaseMs: number;
  /** Retries of chart effects (the outbox: a retry queue whose lease is outboxLeaseMs). */
  effects: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  snapshotCacheSize: number;
  snapshotFormat: 'compact' | 'json';
  /** How long a request's headers and body may take to arrive (408 beyond). */
  requestTimeoutMs: number;
  bodyLimitBytes: number;
  batchBodyLimitBytes: number;
  batchMaxItems: number;
  /** ACP connections one worker holds; capacity percent = active / this. */
  capacityPerWorker: number;
  capacity: { warning: number; critical: number; resolve: number; resolveAfterMs: number };
  notifications: {
    /** Never logged or returned. */
    webhookSecret: string | undefined;
    /** Never logged or returned (may hold a password). */
    smtpUrl: string | undefined;
    emailFrom: string;
    maxAttempts: number;
    baseDelayMs: number;
    maxDelayMs: number;
    pollMs: number;
    /** PEXPIRE of finished delivery records, source lists and request records (ms). */
    retentionMs: number;
  };
  metricsStreamMaxLen: number;
  metrics: {
    /** The `instance` label of every per-process series. */
    instanceId: string;
    fleetLeaseMs: number;
    /** Envelopes older than this are trimmed from the streams. */
    retentionMs: number;
    /** Workspace envelopes at most once per workspace per process per interval. */
    intervalMs: number;
  };
  /** Entries of each workspace's what-if journal (0: none). */
  whatIfJournalEvents: number;
  /** Server-Sent Events limits (per process) and keep-alive. */
  streams: {
    perToken: number;
    perInstallation: number;
    bufferBytes: number;
    heartbeatMs: number;
    /** Events per installation and kind kept for Last-Event-ID resume. */
    replayEvents: number;
  };
}

/** The operator token used when none is configured outside production (documented in README). */
export const DEV_OPERATOR_TOKEN = 'dev-operator-token-change-me';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

type Env = z.output<typeof EnvSchema>;

/**
 * The values that are bad together, one line each (all of them, not the first only): checked
 * among those given that are good alone (`values` holds only those when some other is bad).
 */
function crossIssues(values: Partial<Env>): string[] {
  const lines: string[] = [];
  const noTokens =
    values.API_TOKENS !== undefined &&
    values.OPERATOR_TOKENS !== undefined &&
    values.API_TOKENS.length === 0 &&
    values.OPERATOR_TOKENS.length === 0;
  if (values.NODE_ENV === 'production' && noTokens) {
    lines.push('  OPERATOR_TOKENS/API_TOKENS: at least one token is required in production');
  }
  if ((values.REDIS_WAIT_REPLICAS ?? 0) > 0 && !values.REDIS_URL && !values.REDIS_CLUSTER_NODES) {
    // The embedded store has no replicas and no WAIT: every commit would fail.
    lines.push(
      '  REDIS_WAIT_REPLICAS: needs REDIS_URL or REDIS_CLUSTER_NODES (the embedded store has no replicas)',
    );
  }
  // Settings that must not exceed another. The capacity chart resolves an alert below the
  // resolve ratio: above the warning ratio, an alert would open and resolve again at the same
  // usage (and resolve while still shedding). The reconnect backoff starts at the base and is
  // capped at the max: a base above the max would make the base mean nothing.
  const ordered: [keyof Env, keyof Env][] = [
    ['CAPACITY_RESOLVE_RATIO', 'CAPACITY_WARNING_RATIO'],
    ['CAPACITY_WARNING_RATIO', 'CAPACITY_CRITICAL_RATIO'],
    ['ERROR_SUCCESS_RATE', 'DEGRADED_SUCCESS_RATE'],
    ['RECONNECT_BASE_DELAY_MS', 'RECONNECT_MAX_DELAY_MS'],
  ];
  for (const [low, high] of ordered) {
    const [a, b] = [values[low], values[high]];
    if (typeof a === 'number' && typeof b === 'number' && a > b) {
      lines.push(`  ${low}: must not exceed ${high}`);
    }
  }
  return lines;
}

/**
 * Parses configuration from an environment; throws a ConfigError naming every bad key.
 *
 * @example
 * const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', OPERATOR_TOKENS: 'a-long-operator-token' });
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable (`PORT=`) counts as unset: its default, not 0 or an error.
  const given: Record<string, string | undefined> = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== ''),
  );
  const parsed = EnvSchema.safeParse(given);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    // The values that are good alone are checked against each other too, so one start names
    // every bad value, not the rest only once these are fixed.
    const good: Partial<Env> = {};
    for (const [key, schema] of Object.entries(EnvSchema.shape)) {
      const one = schema.safeParse(given[key]);
      if (one.success) (good as Record<string, unknown>)[key] = one.data;
    }
    throw new ConfigError(`invalid configuration:\n${[...lines, ...crossIssues(good)].join('\n')}`);
  }
  const e = parsed.data;
  const crossed = crossIssues(e);
  if (crossed.length > 0) throw new ConfigError(`invalid configuration:\n${crossed.join('\n')}`);
  const tokens = new Map<string, TokenGrant>();
  e.API_TOKENS.forEach((t, i) =>
    tokens.set(t.token, {
      installations: new Set(t.installations),
      name: t.name ?? `api-token-${i + 1}`,
    }),
  );
  e.OPERATOR_TOKENS.forEach((t, i) =>
    tokens.set(t, { installations: null, name: `operator-${i + 1}` }),
  );
  let devToken = false;
  if (tokens.size === 0) {
    tokens.set(DEV_OPERATOR_TOKEN, { installations: null, name: 'dev-operator' });
    devToken = true;
  }
  const supportedVersions = comparatorSets(e.SUPPORTED_PROTOCOL_VERSIONS);
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES ?? [],
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    redisWait: { replicas: e.REDIS_WAIT_REPLICAS, timeoutMs: e.REDIS_WAIT_TIMEOUT_MS },
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    idempotencyKeysPerActor: e.IDEMPOTENCY_KEYS_PER_ACTOR,
    keyPrefix: e.KEY_PREFIX,
    corsOrigins: e.CORS_ORIGINS,
    logLevel: e.LOG_LEVEL,
    tokens,
    devToken,
    connection: {
      minSamples: e.MIN_SAMPLES,
      degradedSuccessRate: e.DEGRADED_SUCCESS_RATE,
      errorSuccessRate: e.ERROR_SUCCESS_RATE,
      degradedLatencyP95Ms: e.DEGRADED_LATENCY_P95_MS,
      heartbeatTimeoutMs: e.HEARTBEAT_TIMEOUT_MS,
      handshakeTimeoutMs: e.HANDSHAKE_TIMEOUT_MS,
      reconnectBaseDelayMs: e.RECONNECT_BASE_DELAY_MS,
      reconnectMaxDelayMs: e.RECONNECT_MAX_DELAY_MS,
      maxReconnectAttempts: e.RECONNECT_MAX_ATTEMPTS,
      reconnectTimeoutMs: e.RECONNECT_TIMEOUT_MS,
      heartbeatMaxAgeMs: e.HEARTBEAT_MAX_AGE_MS,
      supportedVersions,
      supportedRange: e.SUPPORTED_PROTOCOL_VERSIONS,
    },
    timerPollMs: e.TIMER_POLL_MS,
    outboxLeaseMs: e.OUTBOX_LEASE_MS,
    effects: {
      maxAttempts: e.EFFECT_MAX_ATTEMPTS,
      baseDelayMs: e.EFFECT_RETRY_BASE_DELAY_MS,
      maxDelayMs: e.RETRY_MAX_DELAY_MS,
    },
    snapshotCacheSize: e.SNAPSHOT_CACHE_SIZE ?? defaultSnapshotCacheSize(),
    snapshotFormat: e.SNAPSHOT_FORMAT,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    batchBodyLimitBytes: e.BATCH_BODY_LIMIT_BYTES,
    batchMaxItems: e.BATCH_MAX_ITEMS,
    capacityPerWorker: e.CAPACITY_PER_WORKER,
    capacity: {
      warning: e.CAPACITY_WARNING_RATIO,
      critical: e.CAPACITY_CRITICAL_RATIO,
      resolve: e.CAPACITY_RESOLVE_RATIO,
      resolveAfterMs: e.CAPACITY_RESOLVE_AFTER_MS,
    },
    notifications: {
      webhookSecret: e.WEBHOOK_SECRET,
      smtpUrl: e.SMTP_URL,
      emailFrom: e.EMAIL_FROM,
      maxAttempts: e.NOTIFY_MAX_ATTEMPTS,
      baseDelayMs: e.NOTIFY_BASE_DELAY_MS,
      maxDelayMs: e.RETRY_MAX_DELAY_MS,
      pollMs: e.NOTIFY_POLL_MS,
      retentionMs: e.NOTIFY_RETENTION_MS,
    },
    metricsStreamMaxLen: e.METRICS_STREAM_MAXLEN,
    whatIfJournalEvents: e.WHAT_IF_JOURNAL_EVENTS,
    metrics: {
      instanceId: e.INSTANCE_ID ?? `${hostname()}:${process.pid}`,
      fleetLeaseMs: e.METRICS_FLEET_LEASE_MS,
      retentionMs: e.METRICS_RETENTION_MS,
      intervalMs: e.METRICS_INTERVAL_MS,
    },
    streams: {
      perToken: e.STREAMS_PER_TOKEN,
      perInstallation: e.STREAMS_PER_INSTALLATION,
      bufferBytes: e.STREAM_BUFFER_BYTES,
      heartbeatMs: e.STREAM_HEARTBEAT_MS,
      replayEvents: e.STREAM_REPLAY_EVENTS,
    },
  };
}
