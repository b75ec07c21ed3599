/**
 * Limits on live streams (issue #10, defect 8), against the real service on real Redis: open
 * streams per token and per installation (429 too-many-streams beyond, nothing written), a
 * bounded send buffer per client (one that does not read is disconnected while the others keep
 * receiving), heartbeat comments, and the query parameters a stream takes (an unknown one is
 * refused before anything opens). Toast and transition streams share src/http/sse.ts; each
 * behaviour is checked on both.
 */
import { request } from 'node:http';
import { type Socket, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NotifyKeys } from '../../src/notifications/keys.ts';
import { commands } from '../../src/store/scripts.ts';
import { summary } from '../automation/support.ts';
import {
  OPERATOR,
  TOKEN_A,
  TOKEN_B,
  type TestService,
  checkInvariants,
  startService,
} from '../helpers.ts';
import { send, sendAndDiff } from './support.ts';

const services: TestService[] = [];
const sockets: { destroy(): void }[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of services.splice(0)) await s.close();
});

async function service(env: Record<string, string> = {}) {
  const s = await startService(env);
  services.push(s);
  return s;
}

const TOASTS = (installationId: string) => `/v1/installations/${installationId}/toasts/stream`;
const TRANSITIONS = (installationId: string) =>
  `/v1/installations/${installationId}/transitions/stream`;

/** Waits until `check` holds, re-checking every 5 ms; fails after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface OpenStream {
  status: number;
  contentType: string;
  /** Everything received so far. */
  text: () => string;
  /** Resolves once the received text satisfies `check` (fails after 5 s). */
  waitFor: (check: (text: string) => boolean, what: string) => Promise<void>;
  close: () => void;
}

/** Opens a stream and keeps it open; resolves once the headers arrive. */
function openStream(s: TestService, path: string, token: string): Promise<OpenStream> {
  const url = new URL(s.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
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
        const waitFor = (check: (t: string) => boolean, what: string) =>
          new Promise<void>((done, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(w);
              fail(new Error(`timed out waiting for ${what}; received ${text.length} chars`));
            }, 5000);
            const w = () => {
              if (!check(text)) return;
              clearTimeout(timer);
              waiters.delete(w);
              done();
            };
            waiters.add(w);
            w();
          });
        const stream: OpenStream = {
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          text: () => text,
          waitFor,
          close: () => req.destroy(),
        };
        sockets.push(req);
        resolve(stream);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Opens a live stream and waits for its `: connected` comment (the subscription is live). */
async function openLive(s: TestService, path: string, token: string): Promise<OpenStream> {
  const stream = await openStream(s, path, token);
  expect(stream.status, stream.text()).toBe(200);
  await stream.waitFor((t) => t.includes(': connected\n\n'), `${path} to say connected`);
  return stream;
}

/** Asks for a stream and expects a refusal: the answer and the keys it changed. */
async function refused(s: TestService, path: string, token: string) {
  const res = await sendAndDiff(s, {
    method: 'GET',
    path,
    headers: { authorization: `Bearer ${token}` },
  });
  checkInvariants(res);
  return res;
}

describe('open streams per token', () => {
  it('answers the 21st stream of a token 429 too-many-streams and writes nothing; another token still opens, and a closed stream makes room', async () => {
    const s = await service();
    const open: OpenStream[] = [];
    for (let i = 0; i < 20; i++) {
      open.push(await openLive(s, i % 2 ? TOASTS('inst-a') : TRANSITIONS('inst-a'), TOKEN_A));
    }
    expect(s.modules.streams.size).toBe(20);

    for (const path of [TOASTS('inst-a'), TRANSITIONS('inst-a')]) {
      const res = await refused(s, path, TOKEN_A);
      expect(res.status, res.text).toBe(429);
      expect(res.body.error).toMatchObject({
        code: 'too-many-streams',
        details: { scope: 'token', limit: 20 },
      });
      expect(res.body.error.message).toContain('20 open live streams');
      expect(res.headers['retry-after']).toBe('5');
      expect(res.written).toEqual([]);
    }
    expect(s.modules.streams.size).toBe(20);

    // The limit is the token's: another token on another installation is not affected.
    await openLive(s, TOASTS('inst-b'), TOKEN_B);

    open[0]!.close();
    await until(() => s.modules.streams.size === 20, 'the closed stream to be released');
    await openLive(s, TOASTS('inst-a'), TOKEN_A);
  });

  it('takes STREAMS_PER_TOKEN as the limit', async () => {
    const s = await service({ STREAMS_PER_TOKEN: '2' });
    await openLive(s, TOASTS('inst-a'), TOKEN_A);
    await openLive(s, TRANSITIONS('inst-a'), TOKEN_A);
    const res = await refused(s, TOASTS('inst-a'), TOKEN_A);
    expect(res.status).toBe(429);
    expect(res.body.error.details).toMatchObject({ scope: 'token', limit: 2 });
  });
});

