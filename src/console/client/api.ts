/**
 * The console's only way to the service: the public /v1 API with the token from session
 * storage (`Authorization: Bearer`), and the live streams with `?access_token=`.
 */
import { h } from './dom.ts';

/** Every key the console keeps in session storage starts with this. */
export const STORAGE_PREFIX = 'lumilink.console.';
const KEY = `${STORAGE_PREFIX}token`;

/** Dispatched on `window` when the API refuses the token (401). */
export const UNAUTHORIZED = 'console:unauthorized';

export const token = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (t: string) => sessionStorage.setItem(KEY, t),
  /**
   * Forgets the token and everything kept with it (such as the installations added by id on
   * the overview): the next token signed in on this tab must not see what the last one typed.
   */
  clear: () => {
    for (const key of Object.keys(sessionStorage))
      if (key.startsWith(STORAGE_PREFIX)) sessionStorage.removeItem(key);
  },
};

/** An error answer of the API, in the house shape `{ error: { code, message } }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token.get() ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? (JSON.parse(text) as unknown) : null;
  } catch {
    data = null;
  }
  if (res.status === 401) {
    // Revoked or mistyped: forget it, and let the shell bring back the sign-in form.
    token.clear();
    window.dispatchEvent(new Event(UNAUTHORIZED));
  }
  if (!res.ok) {
    const e = (data as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, e?.code ?? 'http-error', e?.message ?? `HTTP ${res.status}`);
  }
  return data as T;
}

export const get = <T = unknown>(path: string) => api<T>('GET', path);

/** A path segment, encoded. */
export const seg = encodeURIComponent;

/** Query string from the defined values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/**
 * What an error means to an operator: tenancy refusals say so plainly. A 404 may be another
 * tenant's (the API answers both alike); a 403 is about something this token sees but may not
 * do (an operator-only command or list), and says only that, with the API's reason.
 */
export function errorBox(error: unknown): HTMLElement {
  if (error instanceof ApiError) {
    if (error.status === 404) {
      return h(
        'div',
        { class: 'error', role: 'alert', 'data-error': 'not-found-or-forbidden' },
        h('strong', null, 'Not found or forbidden. '),
        `${error.message}. This token may not see it, or it does not exist.`,
      );
    }
    if (error.status === 403) {
      return h(
        'div',
        { class: 'error', role: 'alert', 'data-error': 'forbidden' },
        h('strong', null, 'Forbidden (403): '),
        `${error.message}.`,
      );
    }
    if (error.status === 401) {
      return h(
        'div',
        { class: 'error', role: 'alert' },
        h('strong', null, 'Token refused. '),
        error.message,
      );
    }
    return h(
      'div',
      { class: 'error', role: 'alert' },
      h('strong', null, `${error.status} ${error.code}: `),
      error.message,
    );
  }
  return h('div', { class: 'error', role: 'alert' }, String(error));
}

export interface Transition {
  actorId: string;
  kind: string;
  installationId: string;
  from: string | null;
  to: string;
  events: string[];
  at: string;
}

/** How long after the browser gave a stream up the page opens a new one. */
export const FOLLOW_RETRY_MS = 5_000;

/**
 * Follows a transition stream; `onState` reports whether it is open. EventSource reconnects by
 * itself after a dropped connection (after the server's `retry`), but gives up for good when a
 * reconnection is answered with anything but 200, such as a 503 while Redis is out: then this
 * opens a new one after FOLLOW_RETRY_MS, with `?lastEventId=` of the last event it had, so the
 * events in between are replayed.
 */
export function follow(
  path: string,
  onTransition: (t: Transition) => void,
  onState: (open: boolean) => void,
): () => void {
  let es: EventSource | null = null;
  let lastEventId = '';
  let retry: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  const open = () => {
    const query = new URLSearchParams({ access_token: token.get() ?? '' });
    if (lastEventId) query.set('lastEventId', lastEventId);
    const source = (es = new EventSource(`${path}?${query.toString()}`));
    source.addEventListener('open', () => onState(true));
    source.addEventListener('error', () => {
      onState(false);
      if (stopped || source.readyState !== EventSource.CLOSED) return;
      retry ??= setTimeout(() => {
        retry = null;
        if (!stopped) open();
      }, FOLLOW_RETRY_MS);
    });
    source.addEventListener('transition', (e) => {
      const m = e as MessageEvent<string>;
      if (m.lastEventId) lastEventId = m.lastEventId;
      onTransition(JSON.parse(m.data) as Transition);
    });
  };
  open();
  return () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    es?.close();
  };
}
