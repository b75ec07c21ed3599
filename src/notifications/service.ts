import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient as Redis } from '../store/client.ts';
import { z } from 'zod';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { ValidationError } from '../errors.ts';
import { fieldIssues } from '../http/validate.ts';
import type { Logger } from '../logger.ts';
import { auditMember } from '../store/keys.ts';
import { identifier } from '../wire.ts';
import type { NotifyKeys } from './keys.ts';
import { commands } from '../store/scripts.ts';
import {
  DeliveryError,
  type EmailMessage,
  EmailSender,
  Redactor,
  configSecrets,
  postWebhook,
  webhookTarget,
} from './senders.ts';
import {
  CHANNELS,
  KINDS,
  type NotificationSettings,
  NotificationSettingsStore,
} from './settings.ts';
import type { Toast } from './toasts.ts';
import type {
  Channel,
  DeliveryRecord,
  NotificationKind,
  NotificationRequest,
  Notifier,
} from './types.ts';

/** Toast title + body, in characters (code points), per the seed's notification rules. */
export const TOAST_MAX_CHARS = 140;
/** A title longer than this is shortened first when the toast is too long. */
const TOAST_TITLE_MAX_CHARS = 60;
/** JSON size of `details` (the seed keeps payloads under 32 KB; the envelope needs room too). */
const DETAILS_MAX_BYTES = 16 * 1024;

const ELLIPSIS = '…';

/** A delivery error is stored with at most this many characters. */
const ERROR_MAX_CHARS = 500;
/** Longer error messages are cut before they are scanned, so every scan has a bounded input. */
const ERROR_SCAN_MAX_CHARS = 4096;

/**
 * An error message as stored on a delivery: secrets redacted by `redact`, URL queries and
 * fragments dropped (they may carry tokens), `user:password@` in URLs replaced, at most 500
 * characters. Linear time: the input is bounded first, and URLs are found with one scan per
 * whitespace-separated token (a regular expression that tried every `http://` as a start
 * rescanned the rest of the token each time: 288 ms on `'http://'.repeat(4571)`).
 *
 * @example
 * errorText('POST https://u:pw@hook.example/x?token=abc failed: 500');
 * // 'POST https://[redacted]@hook.example/x failed: 500'
 */
export function errorText(message: string, redact: (s: string) => string = (s) => s): string {
  const text = scrubUrls(redact(bounded(message)));
  return text.length > ERROR_MAX_CHARS ? `${text.slice(0, ERROR_MAX_CHARS - 1)}${ELLIPSIS}` : text;
}

/**
 * `text` without URL queries and fragments, and with `//user:password@` replaced, in time linear
 * in its length (each pattern starts only where the previous match or token ended).
 */
export function scrubUrls(text: string): string {
  return text.replace(/\S+/g, dropUrlQuery).replace(/\/\/[^/\s:@]+:[^/\s@]+@/g, '//[redacted]@');
}

function bounded(message: string): string {
  if (message.length <= ERROR_SCAN_MAX_CHARS) return message;
  // A token cut in two could hide a URL or a secret from the scans: it is dropped whole.
  let end = ERROR_SCAN_MAX_CHARS;
  while (end > 0 && !/\s/.test(message[end]!)) end--;
  return `${message.slice(0, end)} ${ELLIPSIS}`;
}

/**
 * `token` (no whitespace) without the query or fragment of its first `http(s)://` URL, and
 * everything after it, in one pass: what the pattern `(https?://[^\s?#]+)[?#]\S*` replaced.
 */
function dropUrlQuery(token: string): string {
  for (let from = 0; ;) {
    const at = token.indexOf('://', from);
    if (at < 0) return token;
    const scheme = token.startsWith('http', at - 4) || token.startsWith('https', at - 5);
    const host = at + 3;
    if (scheme && host < token.length && token[host] !== '?' && token[host] !== '#') {
      const q = token.indexOf('?', host);
      const h = token.indexOf('#', host);
      const cut = q < 0 ? h : h < 0 ? q : Math.min(q, h);
      return cut < 0 ? token : token.slice(0, cut);
    }
    from = host;
  }
}

/**
 * Shortens a toast so that title + body fit in TOAST_MAX_CHARS: a long title is cut to
 * TOAST_TITLE_MAX_CHARS first, then the body takes the room left; each cut ends with an ellipsis.
 * Notifiers run from at-least-once effects, so a long toast is truncated rather than rejected
 * (a rejection would make the effect retry forever).
 *
 * @example
 * fitToast('Switched to HTTP', 'x'.repeat(200)).body.length; // 124
 */
