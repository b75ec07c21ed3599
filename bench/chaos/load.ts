/**
 * The chaos clients: a round-robin balancer over the service processes, virtual clients that
 * send heartbeats and retry them with the same heartbeatId, and a ledger of every attempt.
 *
 * The ledger is what the verdict rests on. Per connection it counts the heartbeat ids answered
 * 2xx (acknowledged) and the ids sent at least once but never acknowledged (these may or may not
 * have been applied). The stored sampleSize must then lie in [acked, acked + unacked].
 */
import { randomUUID } from 'node:crypto';
import { sleep } from '../processes.ts';

/** Sends each request to the next process in turn, like a round-robin load balancer. */
export class Balancer {
  #next = 0;
  constructor(readonly urls: readonly string[]) {}
  next(): string {
    return this.urls[this.#next++ % this.urls.length]!;
  }
}

/** An HTTP status, or how the request failed without one. */
export type Outcome = number | 'timeout' | 'network';

export interface Attempt {
  /** Epoch ms when the request was sent. */
  startedAt: number;
  /** Until the answer, the timeout or the network error. */
  ms: number;
  url: string;
  outcome: Outcome;
  /** `error.code` of a non-2xx JSON answer. */
  code?: string;
  retryAfter?: string;
}

const is2xx = (o: Outcome) => typeof o === 'number' && o >= 200 && o < 300;
const is4xx = (o: Outcome) => typeof o === 'number' && o >= 400 && o < 500;

const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

export class Ledger {
  /** Per connection: distinct heartbeat ids answered 2xx. */
  readonly acked = new Map<string, number>();
  /** Per connection: ids sent at least once and never answered 2xx (maybe applied). */
  readonly unacked = new Map<string, number>();
  /** Every heartbeat request sent, retries included. */
  readonly attempts: Attempt[] = [];
  /** 4xx answers to heartbeats for connected connections. */
  wronglyRefused = 0;
  /** 2xx answers that said `duplicate: true` (a retry of an already applied id). */
  duplicates = 0;
  /** The first unexpected answer of each kind (status and error code), to show what went wrong. */
  readonly #samples = new Map<string, string>();

  sample(kind: string, text: string): void {
    if (this.#samples.size < 8 && !this.#samples.has(kind))
      this.#samples.set(kind, text.slice(0, 300));
  }

  get samples(): string[] {
    return [...this.#samples.values()];
  }

  /** Answers by status code (or timeout / network), over all heartbeat attempts. */
  answers(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.attempts) out[String(a.outcome)] = (out[String(a.outcome)] ?? 0) + 1;
    return out;
  }
}

export interface ClientOptions {
  token: string;
  /** Per-request timeout; a timeout counts as "maybe applied" and is retried. */
  requestTimeoutMs: number;
  /** Tries per heartbeat, the first included. */
  maxTries: number;
  /** A heartbeat is given up (left unacknowledged) this long after its first try. */
  retryForMs: number;
  /** Once aborted, failed attempts are no longer retried. */
  signal?: AbortSignal | undefined;
}

interface Answer {
  outcome: Outcome;
  ms: number;
  body: any;
  retryAfter?: string;
}

/** One HTTP request that never throws: a status and JSON body, or a timeout / network outcome. */
export async function send(
  url: string,
  token: string,
  method: string,
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json: any = text;
    try {
      json = JSON.parse(text);
    } catch {
      // Not JSON: keep the text for the samples.
    }
    return {
      outcome: res.status,
      ms: performance.now() - started,
      body: json,
      retryAfter: res.headers.get('retry-after') ?? undefined,
    };
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    return {
      outcome: timedOut ? 'timeout' : 'network',
      ms: performance.now() - started,
      body:
        error instanceof Error && error.cause instanceof Error
          ? error.cause.message
          : String(error),
    };
  }
}

/** Retry-After when the service sent one (capped), else exponential backoff with jitter. */
function retryDelay(answer: Answer, tries: number): number {
  const seconds = Number(answer.retryAfter);
  const base = Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 100 * 2 ** (tries - 1);
  return Math.min(base, 2000) + Math.random() * 100;
}

/** Heartbeats through the balancer, every attempt recorded in the ledger. */
export class HeartbeatClient {
  constructor(
    readonly balancer: Balancer,
    readonly ledger: Ledger,
    readonly options: ClientOptions,
  ) {}

  /** One attempt of heartbeat `heartbeatId` on the next process. */
  async attempt(connectionId: string, heartbeatId: string, timestamp: string): Promise<Answer> {
    const url = this.balancer.next();
    const startedAt = Date.now();
    const answer = await send(
      url,
      this.options.token,
      'POST',
      `/v1/connections/${connectionId}/heartbeats`,
      { timestamp, succeeded: 1, failed: 0, latencyMs: [], heartbeatId },
      this.options.requestTimeoutMs,
    );
    const code = typeof answer.body === 'object' ? answer.body?.error?.code : undefined;
    this.ledger.attempts.push({
      startedAt,
      ms: answer.ms,
      url,
      outcome: answer.outcome,
      ...(typeof code === 'string' ? { code } : {}),
      ...(answer.retryAfter === undefined ? {} : { retryAfter: answer.retryAfter }),
    });
    if (is2xx(answer.outcome)) {
      if (answer.body?.duplicate === true) this.ledger.duplicates++;
    } else {
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      this.ledger.sample(`${answer.outcome} ${code}`, `${answer.outcome} ${text}`);
    }
    return answer;
  }

