/**
 * Redis keys of the notifications module. Every per-installation key carries the installation's
 * hash tag (`<prefix>:{<installationId>}:notify:...`, the same layout as src/store/keys.ts), so
 * each Lua script touches a single slot. The installation registry and the toast channel
 * are global and only used by single-key commands.
 */
export class NotifyKeys {
  constructor(readonly prefix: string) {}

  #tag(installationId: string): string {
    return `${this.prefix}:{${installationId}}:notify`;
  }

  /** Installation notification settings (JSON). */
  settings(installationId: string): string {
    return `${this.#tag(installationId)}:settings`;
  }

  /**
   * String: one request's summary JSON, written once (SET NX, what makes notify idempotent) with
   * NOTIFY_RETENTION_MS as its expiry.
   */
  request(installationId: string, requestId: string): string {
    return `${this.#tag(installationId)}:request:${requestId}`;
  }

  /**
   * Hash: request id -> request summary JSON, as written (HSETNX, no expiry) before the request
   * keys existed: still read, so a request recorded there stays idempotent, and given
   * NOTIFY_RETENTION_MS as its expiry by the first request after the upgrade.
   */
  requests(installationId: string): string {
    return `${this.#tag(installationId)}:requests`;
  }

  /**
   * List of the delivery ids of one source (alert, rollback event...), in creation order;
   * expires NOTIFY_RETENTION_MS after the source's last request.
   */
  source(installationId: string, sourceId: string): string {
    return `${this.#tag(installationId)}:source:${sourceId}`;
  }

  /**
   * Hash: one delivery's record, expiring NOTIFY_RETENTION_MS after it is final (delivered,
   * skipped, or discarded from the dead letters; kept while pending or dead-lettered). Its job (what every attempt sends, when it is due, its
   * attempts) is in the installation's `notify` retry queue (Keys.jobQueue, see queue.ts).
   */
  delivery(installationId: string, deliveryId: string): string {
    return `${this.#tag(installationId)}:delivery:${deliveryId}`;
  }

  /**
   * Global set of the installations whose `notify` queue holds a job or a dead letter: what the
   * poller walks (and the fleet gauges, for dead letters). notify adds an installation with its
   * jobs; the poller takes it out once it finds the queue empty.
   */
  installations(): string {
    return `${this.prefix}:notify:installations`;
  }

  /**
   * Stream of the installation's last STREAM_REPLAY_EVENTS toasts (entry id = SSE id), read by
   * clients that resume with Last-Event-ID. Not under `:notify:`: it belongs to the live streams.
   */
  toastStream(installationId: string): string {
    return `${this.prefix}:{${installationId}}:live:toasts`;
  }

  /** Pub/sub channel carrying every toast, as `<stream id> <toast JSON>`, to every process. */
  toastChannel(): string {
    return `${this.prefix}:notify:toasts`;
  }
}