export function fitToast(title: string, body: string): { title: string; body: string } {
  const t = [...title.trim()];
  const b = [...body.trim()];
  if (t.length + b.length <= TOAST_MAX_CHARS) return { title: t.join(''), body: b.join('') };
  const cut = (chars: string[], max: number) =>
    chars.length <= max ? chars : [...chars.slice(0, max - 1), ELLIPSIS];
  const t2 = cut(t, TOAST_TITLE_MAX_CHARS);
  const b2 = cut(b, TOAST_MAX_CHARS - t2.length);
  return { title: t2.join(''), body: b2.join('') };
}

/** Request and source ids: printable ASCII without spaces (they appear in SSE `id:` lines). */
const opaqueId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const requestSchema = z.object({
  id: opaqueId,
  installationId: identifier,
  kind: z.enum(KINDS),
  workspaceId: identifier.nullish(),
  sessionId: identifier.nullish(),
  sourceId: opaqueId,
  toast: z.object({
    title: z.string().trim().min(1).max(1000),
    body: z.string().max(10_000),
    severity: z.enum(['info', 'warning', 'error']),
  }),
  details: z
    .record(z.string(), z.unknown())
    .refine(
      (d) => Buffer.byteLength(JSON.stringify(d) ?? '') <= DETAILS_MAX_BYTES,
      `must serialise to at most ${DETAILS_MAX_BYTES} bytes of JSON`,
    ),
});

/** A delivery as served by the API: the contract's record plus its identifiers. */
export interface DeliveryView extends DeliveryRecord {
  /** Stable: the `X-LumiLink-Delivery` header and the email's Message-ID. */
  deliveryId: string;
  notificationId: string;
  kind: NotificationKind;
  sourceId: string;
  createdAt: string;
  deadLetteredAt: string | null;
}

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

interface NewDelivery {
  id: string;
  /** When the first attempt is due; null: nothing to send (toast, skipped). */
  due: number | null;
  fields: Record<string, string>;
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

const INTERRUPTED =
  'the last attempt was interrupted before its outcome was recorded (the engine stopped); it may have been received';

const iso = (ms: number) => new Date(ms).toISOString();

const RECORD_FIELDS = [
  'id',
  'notificationId',
  'kind',
  'sourceId',
  'channel',
  'target',
  'status',
  'attempts',
  'lastError',
  'deliveredAt',
  'createdAt',
  'updatedAt',
  'deadLetteredAt',
] as const;

/**
 * Delivers notifications on each installation's configured channels: toasts live over Redis
 * pub/sub, webhooks (HMAC-signed) and email as durable Redis jobs with exponential backoff and a
 * dead-letter list. `notify` is idempotent by request id.
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
  readonly #leaseMs: number;
  readonly #batchSize: number;
  readonly #concurrency: number;
  readonly #replayEvents: number;
  readonly #inflight = new Set<Promise<unknown>>();

  constructor(o: NotificationServiceOptions) {
    this.#redis = o.redis;
    this.#keys = o.keys;
    this.#clock = o.clock;
    this.#logger = o.logger;
    this.#config = o.config;
    this.#timeoutMs = o.timeoutMs ?? 5000;
    this.#leaseMs = o.leaseMs ?? 60_000;
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

    const deliveries = this.#plan(req, toast, settings, now);
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

    const keys: [string, string, string, string, ...string[]] = [
      this.#keys.requests(installationId),
      this.#keys.source(installationId, req.sourceId),
      this.#keys.due(installationId),
      this.#keys.toastStream(installationId),
      ...deliveries.map((d) => this.#keys.delivery(installationId, d.id)),
    ];
    const args: (string | number)[] = [
      req.id,
      JSON.stringify(summary),
      this.#keys.toastChannel(),
      used.includes('toast') ? JSON.stringify(toast) : '',
      this.#replayEvents,
      deliveries.length,
    ];
    for (const d of deliveries) {
      const entries = Object.entries({ id: d.id, ...d.fields });
      args.push(d.id, d.due ?? '', entries.length, ...entries.flat());
    }
    const existing = await commands.notify(this.#redis, keys, args);
    if (existing !== null) return (JSON.parse(existing) as RequestSummary).channels;
    return used;
  }

  async deliveries(installationId: string, sourceId: string): Promise<DeliveryRecord[]> {
    return (await this.deliveryViews(installationId, sourceId)).map(toRecord);
  }

  /** Every delivery of a source, in creation order, with identifiers. */
  async deliveryViews(installationId: string, sourceId: string): Promise<DeliveryView[]> {
    const ids = await this.#redis.lrange(this.#keys.source(installationId, sourceId), 0, -1);
    return this.#load(installationId, ids);
  }