  /**
   * Sends one new heartbeat and retries it with the same id after a 5xx, a timeout or a
   * network error, within the try and time bounds. Resolves true once it is acknowledged.
   */
  async heartbeat(connectionId: string, singleTry = false): Promise<boolean> {
    const heartbeatId = randomUUID();
    const timestamp = new Date().toISOString();
    const giveUpAt = Date.now() + this.options.retryForMs;
    for (let tries = 1; ; tries++) {
      const answer = await this.attempt(connectionId, heartbeatId, timestamp);
      if (is2xx(answer.outcome)) {
        bump(this.ledger.acked, connectionId);
        return true;
      }
      if (is4xx(answer.outcome)) this.ledger.wronglyRefused++;
      const retryable = !is4xx(answer.outcome);
      const wait = retryDelay(answer, tries);
      if (
        singleTry ||
        !retryable ||
        this.options.signal?.aborted ||
        tries >= this.options.maxTries ||
        Date.now() + wait > giveUpAt
      ) {
        bump(this.ledger.unacked, connectionId);
        return false;
      }
      await sleep(wait);
    }
  }
}

/** Virtual clients, each sending heartbeats one after another to the next connection in turn. */
export class HeartbeatLoad {
  #stopping = false;
  #loops: Promise<void>[] = [];
  #next = 0;

  constructor(
    readonly client: HeartbeatClient,
    readonly connectionIds: readonly string[],
    readonly options: { clients: number; thinkMs: number },
  ) {}

  start(): void {
    this.#loops = Array.from({ length: this.options.clients }, async () => {
      while (!this.#stopping) {
        const id = this.connectionIds[this.#next++ % this.connectionIds.length]!;
        await this.client.heartbeat(id);
        if (this.options.thinkMs > 0) await sleep(this.options.thinkMs * (0.5 + Math.random()));
      }
    });
  }

  /** No new heartbeats; resolves once every heartbeat in flight is acknowledged or given up. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#loops);
  }
}

/** Polls GET /readyz on every process while the load runs, to find its slowest answer. */
export class ReadyzMonitor {
  readonly samples: { startedAt: number; ms: number; outcome: Outcome }[] = [];
  #stopping = false;
  #loop: Promise<void> = Promise.resolve();

  constructor(
    readonly urls: readonly string[],
    readonly everyMs = 250,
  ) {}

  start(): void {
    this.#loop = (async () => {
      while (!this.#stopping) {
        await Promise.all(
          this.urls.map(async (url) => {
            const startedAt = Date.now();
            const a = await send(url, '', 'GET', '/readyz', undefined, 5000);
            this.samples.push({ startedAt, ms: a.ms, outcome: a.outcome });
          }),
        );
        await sleep(this.everyMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#loop;
  }
}

/**
 * Polls until /readyz answers 200 on every process and then a heartbeat (recorded in the
 * ledger like any other) is acknowledged. Resolves with that moment, or undefined after
 * `timeoutMs`.
 */
export async function waitHealthy(
  client: HeartbeatClient,
  connectionId: string,
  timeoutMs: number,
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !client.options.signal?.aborted) {
    const ready = await Promise.all(
      client.balancer.urls.map(
        async (url) => (await send(url, '', 'GET', '/readyz', undefined, 1500)).outcome === 200,
      ),
    );
    if (ready.every(Boolean) && (await client.heartbeat(connectionId, true))) return Date.now();
    await sleep(100);
  }
  return undefined;
}

/** Calls until a non-5xx answer, retrying 5xx, timeouts and network errors (bounded). */
async function callRetrying(
  client: HeartbeatClient,
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  let last: Answer | undefined;
  for (let tries = 1; tries <= 20; tries++) {
    client.options.signal?.throwIfAborted();
    const url = client.balancer.next();
    last = await send(url, client.options.token, method, path, body, 5000);
    if (is2xx(last.outcome)) return last.body;
    if (is4xx(last.outcome)) break;
    await sleep(retryDelay(last, tries));
  }
  throw new Error(`${method} ${path} answered ${last?.outcome}: ${JSON.stringify(last?.body)}`);
}

/**
 * Registers and handshakes every connection, each request on the next process in turn, so a
 * connection is registered on one process and handshaken on another.
 */
export async function registerAll(client: HeartbeatClient, ids: readonly string[]) {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      const connectionId = ids[i]!;
      await callRetrying(client, 'POST', '/v1/connections', {
        connectionId,
        installationId: 'chaos-inst',
        workspaceId: `chaos-ws-${i % 5}`,
      });
      await callRetrying(client, 'POST', `/v1/connections/${connectionId}/handshake`, {
        protocolVersion: '1.2.0',
        negotiatedCapabilities: [],
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** sampleSize of every connection, read through the service. */
export async function readSampleSizes(
  client: HeartbeatClient,
  ids: readonly string[],
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const id of ids) {
    const record = await callRetrying(client, 'GET', `/v1/connections/${id}`);
    out.set(id, Number(record.sampleSize));
  }
  return out;
}
