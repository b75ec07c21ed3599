import type { Response } from 'express';

/** Whom an open stream counts against: a token (by its name, never the token) and an installation. */
export interface StreamOwner {
  token: string;
  installationId: string;
}

/**
 * Every open Server-Sent Events response of this process, so that shutdown can end each one
 * with a final `shutdown` event instead of cutting it (clients reconnect to another process),
 * and how many each token and installation holds (the per-process stream limits).
 *
 * @example
 * const streams = new LiveStreams();
 * streams.track(res, { token: 'api-token-1', installationId: 'inst-a' }); // when a stream opens
 * streams.openBy({ token: 'api-token-1', installationId: 'inst-a' }); // { token: 1, installation: 1 }
 * streams.closeAll(); // on SIGTERM
 */
export class LiveStreams {
  readonly #open = new Set<Response>();
  readonly #perToken = new Map<string, number>();
  readonly #perInstallation = new Map<string, number>();

  track(res: Response, owner?: StreamOwner): void {
    this.#open.add(res);
    if (owner) {
      bump(this.#perToken, owner.token, 1);
      bump(this.#perInstallation, owner.installationId, 1);
    }
    res.on('close', () => {
      if (!this.#open.delete(res) || !owner) return;
      bump(this.#perToken, owner.token, -1);
      bump(this.#perInstallation, owner.installationId, -1);
    });
  }

  get size(): number {
    return this.#open.size;
  }

  /** Streams open in this process for the owner's token and for its installation. */
  openBy(owner: StreamOwner): { token: number; installation: number } {
    return {
      token: this.#perToken.get(owner.token) ?? 0,
      installation: this.#perInstallation.get(owner.installationId) ?? 0,
    };
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
    this.#perToken.clear();
    this.#perInstallation.clear();
    return n;
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}
