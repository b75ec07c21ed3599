/**
 * What the engine needs of its persistence, and nothing else: snapshots with compare-and-set,
 * durable timers, an outbox (a retry queue) and request ids. `RedisStore` is the implementation; a test may hand
 * the engine any other object of this shape (as Temporal's worker takes a `NativeWorkerLike`).
 */

/** Identifies one persisted actor: its chart, its tenant and its id. */
export interface ActorRef {
  kind: string;
  installationId: string;
  id: string;
}

/** A committed snapshot (the text its chart's snapshotCodec wrote) and its version. */
export interface StoredActor {
  version: number;
  snapshot: string;
}

/** A durable timer written in the same commit as the snapshot. */
export type TimerOp =
  | { op: 'schedule'; member: string; due: number; event: string }
  | { op: 'cancel'; member: string }
  | { op: 'consume'; member: string; due: number };

/** An effect written in the same commit as the snapshot, run after it. */
export interface OutboxEntry {
  id: string;
  /** When another process may (re)run the entry if this one has not acknowledged it. */
  leaseUntil: number;
  json: string;
}

/** Adds the actor to, or removes it from, an index of its installation. */
export interface IndexOp {
  op: 'add' | 'remove';
  index: string;
  member: string;
}

/** HINCRBY on a counter hash (Keys.counter) of the installation. */
export interface CounterOp {
  hash: string;
  field: string;
  delta: number;
}

/** Precondition: the index holds exactly `count` members (nobody joined or left it). */
export interface IndexGuard {
  index: string;
  count: number;
}

/** An append-only audit record; `member` orders the stream (see auditMember). */
export interface AuditAppend {
  stream: string;
  member: string;
  json: string;
}

/** Everything one actor writes in one atomic commit. */
export interface ActorCommit {
  ref: ActorRef;
  /** 0 creates the actor and fails if it already exists. */
  expectedVersion: number;
  snapshot: string;
  timers: TimerOp[];
  outbox: OutboxEntry[];
  indexes: IndexOp[];
  counters?: CounterOp[];
  guards?: IndexGuard[];
  audit?: AuditAppend[];
  /**
   * Logged events (JSON without a raw newline, oldest first), pushed onto the actor's capped
   * inspection log (actor hash field `e`, newest first), which keeps its newest `max` entries
   * that fit in `maxBytes` (the newest one always).
   */
  eventLog?: { events: string[]; max: number; maxBytes: number };
  /**
   * Applied events, appended to the actor's what-if journal (Keys.journal), which keeps its last
   * `max` entries. Before the first event the script writes a checkpoint (the stored snapshot, or
   * `initial` when this commit creates the actor) when the journal is empty or `every` events
   * were journaled since the last checkpoint. Each entry carries the committed version:
   * `{"v":<version>,"event":<json>}`, with `"t":<plannedAt>` when given (the planning time of a
   * step that started timers later than its event's time, see planBatch); or, for an event
   * encoded as a JSON array, that array with the version put first (`[version,...]`: a compact
   * event costs no wrapper, and never has a `plannedAt`).
   */
  journal?: { events: JournaledEvent[]; max: number; every: number; initial?: string };
  /**
   * Request ids of the commands applied by this commit: the commit fails with `duplicate` if
   * the actor remembers one of them, and otherwise records them, keeping the last `max`.
   */
  requestIds?: { ids: string[]; max: number };
}

/** One event for an actor's what-if journal (ActorCommit.journal). */
export interface JournaledEvent {
  /** The event as JSON: an object, or an array for a compact event. */
  json: string;
  /** When its step was planned, if later than the event's own time and it started timers. */
  plannedAt?: number;
}

/** What an actor remembers of a request id (Store.seenRequestIds). */
export type RequestSeen = 'repeat' | 'reused' | false;

/** The outcome of one actor's commit. */
export type CommitResult =
  | { status: 'committed'; version: number }
  | { status: 'conflict'; current: StoredActor | null }
  | { status: 'timer-gone'; version: number }
  | { status: 'index-changed'; version: number }
  /** A transaction member that was fine itself, but another member failed. */
  | { status: 'aborted'; version: number }
  /** The actor already applied a command with this request id: nothing was written. */
  | { status: 'duplicate'; version: number; requestId: string }
  /** The actor applied a command with this request id and another body: nothing was written. */
  | { status: 'reused'; version: number; requestId: string };