describe('open streams per installation', () => {
  it('answers 429 beyond STREAMS_PER_INSTALLATION whichever token asks, and writes nothing', async () => {
    const s = await service({ STREAMS_PER_INSTALLATION: '3' });
    await openLive(s, TOASTS('inst-a'), OPERATOR);
    await openLive(s, TRANSITIONS('inst-a'), OPERATOR);
    await openLive(s, TOASTS('inst-a'), TOKEN_A);
    for (const token of [TOKEN_A, OPERATOR]) {
      const res = await refused(s, TRANSITIONS('inst-a'), token);
      expect(res.status, res.text).toBe(429);
      expect(res.body.error).toMatchObject({
        code: 'too-many-streams',
        details: { scope: 'installation', installationId: 'inst-a', limit: 3 },
      });
      expect(res.headers['retry-after']).toBe('5');
      expect(res.written).toEqual([]);
    }
    // The operator's limit per token is not reached: inst-b still opens.
    await openLive(s, TRANSITIONS('inst-b'), OPERATOR);
  });
});

/**
 * Publishes `n` messages of about `bytes` each for inst-a, as the engine or the notifier does; the
 * last one's id ends in `-${tag}`.
 */
async function publish(
  s: TestService,
  kind: 'toasts' | 'transitions',
  n: number,
  bytes: number,
  tag = 'LAST',
) {
  const pad = 'x'.repeat(bytes);
  for (let i = 0; i < n; i++) {
    const last = i === n - 1 ? tag : String(i);
    const message =
      kind === 'toasts'
        ? {
            id: `toast-${last}`,
            kind: 'rollback',
            title: 't',
            body: pad,
            severity: 'error',
            installationId: 'inst-a',
            workspaceId: null,
            sessionId: null,
            sourceId: 'src',
            createdAt: '2026-11-25T12:00:00.000Z',
          }
        : {
            actorId: `connection:c-${last}`,
            kind: 'connection',
            installationId: 'inst-a',
            from: pad,
            to: 'connected',
            events: ['HANDSHAKE'],
            version: i + 1,
            at: '2026-11-25T12:00:00.000Z',
          };
    const keys = new NotifyKeys(s.prefix);
    const channel = kind === 'toasts' ? keys.toastChannel() : `${s.prefix}:transitions`;
    const stream =
      kind === 'toasts' ? keys.toastStream('inst-a') : `${s.prefix}:{inst-a}:live:transitions`;
    // Recorded for replay (the last 10 kept) and published with its id, as every live event is.
    await commands.appendLiveEvent(s.redis, [stream], [10, channel, JSON.stringify(message)]);
  }
}

/** A raw TCP client that asks for a stream and then never reads from its socket. */
async function nonReadingClient(s: TestService, path: string): Promise<Socket> {
  const url = new URL(s.url);
  const socket = connect(Number(url.port), url.hostname);
  sockets.push(socket);
  await new Promise((r) => socket.once('connect', r));
  socket.pause();
  socket.write(
    `GET ${path} HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${OPERATOR}\r\n\r\n`,
  );
  return socket;
}

describe('a client that does not read', () => {
  it.each(['toasts', 'transitions'] as const)(
    'is disconnected from a %s stream once STREAM_BUFFER_BYTES are waiting for it, while a reading client receives everything',
    async (kind) => {
      const s = await service({ STREAM_BUFFER_BYTES: '16384' });
      const path = kind === 'toasts' ? TOASTS('inst-a') : TRANSITIONS('inst-a');
      const reader = await openLive(s, path, TOKEN_A);
      const slow = await nonReadingClient(s, path);
      await until(() => s.modules.streams.size === 2, 'the slow client to be streaming');

      // Rounds of 4 MB until the slow client is cut off: how much the kernel's socket buffers
      // absorb first depends on the machine (loopback autotuning grows them to tens of MB), so
      // the test publishes until the service's own buffer passes its limit, up to 128 MB.
      let published = 0;
      for (let round = 0; s.modules.streams.size === 2; round++) {
        if (round === 32) throw new Error('the slow client was not disconnected after 128 MB');
        await publish(s, kind, 1000, 4096, `R${round}`);
        published += 1000;
        await reader.waitFor(
          (t) => t.slice(-16384).includes(`-R${round}"`),
          `the last message of round ${round}`,
        );
      }
      expect(
        reader
          .text()
          .split('\n\n')
          .filter((f) => f.includes('data: ')).length,
      ).toBe(published);

      // The slow client, reading at last, finds its stream cut short.
      let received = 0;
      slow.on('data', (c: Buffer) => (received += c.length));
      slow.resume();
      await new Promise((r) => slow.once('close', r));
      expect(received).toBeLessThan(published * 4096);

      // The reader is still served.
      await publish(s, kind, 1, 10);
      await reader.waitFor((t) => t.includes('-LAST'), 'a message after the disconnection');
    },
    // Up to 32 rounds of 4 MB on a machine whose socket buffers absorb a lot.
    120_000,
  );
});

