/**
 * The operator console: a token gate, a top bar and hash routes (`#/workspaces/ws-1`), each
 * drawn by one page module from the public /v1 API.
 */
import { ApiError, UNAUTHORIZED, get, token } from './api.ts';
import { fill, h } from './dom.ts';
import { actorPage } from './pages/actor.ts';
import { capacityPage } from './pages/capacity.ts';
import { connectionsPage } from './pages/connections.ts';
import { deadLettersPage } from './pages/dead-letters.ts';
import { overviewPage } from './pages/overview.ts';
import { sessionsPage } from './pages/sessions.ts';
import { workspacePage } from './pages/workspace.ts';
import type { Page } from './ui.ts';

const PAGES: Record<string, Page> = {
  overview: overviewPage,
  workspaces: workspacePage,
  connections: connectionsPage,
  actors: actorPage,
  capacity: capacityPage,
  sessions: sessionsPage,
  'dead-letters': deadLettersPage,
};

/** Pages that take no id in their address. */
const NO_ID = new Set(['overview', 'connections']);

const NAV: [string, string][] = [
  ['overview', 'Installations'],
  ['connections', 'Connections'],
  ['actors', 'Actors'],
  ['sessions', 'Sessions'],
];

const app = document.getElementById('app')!;
const top = document.getElementById('top')!;
let leave: (() => void)[] = [];
let generation = 0;

/** Stops the page shown (its streams, timers and pending redraws). */
function stopPage(): void {
  for (const fn of leave) fn();
  leave = [];
  generation++;
}

function login(message?: string): void {
  fill(top, h('span', { class: 'brand' }, 'LumiLink operator console'));
  const input = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    size: 44,
    placeholder: 'Bearer token',
    'aria-label': 'API token',
  });
  const status = h('div');
  if (message) status.append(h('div', { class: 'error', role: 'alert' }, message));
  fill(
    app,
    h(
      'div',
      { class: 'login card' },
      h('h1', null, 'Sign in with an API token'),
      h(
        'p',
        { class: 'muted' },
        'An operator token sees every installation; an installation token only its own. The token stays in this tab (session storage) and is sent only to this service.',
      ),
      h(
        'form',
        {
          class: 'inline',
          onsubmit: (e: Event) => {
            e.preventDefault();
            void signIn(input.value.trim(), status);
          },
        },
        input,
        h('button', { type: 'submit', class: 'primary' }, 'Open console'),
      ),
      status,
    ),
  );
  input.focus();
}

async function signIn(value: string, status: HTMLElement): Promise<void> {
  if (!value) return;
  token.set(value);
  try {
    await get('/v1/connections?limit=1');
  } catch (error) {
    token.clear();
    fill(
      status,
      h(
        'div',
        { class: 'error', role: 'alert' },
        error instanceof ApiError && error.status === 401
          ? 'This token is not valid.'
          : // The API's own message (or the browser's, when the service did not answer), not
            // the error's class name.
            `Could not check the token: ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
    return;
  }
  route();
}

function header(current: string): void {
  fill(
    top,
    h('span', { class: 'brand' }, 'LumiLink operator console'),
    h(
      'nav',
      { 'aria-label': 'Pages' },
      NAV.map(([page, label]) =>
        h(
          'a',
          {
            href: `#/${page}`,
            class: page === current ? 'active' : '',
            'aria-current': page === current ? 'page' : undefined,
          },
          label,
        ),
      ),
    ),
    h('span', { class: 'spacer' }),
    h(
      'button',
      {
        type: 'button',
        onclick: () => {
          // Stopped here: when the hash does not change (already on #/overview), no route()
          // would stop it, and its timer would read the API without a token (401).
          stopPage();
          token.clear();
          location.hash = '#/overview';
          login();
        },
      },
      'Sign out',
    ),
  );
}

function route(): void {
  stopPage();
  const mine = generation;
  if (!token.get()) return login();
  const [path = '', search = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [name = 'overview', ...params] = path.split('/').filter(Boolean);
  const page = PAGES[name];
  header(name);
  if (!page) {
    fill(
      app,
      h(
        'div',
        { class: 'error', role: 'alert' },
        `No page ${name}. `,
        h('a', { href: '#/overview' }, 'Installations'),
      ),
    );
    return;
  }
  let decoded: string[];
  try {
    decoded = params.map(decodeURIComponent);
  } catch {
    // A `%` not followed by two hex digits (a mistyped or cut link): say so, not a blank page.
    fill(
      app,
      h(
        'div',
        { class: 'error', role: 'alert', 'data-error': 'bad-address' },
        `This address is not valid: ${location.hash} (a % must start an escape such as %3A). `,
        h('a', { href: '#/overview' }, 'Installations'),
      ),
    );
    return;
  }
  if (decoded.length > (NO_ID.has(name) ? 0 : 1)) {
    // No page takes more than one id (the installations and connections pages none), and no id
    // holds a `/`: a longer address (a typo, or a path pasted after the id) would otherwise show
    // the first id's page, or the list, as if it were asked for.
    fill(
      app,
      h(
        'div',
        { class: 'error', role: 'alert', 'data-error': 'bad-address' },
        `This address is not valid: ${location.hash} (a page takes at most one id, and an id has no /). `,
        h('a', { href: '#/overview' }, 'Installations'),
      ),
    );
    return;
  }
  fill(app);
  Promise.resolve(
    page({
      root: app,
      params: decoded,
      query: new URLSearchParams(search),
      onLeave: (fn) => leave.push(fn),
      alive: () => mine === generation,
    }),
  ).catch((error: unknown) => {
    if (error instanceof ApiError && error.status === 401) {
      token.clear();
      login('The token was refused (401): it is not valid, or no longer. Sign in again.');
      return;
    }
    app.append(h('div', { class: 'error', role: 'alert' }, String(error)));
  });
}

window.addEventListener('hashchange', route);
window.addEventListener(UNAUTHORIZED, () => {
  stopPage();
  login('The token was refused (401): it is not valid, or no longer. Sign in again.');
});
route();
