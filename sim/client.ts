/**
 * The simulator's HTTP client: the public v1 API and nothing else, so the simulator doubles as a
 * reference client. Every answer is tallied by status code and error code for the report.
 */

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
}

export interface ApiErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/** What a connection answer (register, handshake, dropped, recovered, GET) carries. */
export interface ConnectionAnswer {
  connectionId: string;
  status: string;
  lastError?: { code: string } | null;
}

/** The short answer to a heartbeat. */
export interface HeartbeatAnswer extends ConnectionAnswer {
  successRate: number | null;
  sampleSize: number;
  rollback?: { eventId: string };
  duplicate?: true;
}

export interface HeartbeatBody {
  timestamp: string;
  succeeded: number;
  failed: number;
  latencyMs: number[];
  heartbeatId: string;
}

export interface WorkspaceAnswer {
  workspaceId: string;
  transport: 'acp' | 'http';
  state: string;
  connections: { total: number; byStatus: Record<string, number> };
  health: { verdict: string; successRate?: number | null; sampleSize?: number };
  autoMigrationBlocked: boolean;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

export interface RollbackRecord {
  eventId: string;
  workspaceId: string;
  trigger: string;
  reasonCode: string;
  initiatedAt?: string;
  metricsSnapshot?: { successRate?: number | null; sampleSize?: number };
  connectionIds?: string[];
}

export interface MigrationRecord {
  migrationId: string;
  status: string;
  fromProtocol?: string;
  toProtocol?: string;
  initiatedBy?: string;
}

export interface DecisionRecord {
  type?: string;
  kind?: string;
  decision?: string;
}

export interface Delivery {
  channel: string;
  status: string;
}

export interface CapacityAnswer {
  state: string;
  activeConnections: number;
  capacity: number;
  capacityPercent: number;
  shedding: boolean;
  refusedConnections: number;
}

export interface AlertRecord {
  alertId: string;
  trigger: string;
  activeConnections: number;
  capacityPercent: number;
  timestamp: string;
  resolvedAt: string | null;
  notified: boolean;
  notificationChannels: string[];
  deliveries?: Delivery[];
}

/** Tallies of every answer the simulator received. */
export interface Tally {
  requests: number;
  byStatus: Record<string, number>;
  /** `error.code` of every non-2xx answer (`capacity-shed`, `invalid-transition`, …). */
  errorCodes: Record<string, number>;
  networkErrors: number;
}

/** How long one request may take. */
const TIMEOUT_MS = 30_000;

/**
 * The 503s the service answers while Redis cannot be used (down, frozen, failing over; README
 * "Outages"): nothing or a retry-safe part was applied, so the request is sent again after
 * `Retry-After`, with the same ids. `capacity-shed` is a decision, not an outage: never retried.
 */
const RETRIED_503 = new Set(['store-unavailable', 'contention', 'replication-timeout']);

/** How long the service may answer only such 503s before the run gives up (default). */
export const RETRY_WINDOW_MS = 30_000;

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

/**
 * @example
 * const api = new ApiClient('http://127.0.0.1:3000', 'dev-operator-token-change-me');
 * const { status, body } = await api.call<ConnectionAnswer>('GET', '/v1/connections/c1');
 */
export class ApiClient {
  readonly tally: Tally = { requests: 0, byStatus: {}, errorCodes: {}, networkErrors: 0 };
  /** Since when every answer was a retried 503 (null: the last answer was not one). */
  private unavailableSince: number | null = null;

  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly retryWindowMs = RETRY_WINDOW_MS,
  ) {}

  /**
   * One request; a 503 `store-unavailable`, `contention` or `replication-timeout` is sent again
   * after its `Retry-After` (with the same ids, which makes that safe; the handshake route
   * takes none, and one applied before its 503 is refused when sent again) until the service
   * has answered only such 503s for `retryWindowMs`: then it throws, naming the answer, so a
   * service whose Redis is gone ends the run rather than leaving a fleet that silently stopped.
   */
  async call<T>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
    for (;;) {
      const { retryAfterMs, ...answer } = await this.once<T>(method, path, body);
      const code = answer.status === 503 ? errorCode(answer) : null;
      if (code === null || !RETRIED_503.has(code)) {
        this.unavailableSince = null;
        return answer;
      }
      const now = Date.now();
      this.unavailableSince ??= now;
      if (now - this.unavailableSince >= this.retryWindowMs) {
        const message = (answer.body as Partial<ApiErrorBody> | null)?.error?.message;
        throw new Error(
          `the service at ${this.baseUrl} answered only 503 ${code} for ${Math.round((now - this.unavailableSince) / 1000)} s (last: ${method} ${path}${message ? `: ${message}` : ''}); is its Redis up?`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, retryAfterMs));
    }
  }

  private async once<T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<ApiAnswer<T> & { retryAfterMs: number }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    this.tally.requests++;
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      this.tally.networkErrors++;
      const why =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer from ${this.baseUrl} within ${TIMEOUT_MS / 1000} s (${method} ${path})`
          : `cannot reach ${this.baseUrl}: ${fetchFailure(error)}`;
      throw new Error(why, { cause: error });
    }
    const parsed = await answerBody(res, this.baseUrl);
    bump(this.tally.byStatus, String(res.status));
    if (res.status >= 400)
      bump(this.tally.errorCodes, errorCode({ status: res.status, body: parsed }));
    const retryAfter = Number(res.headers.get('retry-after'));
    return {
      status: res.status,
      body: parsed as T,
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 1000,
    };
  }

  /** Every item of a paged list (`?limit=&cursor=`). */
  async all<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null | undefined;
    const sep = path.includes('?') ? '&' : '?';
    do {
      const suffix = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res = await this.call<Page<T>>('GET', `${path}${sep}limit=500${suffix}`);
      if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}`);
      items.push(...res.body.items);
      cursor = res.body.items.length > 0 ? res.body.nextCursor : null;
    } while (cursor);
    return items;
  }
}