describe('heartbeat comments', () => {
  it.each([
    ['toasts', TOASTS('inst-a')],
    ['transitions', TRANSITIONS('inst-a')],
  ])(
    'a %s stream says retry, then sends a heartbeat comment every STREAM_HEARTBEAT_MS',
    async (_kind, path) => {
      const s = await service({ STREAM_HEARTBEAT_MS: '20' });
      const stream = await openLive(s, path, TOKEN_A);
      expect(stream.contentType).toContain('text/event-stream');
      expect(stream.text().startsWith('retry: 5000\n\n')).toBe(true);
      await stream.waitFor(
        (t) => t.split(': heartbeat\n\n').length >= 4,
        'three heartbeat comments',
      );
    },
  );
});

/**
 * A HEAD sent as `curl -X HEAD` sends it: on a raw socket, with `Connection: close`, and the token
 * as `Authorization: Bearer` (none when `token` is null: give it in the path's query). The answer's
 * head, once the server has ended the response and closed the socket (fails after `ms`).
 */
async function rawHead(
  s: TestService,
  path: string,
  token: string | null,
  ms = 3000,
): Promise<string> {
  const url = new URL(s.url);
  const socket = connect(Number(url.port), url.hostname);
  sockets.push(socket);
  await new Promise((r) => socket.once('connect', r));
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  const closed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`HEAD ${path} not ended within ${ms} ms; received ${text}`)),
      ms,
    );
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const authorization = token === null ? '' : `authorization: Bearer ${token}\r\n`;
  socket.write(
    `HEAD ${path} HTTP/1.1\r\nhost: ${url.host}\r\n${authorization}connection: close\r\n\r\n`,
  );
  await closed;
  return text;
}

/** A connection and a session of inst-a, and the path of each stream route that shows them. */
async function everyStreamRoute(s: TestService): Promise<string[]> {
  expect(
    (
      await s.api('POST', '/v1/connections', {
        connectionId: 'c1',
        installationId: 'inst-a',
        workspaceId: 'ws-1',
      })
    ).status,
  ).toBe(201);
  expect((await s.api('POST', '/v1/sessions/s1/automation', summary())).status).toBe(201);
  return [
    TOASTS('inst-a'),
    '/v1/sessions/s1/toasts/stream',
    TRANSITIONS('inst-a'),
    '/v1/actors/connection:c1/transitions/stream',
  ];
}

describe('HEAD on a stream route', () => {
  it('answers the headers a GET gets and ends at once, on every stream route, without opening or counting a stream', async () => {
    const s = await service({ STREAMS_PER_TOKEN: '3' });
    const paths = await everyStreamRoute(s);
    for (const path of paths) {
      const head = await rawHead(s, path, TOKEN_A);
      expect(head, path).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(head.toLowerCase(), path).toContain('content-type: text/event-stream; charset=utf-8');
      // Headers only: nothing after them, not even the retry hint.
      expect(head.endsWith('\r\n\r\n'), path).toBe(true);
      expect(head, path).not.toContain('retry:');
    }
    // Many more than STREAMS_PER_TOKEN at once, as many `curl -X HEAD` would: none is counted.
    const heads = await Promise.all(
      Array.from({ length: 25 }, (_, i) => rawHead(s, paths[i % paths.length]!, TOKEN_A)),
    );
    for (const head of heads) expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(s.modules.streams.size).toBe(0);
    // The token still has all its streams.
    for (const path of paths.slice(0, 3)) await openLive(s, path, TOKEN_A);
    expect(s.modules.streams.size).toBe(3);
  });

  it('is refused as the GET would be: 429 beyond the limits, 404 for a stream it cannot see, 400 for a bad Last-Event-ID', async () => {
    const s = await service({ STREAMS_PER_TOKEN: '1' });
    await openLive(s, TOASTS('inst-a'), TOKEN_A);
    const beyond = await rawHead(s, TRANSITIONS('inst-a'), TOKEN_A);
    expect(beyond).toMatch(/^HTTP\/1\.1 429 /);
    expect(beyond.toLowerCase()).toContain('retry-after: 5');
    expect(await rawHead(s, TOASTS('inst-a'), TOKEN_B)).toMatch(/^HTTP\/1\.1 404 /);
    expect(await rawHead(s, `${TOASTS('inst-b')}?lastEventId=nope`, TOKEN_B)).toMatch(
      /^HTTP\/1\.1 400 /,
    );
    expect(s.modules.streams.size).toBe(1);
  });
});

