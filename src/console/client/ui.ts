/**
 * Shared page plumbing: the page contract, the confirmation dialog, the live indicator, the
 * cursor pager.
 */
import { ApiError } from './api.ts';
import { h, num } from './dom.ts';

export interface PageContext {
  root: HTMLElement;
  /** Path segments after the page name, decoded. */
  params: string[];
  query: URLSearchParams;
  /** Runs when the page is left (close streams, stop timers). */
  onLeave(fn: () => void): void;
  /** Whether the page is still shown (an answer arriving later must not draw over another). */
  alive(): boolean;
}

export type Page = (ctx: PageContext) => void | Promise<void>;

export interface ConfirmOptions {
  title: string;
  text: string;
  confirmLabel: string;
  danger?: boolean;
  /** Ask for a reason (required). */
  reason?: boolean;
}

/** Asks the operator to confirm; resolves with the reason (or '') or null when cancelled. */
export function confirmAction(o: ConfirmOptions): Promise<string | null> {
  const dialog = document.getElementById('confirm') as HTMLDialogElement;
  return new Promise((resolve) => {
    const reason = o.reason
      ? h('input', {
          name: 'reason',
          'aria-label': 'reason',
          required: true,
          maxlength: 500,
          size: 40,
          placeholder: 'reason (required)',
        })
      : null;
    const done = (value: string | null) => {
      dialog.close();
      resolve(value);
    };
    const form = h(
      'form',
      {
        method: 'dialog',
        onsubmit: (e: Event) => {
          e.preventDefault();
          if (reason && !reason.value.trim()) return reason.focus();
          done(reason ? reason.value.trim() : '');
        },
      },
      h('h2', { id: 'confirm-title' }, o.title),
      h('p', null, o.text),
      reason ? h('p', null, reason) : null,
      h(
        'div',
        { class: 'toolbar' },
        h(
          'button',
          { type: 'submit', class: o.danger ? 'danger' : 'primary', 'data-confirm': 'yes' },
          o.confirmLabel,
        ),
        h('button', { type: 'button', onclick: () => done(null) }, 'Cancel'),
      ),
    );
    dialog.replaceChildren(form);
    dialog.setAttribute('aria-labelledby', 'confirm-title');
    dialog.onclose = () => resolve(null);
    dialog.showModal();
    (reason ?? form.querySelector('button'))?.focus();
  });
}

/**
 * "live" / "reconnecting" label of a stream. `stale(why)` says the page's own reads fail (the
 * API answers 5xx or cannot be reached): the stream may still be open then, but what the page
 * shows is no longer current, so it does not say "live". `stale(null)` once a read succeeds.
 */
export function liveIndicator(): {
  el: HTMLElement;
  set: (open: boolean) => void;
  stale: (why: string | null) => void;
} {
  const el = h(
    'span',
    { class: 'live off', 'data-live': 'connecting' },
    'not following the live stream yet',
  );
  let open: boolean | null = null;
  let staleWhy: string | null = null;
  const show = () => {
    if (staleWhy !== null) {
      el.className = 'live off';
      el.dataset.live = 'stale';
      el.textContent = `not current: ${staleWhy}; retrying…`;
    } else if (open !== null) {
      el.className = `live ${open ? 'on' : 'off'}`;
      el.dataset.live = open ? 'open' : 'closed';
      el.textContent = open ? 'live' : 'live stream interrupted, reconnecting…';
    }
  };
  return {
    el,
    set: (o) => {
      open = o;
      show();
    },
    stale: (why) => {
      if (why === staleWhy) return;
      staleWhy = why;
      if (why === null && open === null) {
        el.className = 'live off';
        el.dataset.live = 'connecting';
        el.textContent = 'not following the live stream yet';
      } else show();
    },
  };
}

/**
 * Marks `live` stale when a read failed for an outage (5xx) or a service out of reach: what the
 * page shows is not current any more. A 4xx says nothing about the service: left alone.
 */
export function staleOn(live: ReturnType<typeof liveIndicator>, error: unknown): void {
  if (!(error instanceof ApiError)) live.stale('the service cannot be reached');
  else if (error.status >= 500) live.stale(`the API answered ${error.status} ${error.code}`);
}

/**
 * A cursor list's toolbar: Previous, the rows shown (`start`–`start + count - 1`), Next. The page
 * keeps its own cursors; `prev`/`next` are undefined when there is no such page.
 */
export function pagerControls(o: {
  start: number;
  count: number;
  prev: (() => void) | undefined;
  next: (() => void) | undefined;
}): HTMLElement[] {
  const button = (page: 'prev' | 'next', label: string, go: (() => void) | undefined) =>
    h('button', { type: 'button', disabled: !go, 'data-page': page, onclick: () => go?.() }, label);
  return [
    button('prev', '← Previous', o.prev),
    h(
      'span',
      { 'data-page-info': '' },
      o.count ? `${num(o.start)}–${num(o.start + o.count - 1)}` : 'no rows',
    ),
    button('next', 'Next →', o.next),
  ];
}
