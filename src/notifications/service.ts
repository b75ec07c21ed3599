import type { RedisClient as Redis } from '../store/client.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { ValidationError, invalidFields } from '../errors.ts';
import { fieldIssues } from '../http/validate.ts';
import type { Logger } from '../logger.ts';
import { INTERRUPTED, type JobQueue } from '../store/job-queue.ts';
import type { ClaimedJob } from '../store/store.ts';
import { commands } from '../store/scripts.ts';
import type { NotifyKeys } from './keys.ts';
import {
  type DeliveryJob,
  type DeliveryView,
  deliveryQueue,
  loadDeliveries,
  toRecord,
} from './deliveries.ts';

export type { DeliveryView } from './deliveries.ts';
import {
  DeliveryError,
  type EmailMessage,
  EmailSender,
  Redactor,
  configSecrets,
  postWebhook,
} from './senders.ts';
import { CHANNELS, NotificationSettingsStore } from './settings.ts';
import { NO_SECRET, NO_SMTP, planDeliveries, requestSchema } from './requests.ts';
import { errorText, fitToast } from './text.ts';
import type { Toast } from './toasts.ts';
import type {
  Channel,
  DeliveryRecord,
  NotificationKind,
  NotificationRequest,
  Notifier,
} from './types.ts';

/** What the notify script stores for a request (and returns to a repeated one). */
interface RequestSummary {
  id: string;
  kind: NotificationKind;
  sourceId: string;
  workspaceId: string | null;
  sessionId: string | null;
  channels: Channel[];
  createdAt: string;
}

export interface ProcessResult {
  attempted: number;
  delivered: number;
  retrying: number;
  deadLettered: number;
}

export interface NotificationServiceOptions {
  redis: Redis;
  keys: NotifyKeys;
  clock: Clock;
  logger: Logger;
  config: Config['notifications'];
  /** Toasts kept per installation for Last-Event-ID resume (STREAM_REPLAY_EVENTS). */
  replayEvents: number;
  /** Per webhook request and per SMTP step (default 5 s). */
  timeoutMs?: number;
  /** How long a claimed attempt is reserved before another process may retry it (default 60 s). */
  leaseMs?: number;
  /** Due jobs read per installation per pass (default 100). */
  batchSize?: number;
  /** Attempts sent in parallel per pass (default 8). */
  concurrency?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** What one attempt came to; null: its lease expired first and another process took it over. */
type Outcome = 'delivered' | 'retrying' | 'dead-lettered' | null;

/**
 * Delivers notifications on each installation's configured channels: toasts live over Redis
 * pub/sub, webhooks (HMAC-signed) and email as jobs of the durable retry queue (JobQueue, queue
 * `notify`: lease, exponential backoff, dead letters), each mirrored into its delivery record.
 * `notify` is idempotent by request id.
 *
 * @example
 * const channels = await service.notify({ id: 'alert:42:opened', installationId: 'inst-a', kind: 'capacity-alert', sourceId: '42', toast: { title: 'Capacity 96%', body: 'ACP capacity is critical.', severity: 'warning' }, details: { capacityPercent: 0.96 } });
 * await service.processDue(); // sends due webhook/email attempts (AppModule.poll runs this)
 */
export class NotificationService implements Notifier {
  readonly settings: NotificationSettingsStore;
  readonly #redis: Redis;
  readonly #keys: NotifyKeys;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #config: Config['notifications'];
  readonly #redactor: Redactor;
  readonly #email: EmailSender | null;
  readonly #timeoutMs: number;
  readonly #queue: JobQueue;
  readonly #batchSize: number;
  readonly #concurrency: number;
  readonly #replayEvents: number;
  readonly #inflight = new Set<Promise<unknown>>();
  /** Set by stop(): a running pass claims no further job. */
  #stopping = false;

