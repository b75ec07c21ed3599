import type { Response } from 'express';

/**
 * Every open Server-Sent Events response of this process, so that shutdown can end each one
 * with a final `shutdown` event instead of cutting it (clients reconnect to another process).
 *
 * @example
 * const streams = new LiveStreams();
 * streams.track(res); // when a stream opens
 * streams.closeAll(); // on SIGTERM
 */
export class LiveStreams {
  readonly #open = new Set<Response>();

  track(res: Response): void {
    this.#open.add(res);
    res.on('close', () => this.#open.delete(res));
  }

  get size(): number {
    return this.#open.size;
  }

  /** Sends `event: shutdown` to every open stream and ends it. Returns how many were closed. */
  closeAll(): number {
    const n = this.#open.size;
    for (const res of this.#open) {
      if (!res.writableEnded && !res.destroyed) {
        res.end('event: shutdown\ndata: {"reason":"server shutting down; reconnect"}\n\n');
      }
    }
    this.#open.clear();
    return n;
  }
}
