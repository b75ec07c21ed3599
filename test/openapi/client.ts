/**
 * A recording HTTP client for the OpenAPI tests: every answer is kept with the route template
 * it was sent to (the Express path, e.g. `/v1/connections/:connectionId`), so that a test can
 * check it against the document. Live streams are opened with node:http and kept open until the
 * test has read what it needs.
 */
import { type IncomingMessage, request } from 'node:http';
import { WebSocket } from 'ws';
import { OPERATOR } from '../helpers.ts';

export interface Exchange {
  method: string;
  /** The Express route template. */
  route: string;
  url: string;
  status: number;
  contentType: string;
  /** Answer headers, names in lower case. */
  headers: Record<string, string>;
  /** Parsed JSON when the answer is JSON, else the text. */
  body: unknown;
  /**
   * The method whose operation documents this answer, when it is not `method`: an upgrade with
   * another method is refused before routing, documented on the GET of the WebSocket route.
   */
  documentedAs?: string;
}

export interface SendOptions {
  params?: Record<string, string>;
  query?: Record<string, string>;
  /** A value is sent as JSON; a string as is (with `contentType`). */
  body?: unknown;
  /** null: no Authorization header. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface OpenStream {
  status: number;
  contentType: string;
  text: () => string;
  /** Resolves with the text once `check` holds (fails after 5 s). */
  waitFor: (check: (text: string) => boolean, what: string) => Promise<string>;
  close: () => void;
}

const fill = (route: string, params: Record<string, string> = {}) =>
  route.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`no value for :${name} in ${route}`);
    return encodeURIComponent(value);
  });

export class RecordingClient {
  readonly exchanges: Exchange[] = [];
  readonly #open: OpenStream[] = [];
  readonly #sockets: WebSocket[] = [];

  constructor(readonly baseUrl: string) {}

  /** Sends one request and records its answer. */
  async send(method: string, route: string, options: SendOptions = {}): Promise<Exchange> {
    const url = this.#url(route, options);
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? OPERATOR : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    const res = await fetch(url, { method, headers, body: payload });
    const contentType = res.headers.get('content-type') ?? '';
    const text = await res.text();
    const body: unknown = contentType.includes('application/json') ? JSON.parse(text) : text;
    const exchange = {
      method,
      route,
      url,
      status: res.status,
      contentType,
      headers: Object.fromEntries(res.headers.entries()),
      body,
    };
    this.exchanges.push(exchange);
    return exchange;
  }

  /** Opens a live stream and records its status (and, for a refusal, its JSON body). */
  stream(route: string, options: SendOptions = {}): Promise<OpenStream> {
    const url = new URL(this.#url(route, options));
    const token = options.token === undefined ? OPERATOR : options.token;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: `${url.pathname}${url.search}`,
          headers: {
            accept: 'text/event-stream',
            ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          },
          agent: false,
        },
        (res) => {
          let text = '';
          const waiters = new Set<() => void>();
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
            for (const w of [...waiters]) w();
          });
          res.on('error', () => undefined);
          const contentType = String(res.headers['content-type'] ?? '');
          const stream: OpenStream = {
            status: res.statusCode ?? 0,
            contentType,
            text: () => text,
            waitFor: (check, what) =>
              new Promise((done, fail) => {
                const timer = setTimeout(() => {
                  waiters.delete(w);
                  fail(new Error(`timed out waiting for ${what}; received: ${text}`));
                }, 5000);
                const w = () => {
                  if (!check(text)) return;
                  clearTimeout(timer);
                  waiters.delete(w);
                  done(text);
                };
                waiters.add(w);
                w();
              }),
            close: () => req.destroy(),
          };
          this.#open.push(stream);
          const record = (body: unknown) =>
            this.exchanges.push({
              method: 'GET',
              route,
              url: url.toString(),
              status: stream.status,
              contentType,
              headers: Object.fromEntries(
                Object.entries(res.headers).map(([k, v]) => [k, String(v)]),
              ),
              body,
            });
          if (contentType.includes('application/json')) {
            res.on('end', () => {
              record(JSON.parse(text));
              resolve(stream);
            });
          } else {
            record(null);
            resolve(stream);
          }
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  /**
   * Opens a WebSocket on `route` (a GET with `Upgrade: websocket`) and records the handshake's
   * answer: 101 without a body, or the refusal with its JSON body. Resolves with the open socket
   * (closed by closeStreams), or null when the upgrade was refused.
   */
  upgrade(
    route: string,
    options: SendOptions = {},
  ): Promise<{ exchange: Exchange; ws: WebSocket | null }> {
    const url = this.#url(route, options).replace(/^http/, 'ws');
    const token = options.token === undefined ? OPERATOR : options.token;
    const headers = token === null ? {} : { authorization: `Bearer ${token}` };
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      const record = (res: IncomingMessage, body: unknown) => {
        const exchange = this.#record('GET', route, url, res, body);
        resolve({ exchange, ws: res.statusCode === 101 ? ws : null });
      };
      ws.once('upgrade', (res) => {
        this.#sockets.push(ws);
        record(res, null);
      });
      ws.once('unexpected-response', (req, res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          req.destroy();
          record(res, parseBody(String(res.headers['content-type'] ?? ''), text));
        });
      });
      ws.once('error', reject);
    });
  }

  /**
   * Sends an upgrade request with another method (`ws` only sends GET): the server refuses it
   * over HTTP before routing. Records the answer.
   */
  upgradeWith(method: string, route: string, options: SendOptions = {}): Promise<Exchange> {
    const url = new URL(this.#url(route, options));
    const token = options.token === undefined ? OPERATOR : options.token;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          method,
          host: url.hostname,
          port: url.port,
          path: `${url.pathname}${url.search}`,
          headers: {
            connection: 'Upgrade',
            upgrade: 'websocket',
            'sec-websocket-version': '13',
            'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          },
          agent: false,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            const body = parseBody(String(res.headers['content-type'] ?? ''), text);
            resolve(this.#record(method, route, url.toString(), res, body, 'GET'));
          });
        },
      );
      req.on('upgrade', () => reject(new Error(`${method} ${route} was upgraded`)));
      req.on('error', reject);
      req.end();
    });
  }

  closeStreams(): void {
    for (const s of this.#open.splice(0)) s.close();
    for (const ws of this.#sockets.splice(0)) ws.terminate();
  }

  #record(
    method: string,
    route: string,
    url: string,
    res: IncomingMessage,
    body: unknown,
    documentedAs?: string,
  ): Exchange {
    const exchange: Exchange = {
      method,
      route,
      url,
      status: res.statusCode ?? 0,
      contentType: String(res.headers['content-type'] ?? ''),
      headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
      body,
      ...(documentedAs === undefined ? {} : { documentedAs }),
    };
    this.exchanges.push(exchange);
    return exchange;
  }

  #url(route: string, options: SendOptions): string {
    const query = options.query ? `?${new URLSearchParams(options.query).toString()}` : '';
    return `${this.baseUrl}${fill(route, options.params)}${query}`;
  }
}

const parseBody = (contentType: string, text: string): unknown =>
  contentType.includes('application/json') ? JSON.parse(text) : text;

/** The JSON `data:` of the SSE events named `event` received so far. */
export function sseData(text: string, event: string): unknown[] {
  return text
    .split('\n\n')
    .filter((block) => block.split('\n').includes(`event: ${event}`))
    .map((block) =>
      JSON.parse(
        block
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n'),
      ),
    );
}