/**
 * What is wrong with the `--url` of a CLI, or null: an `http://` or `https://` URL with a host
 * and no user name or password. Credentials are refused rather than sent (`fetch` refuses them
 * anyway) and the URL is not repeated in the message, since it would carry the password; the
 * token goes in `--token`.
 *
 * @example
 * urlProblem('http://127.0.0.1:3000'); // null
 * urlProblem('http://u:secret@127.0.0.1:3000'); // '--url must not carry a user name or password: …'
 */
export function urlProblem(url: string): string | null {
  const parsed = URL.parse(url);
  if (parsed?.username || parsed?.password)
    return '--url must not carry a user name or password: give the token with --token';
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.hostname === '')
    return '--url must be an http:// or https:// URL, e.g. http://127.0.0.1:3000';
  return null;
}

/**
 * `fetch` of `base` + `path` that gives up after `timeoutMs` (a service that accepts the
 * connection and never answers, such as a stopped process, would otherwise hold a CLI for
 * minutes), and fails in one line naming `base`: `no answer from <base> within <n> s`, or
 * `cannot reach <base>: <cause>`.
 *
 * @example
 * await fetchWithin('http://127.0.0.1:3999', '/healthz', {}, 1000);
 * // Error: cannot reach http://127.0.0.1:3999: ECONNREFUSED 127.0.0.1:3999
 */
export async function fetchWithin(
  base: string,
  path: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<Response> {
  try {
    return await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new Error(
      error instanceof Error && error.name === 'TimeoutError'
        ? `no answer from ${base} within ${timeoutMs / 1000} s`
        : `cannot reach ${base}: ${fetchFailure(error)}`,
      { cause: error },
    );
  }
}

/**
 * The JSON body of an answer of the service at `base` (null when empty). A body that is not JSON
 * means `--url` names something else (a web server, a proxy's error page): said in one line,
 * rather than as the JSON parser's complaint about a `<`.
 *
 * @example
 * await answerBody(await fetch('http://127.0.0.1:3000/healthz'), 'http://127.0.0.1:3000'); // { status: 'ok' }
 */
export async function answerBody(res: Response, base: string): Promise<unknown> {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const type = res.headers.get('content-type') ?? 'no content type';
    throw new Error(
      `${base} answered ${res.status} (${type}) with a body that is not JSON: is it the service?`,
    );
  }
}

/** The `error.code` of an error answer, or `http-<status>` when it has none. */
export function errorCode(answer: ApiAnswer): string {
  const code = (answer.body as Partial<ApiErrorBody> | null)?.error?.code;
  return typeof code === 'string' ? code : `http-${answer.status}`;
}

/**
 * Why a `fetch` threw, in one line. undici says only `fetch failed` and keeps the reason in
 * `error.cause` (a system error with `code`, `address` and `port`; an AggregateError when every
 * address of a name refused), so that is what is said: `ECONNREFUSED 127.0.0.1:3999`,
 * `getaddrinfo ENOTFOUND no-such-host.invalid`.
 *
 * @example
 * await fetch('http://127.0.0.1:3999/').catch(fetchFailure); // 'ECONNREFUSED 127.0.0.1:3999'
 */
export function fetchFailure(error: unknown): string {
  return describeCause(error instanceof Error ? (error.cause ?? error) : error);
}

function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const c = cause as Error & {
    code?: unknown;
    address?: unknown;
    port?: unknown;
    reason?: unknown;
  };
  if (cause instanceof AggregateError && cause.errors.length > 0)
    return [...new Set(cause.errors.map(describeCause))].join(', ');
  // OpenSSL's message is a line of its internals; its `reason` is the part that says something.
  if (typeof c.code === 'string' && c.code.startsWith('ERR_SSL_'))
    return `TLS failed: ${typeof c.reason === 'string' ? c.reason : c.code}${c.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ? ' (it does not speak TLS: an http:// URL?)' : ''}`;
  if (typeof c.code === 'string' && typeof c.address === 'string')
    return `${c.code} ${c.address}${typeof c.port === 'number' ? `:${c.port}` : ''}`;
  if (c.message) return c.message;
  return typeof c.code === 'string' ? c.code : cause.name;
}