  /** Dead letters, newest first; `cursor` is a previous page's nextCursor. */
  async deadLetters(
    installationId: string,
    q: { cursor?: string; limit: number },
  ): Promise<{ items: DeliveryView[]; nextCursor: string | null }> {
    const members = await this.#redis.zrevrangebylex(
      this.#keys.dead(installationId),
      q.cursor === undefined ? '+' : `(${q.cursor}`,
      '-',
      'LIMIT',
      0,
      q.limit,
    );
    const ids = members.map((m) => m.slice(m.indexOf(':') + 1));
    return {
      items: await this.#load(installationId, ids),
      nextCursor: members.length === q.limit ? members[members.length - 1]! : null,
    };
  }

  /**
   * Runs one attempt of every webhook/email job due at `clock.now()`, across installations.
   * Safe to run from several processes at once: each attempt is claimed atomically.
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
    await Promise.allSettled([...this.#inflight]);
    this.#email?.close();
  }

  /** One delivery per channel and target configured for the request's kind. */
  #plan(
    req: ParsedRequest,
    toast: Toast,
    settings: NotificationSettings,
    now: number,
  ): NewDelivery[] {
    const createdAt = iso(now);
    const out: NewDelivery[] = [];
    const add = (
      channel: Channel,
      address: string,
      target: string,
      init: {
        status: DeliveryRecord['status'];
        lastError?: string;
        /** The exact payload every attempt sends, given the delivery id. */
        payload?: (id: string) => string;
      },
    ) => {
      const id = deliveryId(req.installationId, req.id, channel, address);
      const delivered = init.status === 'delivered';
      out.push({
        id,
        due: init.status === 'pending' ? now : null,
        fields: {
          notificationId: req.id,
          kind: req.kind,
          sourceId: req.sourceId,
          channel,
          target,
          address,
          payload: init.payload?.(id) ?? '',
          status: init.status,
          attempts: delivered ? '1' : '0',
          lastError: init.lastError ?? '',
          deliveredAt: delivered ? createdAt : '',
          createdAt,
          updatedAt: createdAt,
          deadLetteredAt: '',
        },
      });
    };
    for (const channel of CHANNELS.filter((c) => settings.channels[req.kind].includes(c))) {
      if (channel === 'toast') {
        add('toast', 'stream', 'stream', { status: 'delivered' });
      } else if (channel === 'webhook') {
        if (settings.webhookUrls.length === 0)
          add('webhook', '', '', { status: 'skipped', lastError: NO_WEBHOOK_URLS });
        for (const url of settings.webhookUrls) {
          add(
            'webhook',
            url,
            webhookTarget(url),
            this.#config.webhookSecret
              ? { status: 'pending', payload: (id) => JSON.stringify(webhookBody(id, req, toast)) }
              : { status: 'skipped', lastError: NO_SECRET },
          );
        }
      } else {
        if (settings.emailTo.length === 0)
          add('email', '', '', { status: 'skipped', lastError: NO_EMAIL_TO });
        for (const to of settings.emailTo) {
          add(
            'email',
            to,
            to,
            this.#email
              ? { status: 'pending', payload: () => JSON.stringify(email(req, toast)) }
              : { status: 'skipped', lastError: NO_SMTP },
          );
        }
      }
    }
    return out;
  }

  async #processDue(): Promise<ProcessResult> {
    const now = this.#clock.now();
    const installations = await this.#redis.smembers(this.#keys.installations());
    const jobs: { installationId: string; id: string }[] = [];
    for (const installationId of installations.sort()) {
      const ids = await this.#redis.zrangebyscore(
        this.#keys.due(installationId),
        '-inf',
        now,
        'LIMIT',
        0,
        this.#batchSize,
      );
      for (const id of ids) jobs.push({ installationId, id });
    }
    const result: ProcessResult = { attempted: 0, delivered: 0, retrying: 0, deadLettered: 0 };
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        const outcome = await this.#attempt(job.installationId, job.id);
        if (outcome === null) continue;
        result.attempted++;
        if (outcome === 'delivered') result.delivered++;
        else if (outcome === 'retry') result.retrying++;
        else result.deadLettered++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, jobs.length) }, worker));
    return result;
  }

  async #attempt(
    installationId: string,
    id: string,
  ): Promise<'delivered' | 'retry' | 'dead' | null> {
    const keys = [
      this.#keys.due(installationId),
      this.#keys.delivery(installationId, id),
      this.#keys.dead(installationId),
    ] as const;
    const now = this.#clock.now();
    const token = randomUUID();
    const claimed = await commands.claimDelivery(this.#redis, keys, [
      id,
      now,
      now + this.#leaseMs,
      token,
      this.#config.maxAttempts,
      auditMember(now, id),
      iso(now),
      INTERRUPTED,
    ]);
    if (claimed === null) return null;
    const { attempt, channel, address, payload } = claimed;
    let error: string | null = null;
    try {
      await this.#send(channel as Channel, address, payload, id, attempt);
    } catch (e) {
      error = this.#safeError(e);
    }
    const at = this.#clock.now();
    const outcome =
      error === null ? 'delivered' : attempt >= this.#config.maxAttempts ? 'dead' : 'retry';
    const recorded = await commands.finishDelivery(this.#redis, keys, [
      id,
      token,
      outcome,
      iso(at),
      at + this.#config.baseDelayMs * 2 ** (attempt - 1),
      error ?? '',
      auditMember(at, id),
    ]);
    if (!recorded) {
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
        outcome === 'dead' ? 'notification dead-lettered' : 'notification attempt failed',
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

  async #load(installationId: string, ids: readonly string[]): Promise<DeliveryView[]> {
    if (ids.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.hmget(this.#keys.delivery(installationId, id), ...RECORD_FIELDS);
    const replies = (await pipeline.exec()) ?? [];
    const out: DeliveryView[] = [];
    for (const [err, value] of replies) {
      if (err) throw err;
      const v = value as (string | null)[];
      const f = Object.fromEntries(RECORD_FIELDS.map((k, i) => [k, v[i] ?? ''])) as Record<
        (typeof RECORD_FIELDS)[number],
        string
      >;
      if (!f.id) continue;
      out.push({
        deliveryId: f.id,
        notificationId: f.notificationId,
        kind: f.kind as NotificationKind,
        sourceId: f.sourceId,
        channel: f.channel as Channel,
        target: f.target,
        status: f.status as DeliveryRecord['status'],
        attempts: Number(f.attempts),
        lastError: f.lastError || null,
        deliveredAt: f.deliveredAt || null,
        createdAt: f.createdAt,
        updatedAt: f.updatedAt,
        deadLetteredAt: f.deadLetteredAt || null,
      });
    }
    return out;
  }
}

const NO_SECRET = 'WEBHOOK_SECRET is not configured: webhooks are not sent';
const NO_SMTP = 'SMTP_URL is not configured: email is not sent';
const NO_WEBHOOK_URLS = 'no webhook URL is configured for this installation';
const NO_EMAIL_TO = 'no email recipient is configured for this installation';

function toRecord(v: DeliveryView): DeliveryRecord {
  return {
    channel: v.channel,
    target: v.target,
    status: v.status,
    attempts: v.attempts,
    lastError: v.lastError,
    deliveredAt: v.deliveredAt,
    updatedAt: v.updatedAt,
  };
}

/** Stable per installation, request, channel and address: the receiver's deduplication key. */
function deliveryId(installationId: string, requestId: string, channel: Channel, address: string) {
  const h = createHash('sha256')
    .update(`${installationId}\n${requestId}\n${channel}\n${address}`)
    .digest('hex');
  return `dlv_${h.slice(0, 32)}`;
}

type ParsedRequest = z.output<typeof requestSchema>;

/** The exact JSON body POSTed (and signed) on every attempt of one webhook delivery. */
function webhookBody(id: string, req: ParsedRequest, toast: Toast) {
  return {
    deliveryId: id,
    notificationId: req.id,
    kind: req.kind,
    installationId: req.installationId,
    workspaceId: toast.workspaceId,
    sessionId: toast.sessionId,
    sourceId: req.sourceId,
    createdAt: toast.createdAt,
    toast: { title: toast.title, body: toast.body, severity: toast.severity },
    details: req.details,
  };
}

function email(req: ParsedRequest, toast: Toast): EmailMessage {
  const lines = [
    toast.body,
    '',
    `Kind: ${req.kind}`,
    `Severity: ${toast.severity}`,
    `Installation: ${req.installationId}`,
    ...(toast.workspaceId ? [`Workspace: ${toast.workspaceId}`] : []),
    ...(toast.sessionId ? [`Session: ${toast.sessionId}`] : []),
    `Source: ${req.sourceId}`,
    `At: ${toast.createdAt}`,
    '',
    'Details:',
    JSON.stringify(req.details, null, 2),
  ];
  return { subject: `[LumiLink] ${toast.title}`, text: lines.join('\n') };
}