  constructor(o: NotificationServiceOptions) {
    this.#redis = o.redis;
    this.#keys = o.keys;
    this.#clock = o.clock;
    this.#logger = o.logger;
    this.#config = o.config;
    this.#timeoutMs = o.timeoutMs ?? 5000;
    this.#queue = deliveryQueue(o.redis, o.keys, o.config, o.leaseMs ?? 60_000);
    this.#batchSize = o.batchSize ?? 100;
    this.#concurrency = o.concurrency ?? 8;
    this.#replayEvents = o.replayEvents;
    this.#redactor = new Redactor(configSecrets(o.config));
    this.#email = o.config.smtpUrl
      ? new EmailSender(o.config.smtpUrl, o.config.emailFrom, this.#timeoutMs)
      : null;
    this.settings = new NotificationSettingsStore(o.redis, o.keys);
  }

  async notify(n: NotificationRequest): Promise<Channel[]> {
    const parsed = requestSchema.safeParse(n);
    if (!parsed.success) {
      const fields = fieldIssues(parsed.error);
      throw new ValidationError(
        `invalid notification: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`,
        { fields },
      );
    }
    // Defence in depth: a configured secret never leaves through a notification.
    const req = this.#redactor.value(parsed.data);
    const { installationId } = req;
    const now = this.#clock.now();
    const createdAt = iso(now);
    const toast: Toast = {
      id: req.id,
      kind: req.kind,
      ...fitToast(req.toast.title, req.toast.body),
      severity: req.toast.severity,
      installationId,
      workspaceId: req.workspaceId ?? null,
      sessionId: req.sessionId ?? null,
      sourceId: req.sourceId,
      createdAt,
    };
    const settings = await this.settings.get(installationId);

    const deliveries = planDeliveries(req, toast, settings, now, {
      webhookSecret: Boolean(this.#config.webhookSecret),
      email: this.#email !== null && this.#email !== undefined,
    });
    const used = CHANNELS.filter((c) =>
      deliveries.some((d) => d.fields.channel === c && d.fields.status !== 'skipped'),
    );
    const summary: RequestSummary = {
      id: req.id,
      kind: req.kind,
      sourceId: req.sourceId,
      workspaceId: toast.workspaceId,
      sessionId: toast.sessionId,
      channels: used,
      createdAt,
    };
    if (deliveries.some((d) => d.due !== null))
      await this.#redis.sadd(this.#keys.installations(), installationId);

    const queue = this.#queue.keys(installationId);
    const keys: [string, string, string, string, string, string, ...string[]] = [
      this.#keys.requests(installationId),
      this.#keys.request(installationId, req.id),
      this.#keys.source(installationId, req.sourceId),
      this.#keys.toastStream(installationId),
      queue.due,
      queue.data,
      ...deliveries.map((d) => this.#keys.delivery(installationId, d.id)),
    ];
    const args: (string | number)[] = [
      req.id,
      JSON.stringify(summary),
      this.#keys.toastChannel(),
      used.includes('toast') ? JSON.stringify(toast) : '',
      this.#replayEvents,
      this.#config.retentionMs,
      deliveries.length,
    ];
    for (const d of deliveries) {
      // What every attempt sends is the job's data; the record keeps what the API serves.
      const { address, payload, ...record } = d.fields;
      const job: DeliveryJob = { channel: d.fields.channel!, address: address!, payload: payload! };
      const entries = Object.entries({ id: d.id, ...record });
      args.push(d.id, d.due ?? '', JSON.stringify(job), entries.length, ...entries.flat());
    }
    const existing = await commands.notify(this.#redis, keys, args);
    if (existing !== null) return (JSON.parse(existing) as RequestSummary).channels;
    // Again once the jobs exist: a poller that found the queue empty and took the installation
    // out of the set meanwhile checks the queue after doing so, or this adds it back after.
    if (deliveries.some((d) => d.due !== null))
      await this.#redis.sadd(this.#keys.installations(), installationId);
    return used;
  }

  async deliveries(installationId: string, sourceId: string): Promise<DeliveryRecord[]> {
    return (await this.deliveryViews(installationId, sourceId)).map(toRecord);
  }

  /** Every delivery of a source, in creation order, with identifiers. */
  async deliveryViews(installationId: string, sourceId: string): Promise<DeliveryView[]> {
    const ids = await this.#redis.lrange(this.#keys.source(installationId, sourceId), 0, -1);
    return loadDeliveries(this.#redis, this.#keys, this.#queue, installationId, ids);
  }

  /** Dead letters, newest first; `cursor` is a previous page's nextCursor. */
  async deadLetters(
    installationId: string,
    q: { cursor?: string; limit: number },
  ): Promise<{ items: DeliveryView[]; nextCursor: string | null }> {
    if (q.cursor !== undefined) await this.#checkCursor(installationId, q.cursor);
    const { items, nextCursor } = await this.#queue.dead(installationId, q);
    return {
      items: await loadDeliveries(
        this.#redis,
        this.#keys,
        this.#queue,
        installationId,
        items.map((d) => d.id),
      ),
      nextCursor,
    };
  }

  /**
   * A cursor is the dead letter a page ended on (`<deadAt>:<deliveryId>`, the well-formedness
   * the route checks). One that names no dead letter of this installation is no cursor a page
   * gave (edited, or another installation's or list's), refused rather than read as a position
   * (it answered an empty or a wrong page), unless this installation's record of that delivery
   * shows it left the dead letters since the page: discarded (its deadLetteredAt still that
   * time) or retried (deadLetteredAt cleared, updated since).
   */
  async #checkCursor(installationId: string, cursor: string): Promise<void> {
    const sep = cursor.indexOf(':');
    const deadAt = new Date(Number(cursor.slice(0, sep))).toISOString();
    const [dead, [deadLetteredAt, updatedAt]] = await Promise.all([
      this.#redis.zscore(this.#queue.keys(installationId).dead, cursor),
      this.#redis.hmget(
        this.#keys.delivery(installationId, cursor.slice(sep + 1)),
        'deadLetteredAt',
        'updatedAt',
      ),
    ]);
    if (dead !== null && dead !== undefined) return;
    if (deadLetteredAt === deadAt) return;
    if (deadLetteredAt === '' && updatedAt != null && updatedAt >= deadAt) return;
    throw invalidFields('query', [
      { field: 'cursor', message: 'is not valid; pass back nextCursor unchanged' },
    ]);
  }

  /**
   * Runs one attempt of every webhook/email job due at `clock.now()`, across installations, and
   * of every job that comes due while an attempt still runs; resolves once none is due and none
   * runs. Safe to run from several processes at once: each attempt is claimed atomically.
   */
  async processDue(): Promise<ProcessResult> {
    const run = this.#processDue();
    this.#inflight.add(run);
    try {
      return await run;
    } finally {
      this.#inflight.delete(run);
    }
  }

  /** Waits for running attempts, then closes the SMTP transport. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.allSettled([...this.#inflight]);
    this.#email?.close();
  }

  async #processDue(): Promise<ProcessResult> {
    let installations = (await this.#redis.smembers(this.#keys.installations())).sort();
    const result: ProcessResult = { attempted: 0, delivered: 0, retrying: 0, deadLettered: 0 };
    // Workers claim one job at a time (its lease starts when its attempt does), walking the
    // installations in order, at most batchSize jobs of each per scan.
    let current = 0;
    let claimedHere = 0;
    // Attempts running now. While one runs (a receiver that answers late, up to the timeout),
    // the idle workers look for due jobs again every NOTIFY_POLL_MS (one scan of the
    // installations per interval, as the poll loop would make): a slow receiver must not hold
    // back the retries and first attempts of the others. They do so for one attempt timeout at
    // most, so that a pass (which shutdown waits for) stays bounded however many slow receivers
    // keep coming due, and stop waiting as soon as no attempt runs.
    let running = 0;
    const lookUntil = performance.now() + this.#timeoutMs;
    let rescan: Promise<void> | null = null;
    let idle: (() => void) | null = null;
    const nextScan = () =>
      (rescan ??= (async () => {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => idle?.(), this.#config.pollMs);
          idle = () => {
            clearTimeout(timer);
            idle = null;
            resolve();
          };
        });
        // Woken because the last attempt ended: the pass is over, nothing to scan again.
        if (running === 0) return;
        installations = (await this.#redis.smembers(this.#keys.installations())).sort();
        current = 0;
        claimedHere = 0;
      })().finally(() => {
        rescan = null;
      }));
    const next = async (): Promise<{ installationId: string; job: ClaimedJob } | null> => {
      for (;;) {
        while (current < installations.length && !this.#stopping) {
          const at = current;
          const installationId = installations[at]!;
          const [job] =
            claimedHere < this.#batchSize
              ? await this.#queue.claim(installationId, this.#clock.now(), 1, (dead) =>
                  this.#logger.warn('notification dead-lettered', {
                    installationId,
                    deliveryId: dead.id,
                    channel: (JSON.parse(dead.data) as DeliveryJob).channel,
                    attempt: dead.attempt,
                    error: INTERRUPTED,
                  }),
                )
              : [];
          if (job) {
            claimedHere++;
            return { installationId, job };
          }
          if (claimedHere < this.#batchSize) await this.#retireIfIdle(installationId);
          if (current === at) {
            current++;
            claimedHere = 0;
          }
        }
        if (running === 0 || this.#stopping || performance.now() >= lookUntil) return null;
        await nextScan();
      }
    };
    const worker = async () => {
      for (let claimed = await next(); claimed; claimed = await next()) {
        running++;
        let outcome: Outcome;
        try {
          outcome = await this.#attempt(claimed.installationId, claimed.job);
        } finally {
          running--;
          if (running === 0) idle?.();
        }
        if (outcome === null) continue;
        result.attempted++;
        if (outcome === 'delivered') result.delivered++;
        else if (outcome === 'retrying') result.retrying++;
        else result.deadLettered++;
      }
    };
    await Promise.all(Array.from({ length: this.#concurrency }, worker));
    return result;
  }

  /**
   * Takes an installation out of the poller's set once its `notify` queue holds no job and no
   * dead letter (nor any of the keys of the mechanism before JobQueue, which the next start
   * migrates), so that installations whose deliveries all finished are no longer visited.
   * The set is a global key and the queue is in the installation's slot: no script can touch
   * both on Redis Cluster. Instead the queue is checked again after the removal, and the
   * installation put back when a job arrived meanwhile; notify (and a dead letter's retry,
   * which keeps the dead letter until it is due again) adds it after writing its jobs, so
   * either that check sees the job or that add comes after the removal.
   */
  async #retireIfIdle(installationId: string): Promise<void> {
    const q = this.#queue.keys(installationId);
    const legacy = `${this.#keys.prefix}:{${installationId}}:notify`;
    const busy = () => this.#redis.exists(q.due, q.dead, `${legacy}:due`, `${legacy}:dead`);
    if ((await busy()) > 0) return;
    const set = this.#keys.installations();
    if ((await this.#redis.srem(set, installationId)) === 0) return;
    if ((await busy()) > 0) await this.#redis.sadd(set, installationId);
  }

  async #attempt(installationId: string, job: ClaimedJob): Promise<Outcome> {
    const { id, attempt } = job;
    const { channel, address, payload } = JSON.parse(job.data) as DeliveryJob;
    let error: string | null = null;
    try {
      await this.#send(channel as Channel, address, payload, id, attempt);
    } catch (e) {
      error = this.#safeError(e);
    }
    const at = this.#clock.now();
    const outcome =
      error === null
        ? (await this.#queue.complete(installationId, job, at))
          ? 'delivered'
          : null
        : await this.#queue.fail(installationId, job, error, at);
    if (outcome === null) {
      // Another process took the job over after the lease expired; its outcome stands.
      this.#logger.warn('notification attempt finished after its lease expired', {
        installationId,
        deliveryId: id,
        attempt,
      });
      return null;
    }
    if (error !== null) {
      this.#logger.warn(
        outcome === 'dead-lettered' ? 'notification dead-lettered' : 'notification attempt failed',
        { installationId, deliveryId: id, channel, attempt, error },
      );
    }
    return outcome;
  }

  async #send(
    channel: Channel,
    address: string,
    payload: string,
    id: string,
    attempt: number,
  ): Promise<void> {
    if (channel === 'webhook') {
      const secret = this.#config.webhookSecret;
      if (!secret) throw new DeliveryError(NO_SECRET);
      await postWebhook({
        url: address,
        rawBody: payload,
        deliveryId: id,
        attempt,
        at: this.#clock.now(),
        secret,
        timeoutMs: this.#timeoutMs,
      });
    } else if (channel === 'email') {
      if (!this.#email) throw new DeliveryError(NO_SMTP);
      await this.#email.send(address, JSON.parse(payload) as EmailMessage, id, this.#clock.now());
    } else {
      throw new DeliveryError(`channel ${channel} has no durable delivery`);
    }
  }

  /** An error as stored: known secrets redacted, URL queries dropped, bounded length. */
  #safeError(e: unknown): string {
    return errorText(e instanceof Error ? e.message : String(e), (s) => this.#redactor.text(s));
  }
}
