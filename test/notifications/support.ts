/**
 * Test plumbing for the notifications module: the service started with only this module, a
 * real webhook receiver and a real SMTP server on 127.0.0.1 port 0, and an SSE client reading
 * toasts over real HTTP.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, expect } from 'vitest';
import type { ManualClock } from '../../src/clock.ts';
import { notificationsModule } from '../../src/notifications/module.ts';
import type { NotificationService } from '../../src/notifications/service.ts';
import type { NotificationRequest } from '../../src/notifications/types.ts';
import { SERVICES } from '../../src/notifications/types.ts';
import {
  OPERATOR,
  TOKEN_A,
  TOKEN_B,
  type TestService,
  namedFields,
  startService,
} from '../helpers.ts';

/**
 * Closers of what a test started (services, receivers), run after each test of the file, newest
 * first.
 *
 * @example
 * const cleanup = useCleanup();
 * cleanup.push(() => svc.close());
 */
export function useCleanup(): (() => Promise<void>)[] {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  return cleanup;
}

export const WEBHOOK_SECRET = 'whsec-test-0123456789abcdef';
export const SMTP_PASSWORD = 'smtp-pass-s3cret-42';

export interface NotifyService extends TestService {
  notifier: NotificationService;
}

/** The real service on real Redis with the notifications module only (and no background loops). */
export async function startNotify(
  env: Record<string, string> = {},
  clock?: ManualClock,
): Promise<NotifyService> {
  const svc = await startService(env, clock, [notificationsModule]);
  const notifier = svc.modules.services.get(SERVICES.notifications) as NotificationService;
  return Object.assign(svc, { notifier });
}

let seq = 0;
/** A notification request for inst-a (fresh id unless given). */
export function request(overrides: Partial<NotificationRequest> = {}): NotificationRequest {
  seq++;
  return {
    id: `test:${seq}:${Math.random().toString(36).slice(2)}`,
    installationId: 'inst-a',
    kind: 'rollback',
    workspaceId: 'ws-1',
    sessionId: null,
    sourceId: `src-${seq}`,
    toast: {
      title: 'Switched to HTTP',
      body: 'ACP success rate fell to 97.0%.',
      severity: 'error',
    },
    details: { reason: 'success-rate-below-threshold' },
    ...overrides,
  };
}

/** Fails the test if a response body holds a token or a configured secret. */
export function expectNoSecrets(value: unknown, extra: string[] = []): void {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  for (const s of [OPERATOR, TOKEN_A, TOKEN_B, WEBHOOK_SECRET, SMTP_PASSWORD, ...extra])
    expect(text).not.toContain(s);
}

/** Asserts the house error shape, status, code, and (optionally) a named field. */
export function expectError(
  res: { status: number; body: any },
  status: number,
  code: string,
  field?: string,
): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(Object.keys(res.body.error as object).sort()).toEqual([
    'code',
    'details',
    'message',
    'requestId',
  ]);
  expect(res.body.error.code).toBe(code);
  if (field !== undefined) {
    expect(namedFields(res.body.error)).toContain(field);
    if (status === 400) expect(res.body.error.message).toContain(field);
  }
}

export async function putSettings(svc: TestService, body: unknown, installationId = 'inst-a') {
  const res = await svc.api(
    'PUT',
    `/v1/installations/${installationId}/notifications/settings`,
    body,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

export async function deliveries(svc: TestService, sourceId: string, token = OPERATOR) {
  const res = await svc.api(
    'GET',
    `/v1/installations/inst-a/notifications/deliveries?sourceId=${encodeURIComponent(sourceId)}`,
    undefined,
    token,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expectNoSecrets(res.body);
  return res.body.items as any[];
}

export interface ReceivedWebhook {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  rawBody: string;
}

/** A local webhook receiver answering each request with the next status (the last repeats). */
export async function startReceiver(statuses: number[] = [200], delayMs = 0) {
  const received: ReceivedWebhook[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        rawBody: Buffer.concat(chunks).toString('utf8'),
      });
      const status = statuses[Math.min(received.length - 1, statuses.length - 1)]!;
      setTimeout(() => res.writeHead(status).end(status < 300 ? 'ok' : 'nope'), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/lumilink`,
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  user: string | null;
  raw: string;
}

/**
 * A local SMTP server (plain text, AUTH optional but accepted for `notify`), capturing each
 * message; `reject` answers the next N messages with a temporary failure.
 */
export async function startSmtp(reject = 0) {
  const messages: ReceivedMail[] = [];
  let rejections = reject;
  const server = new SMTPServer({
    logger: false,
    disableReverseLookup: true,
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    onAuth(auth, _session, callback) {
      if (auth.username === 'notify' && auth.password === SMTP_PASSWORD)
        return callback(null, { user: auth.username });
      return callback(new Error('invalid credentials'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (rejections > 0) {
          rejections--;
          const err = new Error('mailbox busy, try later') as Error & { responseCode: number };
          err.responseCode = 451;
          return callback(err);
        }
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: (session.user as string | undefined) ?? null,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    url: `smtp://notify:${SMTP_PASSWORD}@127.0.0.1:${port}`,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Decodes a quoted-printable body enough to search it for text. */
export function decodeQuotedPrintable(s: string): string {
  return s
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** A stream request that is refused: its status and JSON error body. */
export async function refusedStream(svc: TestService, path: string, token = OPERATOR) {
  const res = await fetch(`${svc.url}${path}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export interface SseEvent {
  event: string;
  id: string | null;
  data: any;
}

/**
 * An SSE client over fetch streaming. Resolves once the server's `: connected` comment arrived,
 * i.e. once the subscription is live.
 */
export async function openStream(
  svc: Pick<TestService, 'url'>,
  path: string,
  token = OPERATOR,
  headers: Record<string, string> = {},
) {
  const abort = new AbortController();
  const res = await fetch(`${svc.url}${path}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...headers },
    signal: abort.signal,
  });
  if (res.status !== 200) {
    throw new Error(`the stream answered ${res.status}: ${await res.text()}`);
  }
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters: (() => void)[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let id: string | null = null;
        const data: string[] = [];
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length > 0) events.push({ event, id, data: JSON.parse(data.join('\n')) });
        waiters.splice(0).forEach((w) => w());
      }
    }
  })().catch(() => undefined);
  const changed = () => new Promise<void>((resolve) => waiters.push(resolve));
  /** Waits until an event satisfies `check` (fails after `ms`); returns it. */
  const waitUntil = async (check: (e: SseEvent) => boolean, ms = 3000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = events.find(check);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching event among ${events.length}`);
      await Promise.race([changed(), new Promise((r) => setTimeout(r, left))]);
    }
  };
  /** Waits until `n` events arrived (fails after `ms`). */
  const waitFor = async (n: number, ms = 3000) => {
    const deadline = Date.now() + ms;
    while (events.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} event(s), got ${events.length}`);
      await Promise.race([changed(), new Promise((r) => setTimeout(r, left))]);
    }
    return events;
  };
  while (!comments.includes('connected')) {
    await Promise.race([changed(), new Promise((r) => setTimeout(r, 3000))]);
    if (!comments.includes('connected')) throw new Error('the stream never said connected');
  }
  return {
    headers: res.headers,
    events,
    comments,
    waitFor,
    waitUntil,
    close: async () => {
      abort.abort();
      await pump;
    },
  };
}
