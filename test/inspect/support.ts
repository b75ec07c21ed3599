/**
 * Followers of `/v1/inspect` for the tests: the real `@statelyai/inspect` receiver, and a raw
 * `ws` client for what the receiver cannot show (refused upgrades, close codes). Each waits on
 * the frames themselves, never on a clock.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createWebSocketReceiver } from '@statelyai/inspect';
import { WebSocket } from 'ws';

export type Frame = Record<string, any> & { type: string };

/** Frames received so far, and a way to wait for one. */
export class Frames {
  readonly all: Frame[] = [];
  readonly #waiters: { test: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];

  push(frame: Frame): void {
    this.all.push(frame);
    for (const w of [...this.#waiters]) {
      if (w.test(frame)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    }
  }

  /** The first frame (received already or later) that passes `test`. */
  next(test: (f: Frame) => boolean, what = 'a frame'): Promise<Frame> {
    const found = this.all.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = { test, resolve };
      this.#waiters.push(waiter);
      setTimeout(() => {
        if (!this.#waiters.includes(waiter)) return;
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.all)}`));
      }, 5000).unref();
    });
  }
}

export const inspectUrl = (serviceUrl: string, token: string, actor?: string) => {
  const url = new URL('/v1/inspect', serviceUrl.replace(/^http/, 'ws'));
  url.searchParams.set('access_token', token);
  if (actor !== undefined) url.searchParams.set('actor', actor);
  return url.toString();
};

/** The package's own Node receiver (it opens its socket with `ws`, through isomorphic-ws). */
export function receive(serviceUrl: string, token: string, actor?: string): Frames {
  const frames = new Frames();
  createWebSocketReceiver({ server: inspectUrl(serviceUrl, token, actor) }).subscribe((event) =>
    frames.push(event),
  );
  return frames;
}

/** How the server answered an upgrade: opened (with a socket), or refused over HTTP. */
export type Upgrade =
  | {
      opened: true;
      ws: WebSocket;
      frames: Frames;
      closed: Promise<{ code: number; reason: string }>;
    }
  | { opened: false; status: number; body: any; headers: IncomingHttpHeaders };

export function upgrade(url: string, headers: Record<string, string> = {}): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const frames = new Frames();
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      ws.on('close', (code, reason) => done({ code, reason: reason.toString() })),
    );
    ws.on('message', (data, isBinary) => {
      // Text frames arrive as one Buffer; anything else is a test failure (a binary frame).
      frames.push(
        isBinary ? { type: 'binary frame' } : JSON.parse((data as Buffer).toString('utf8')),
      );
    });
    ws.on('open', () => resolve({ opened: true, ws, frames, closed }));
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () =>
        resolve({
          opened: false,
          status: res.statusCode!,
          body: JSON.parse(text),
          headers: res.headers,
        }),
      );
    });
    ws.on('error', reject);
  });
}