/** A durable timer whose time has come. */
export interface DueTimer {
  member: string;
  kind: string;
  actorId: string;
  sendId: string;
  due: number;
  /** The event JSON stored with the timer, or null when the event is `{ type: sendId }`. */
  event: string | null;
}

/** How a retry queue retries (see JobQueue). */
export interface RetryPolicy {
  /** Attempts in all, the first one included; then the job is dead-lettered. */
  maxAttempts: number;
  /** Delay after the first failed attempt; doubled after each further one. */
  baseDelayMs: number;
  /** Longest delay between two attempts (default one hour). */
  maxDelayMs?: number;
  /** How long a claimed attempt is reserved before another process may run the job again. */
  leaseMs: number;
}

/** One attempt of a job, leased to the caller by {@link RetryQueue.claim}. */
export interface ClaimedJob {
  id: string;
  /** The number of this attempt, from 1. */
  attempt: number;
  data: string;
  /** Proves the claim to complete and fail (a stale claimer's outcome is ignored). */
  token: string;
}

/** What a failed attempt led to: another attempt later, or the dead letters. */
export type FailOutcome = 'retrying' | 'dead-lettered';

/** The durable retry queue of one kind of job, per installation (implemented by JobQueue). */
export interface RetryQueue {
  /**
   * Leases up to `limit` due jobs; jobs whose attempts are used up are dead-lettered instead,
   * each reported to `interrupted` (the caller logs it: no attempt of its own fails there).
   */
  claim(
    installationId: string,
    now: number,
    limit: number,
    interrupted?: (job: ClaimedJob) => void,
  ): Promise<ClaimedJob[]>;
  /** Removes a job whose attempt succeeded; false when the claim was lost (nothing written). */
  complete(installationId: string, job: ClaimedJob, now: number): Promise<boolean>;
  /** Schedules the next attempt with backoff, or dead-letters; null when the claim was lost. */
  fail(
    installationId: string,
    job: ClaimedJob,
    error: string,
    now: number,
  ): Promise<FailOutcome | null>;
}

/**
 * The engine's persistence.
 *
 * @example
 * const store: Store = new RedisStore(redis, 'lumi');
 * const engine = new Engine({ store, clock, charts, logger });
 */
export interface Store {
  /** A stable key of the actor, unique across installations (used to key mailboxes and caches). */
  actorKey(ref: ActorRef): string;
  load(ref: ActorRef): Promise<StoredActor | null>;
  loadMany(refs: readonly ActorRef[]): Promise<(StoredActor | null)[]>;
  /** An actor and the sizes of indexes of its installation, read atomically. */
  loadWithIndexSizes(
    ref: ActorRef,
    indexes: readonly string[],
  ): Promise<{ stored: StoredActor | null; sizes: number[] }>;
  /**
   * Commits actors of one installation atomically; one result per commit, in order. With
   * `mode: 'all'` the commits form a transaction: all are written or none.
   */
  commit(
    installationId: string,
    commits: readonly ActorCommit[],
    mode?: 'each' | 'all',
  ): Promise<CommitResult[]>;
  /**
   * For each request id, whether the actor remembers having applied it: `'repeat'` (with the
   * same body, or one without a body's digest), `'reused'` (with another body), or false.
   */
  seenRequestIds(ref: ActorRef, ids: readonly string[]): Promise<RequestSeen[]>;
  installations(): Promise<string[]>;
  dueTimers(installationId: string, now: number, limit: number): Promise<DueTimer[]>;
  /** Moves a timer that failed to apply out of the due set, keeping it for operators. */
  deadLetterTimer(
    installationId: string,
    member: string,
    due: number,
    reason: string,
  ): Promise<void>;
  /**
   * The retry queue of the effects that commits write (their outbox entries): each entry is a
   * job whose first attempt is claimed by its writer (token = the entry id) until its lease.
   */
  effectQueue(policy: RetryPolicy): RetryQueue;
}