describe('HEAD with the token as ?access_token=', () => {
  it('authenticates as the GET does: 200 on every stream route, 401 invalid_token for a bad token, 401 off the streams', async () => {
    const s = await service();
    const paths = await everyStreamRoute(s);
    for (const path of paths) {
      const query = `${path}?access_token=${TOKEN_A}`;
      const head = await rawHead(s, query, null);
      expect(head, path).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(head.toLowerCase(), path).toContain('content-type: text/event-stream; charset=utf-8');
      expect(head, path).not.toContain('retry:');
      // The header still wins over the query, for HEAD as for GET: a bad query token is not read.
      expect(await rawHead(s, `${path}?access_token=not-a-token-0001`, TOKEN_A), path).toMatch(
        /^HTTP\/1\.1 200 OK\r\n/,
      );
    }
    // Headers only: nothing opened or counted.
    expect(s.modules.streams.size).toBe(0);
    for (const path of paths) {
      const get = await send(s.url, { method: 'GET', path: `${path}?access_token=${TOKEN_A}` });
      expect(get.status, path).toBe(200);
    }

    // A token that is not valid: the same 401 and challenge as the GET.
    const bad = `${TOASTS('inst-a')}?access_token=not-a-token-0001`;
    const get = await send(s.url, { method: 'GET', path: bad });
    expect(get.status).toBe(401);
    const head = await rawHead(s, bad, null);
    expect(head).toMatch(/^HTTP\/1\.1 401 /);
    expect(head.toLowerCase()).toContain(String(get.headers['www-authenticate']).toLowerCase());
    expect(head.toLowerCase()).toContain('error="invalid_token"');

    // Another tenant's stream: the token is read, then the stream is not found (404), as for GET.
    expect(await rawHead(s, `${TOASTS('inst-a')}?access_token=${TOKEN_B}`, null)).toMatch(
      /^HTTP\/1\.1 404 /,
    );

    // Off the declared streams the query token is still not read, for HEAD as for GET.
    const elsewhere = `/v1/connections/stream?access_token=${TOKEN_A}`;
    expect((await send(s.url, { method: 'GET', path: elsewhere })).status).toBe(401);
    expect(await rawHead(s, elsewhere, null)).toMatch(/^HTTP\/1\.1 401 /);
  });
});

describe('query parameters of a stream route', () => {
  it('refuses an unknown parameter with 400 naming each, before opening anything, on every stream route and for HEAD; access_token and lastEventId still open', async () => {
    const s = await service();
    const paths = await everyStreamRoute(s);
    for (const path of paths) {
      // The token in the query, as an EventSource sends it, plus two parameters no stream takes.
      const res = await sendAndDiff(s, {
        method: 'GET',
        path: `${path}?access_token=${TOKEN_A}&foo=1&bar=2`,
      });
      checkInvariants(res);
      expect(res.status, path).toBe(400);
      expect(res.contentType, path).toContain('application/json');
      expect(res.body.error.code).toBe('validation-failed');
      expect(res.body.error.details).toEqual({
        in: 'query',
        fields: [
          { field: 'foo', message: 'unknown field' },
          { field: 'bar', message: 'unknown field' },
        ],
      });
      expect(res.body.error.message).toBe('invalid query: foo: unknown field; bar: unknown field');
      expect(res.written, path).toEqual([]);
      // HEAD answers what the GET would.
      expect(await rawHead(s, `${path}?foo=1`, TOKEN_A), path).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect(s.modules.streams.size).toBe(0);

    // The documented parameters still open the stream.
    for (const path of paths) {
      const ok = await send(s.url, {
        method: 'GET',
        path: `${path}?access_token=${TOKEN_A}&lastEventId=1764072000000-0`,
      });
      expect(ok.status, path).toBe(200);
      expect(ok.contentType, path).toContain('text/event-stream');
    }
  });
});
