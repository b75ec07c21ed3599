import { createHmac } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Config } from '../config.ts';

/** Replaces every configured secret in text (error messages, notification content) by a marker. */
export class Redactor {
  readonly #secrets: string[];

  constructor(secrets: readonly (string | undefined)[]) {
    // Longest first, so a secret that contains another is replaced whole.
    this.#secrets = [...new Set(secrets.filter((s): s is string => !!s && s.length >= 4))].sort(
      (a, b) => b.length - a.length,
    );
  }

  text(s: string): string {
    let out = s;
    for (const secret of this.#secrets) out = out.split(secret).join('[redacted]');
    return out;
  }

  /** Redacts every string inside a JSON-serialisable value. */
  value<T>(v: T): T {
    if (typeof v === 'string') return this.text(v) as T;
    if (Array.isArray(v)) return v.map((x: unknown) => this.value(x)) as T;
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => [this.text(k), this.value(x as unknown)]),
      ) as T;
    }
    return v;
  }
}

/** The secrets of the notification config: the webhook key, the SMTP URL and its password. */
export function configSecrets(config: Config['notifications']): string[] {
  const out: string[] = [];
  if (config.webhookSecret) out.push(config.webhookSecret);
  if (config.smtpUrl) {
    out.push(config.smtpUrl);
    try {
      const url = new URL(config.smtpUrl);
      if (url.password) out.push(url.password, decodeURIComponent(url.password));
    } catch {
      // config.ts already checked it is a URL
    }
  }
  return out;
}

/**
 * The `X-LumiLink-Signature` value, Stripe-style: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>" with the webhook secret>`. Signing the timestamp with the body lets a receiver
 * refuse a captured request replayed later (the README asks receivers to refuse a `t` more
 * than 5 minutes away from their clock).
 *
 * @example
 * signature('whsec-0123456789abcdef', '{"a":1}', 1764072000);
 * // 't=1764072000,v1=…64 hex digits…'
 */
export function signature(secret: string, rawBody: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${rawBody}`, 'utf8');
  return `t=${unixSeconds},v1=${mac.digest('hex')}`;
}

/** Where a webhook went, without secrets: origin and path (no credentials, query or fragment). */
export function webhookTarget(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** An error whose message is safe to store and show (no URL query, no secret). */
export class DeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

export interface WebhookAttempt {
  url: string;
  rawBody: string;
  deliveryId: string;
  attempt: number;
  /** ms, from the injected clock. */
  at: number;
  secret: string;
  timeoutMs: number;
}

/**
 * POSTs one signed webhook; resolves on a 2xx answer, throws a DeliveryError otherwise.
 * Redirects are not followed (a signed body is only sent where it was configured to go).
 */
export async function postWebhook(a: WebhookAttempt): Promise<void> {
  let res: Response;
  try {
    res = await fetch(a.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(a.timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'LumiLink-Notifications/1',
        'x-lumilink-delivery': a.deliveryId,
        'x-lumilink-timestamp': new Date(a.at).toISOString(),
        'x-lumilink-attempt': String(a.attempt),
        'x-lumilink-signature': signature(a.secret, a.rawBody, Math.floor(a.at / 1000)),
      },
      body: a.rawBody,
    });
  } catch (error) {
    throw new DeliveryError(describeFetchError(error, a.timeoutMs));
  }
  // Release the connection; the answer's body is not used (nor stored: it is not ours).
  await res.body?.cancel().catch(() => undefined);
  if (res.status < 200 || res.status > 299) {
    throw new DeliveryError(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  }
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  const e = error as {
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError')
    return `no answer within ${timeoutMs} ms`;
  const cause = e?.cause;
  if (cause?.message)
    return cause.code && !cause.message.includes(cause.code)
      ? `${cause.code}: ${cause.message}`
      : cause.message;
  return e?.message ?? String(error);
}

export interface EmailMessage {
  subject: string;
  text: string;
}

/** Sends email through the SMTP server of SMTP_URL (one connection per message). */
export class EmailSender {
  readonly #transport: nodemailer.Transporter;

  constructor(
    smtpUrl: string,
    readonly from: string,
    timeoutMs: number,
  ) {
    this.#transport = nodemailer.createTransport({
      url: smtpUrl,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: 2 * timeoutMs,
    });
  }

  async send(to: string, message: EmailMessage, deliveryId: string, at: number): Promise<void> {
    try {
      await this.#transport.sendMail({
        from: this.from,
        to,
        subject: message.subject,
        text: message.text,
        date: new Date(at),
        // A stable Message-ID lets receiving systems drop a retried duplicate.
        messageId: `<${deliveryId}@notifications.lumilink>`,
        headers: { 'X-LumiLink-Delivery': deliveryId },
      });
    } catch (error) {
      const e = error as { message?: string; responseCode?: number };
      throw new DeliveryError(e?.message ?? String(error));
    }
  }

  close(): void {
    this.#transport.close();
  }
}
