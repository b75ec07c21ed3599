/**
 * Installations overview: connections by status and protocol (counted from the connection
 * list), the capacity gauge with the open alert, and rollbacks in the last 24 h (from each
 * workspace's RollbackEvents).
 */
import { STORAGE_PREFIX, errorBox, get, qs, seg } from '../api.ts';
import { gauge } from '../charts.ts';
import { badge, dl, fill, h, keepOpen, link, num, pct, stateKind, table, when } from '../dom.ts';
import type { PageContext } from '../ui.ts';
import { type Capacity, type ConnectionRecord, type Page, protocolOf } from './types.ts';

/** At most this many connections are read to count them (20 pages of 500). */
const MAX_PAGES = 20;
/** Rollbacks are counted for at most this many workspaces per installation. */
const MAX_WORKSPACES = 50;
/** Installations added by id, for this token (forgotten with it). */
const EXTRA = `${STORAGE_PREFIX}installations`;
/** What the API accepts as an installation id (`src/wire.ts`). */
const INSTALLATION_ID = /^[A-Za-z0-9._~-]{1,128}$/;

interface Summary {
  id: string;
  byStatus: Record<string, number>;
  byProtocol: Record<string, number>;
  workspaces: Set<string>;
  total: number;
}

async function discover(): Promise<{ installations: Map<string, Summary>; truncated: boolean }> {
  const installations = new Map<string, Summary>();
  const extra = (sessionStorage.getItem(EXTRA) ?? '').split(',').filter(Boolean);
  for (const id of extra)
    installations.set(id, { id, byStatus: {}, byProtocol: {}, workspaces: new Set(), total: 0 });
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res: Page<ConnectionRecord> = await get(`/v1/connections${qs({ limit: 500, cursor })}`);
    for (const c of res.items) {
      let sum = installations.get(c.installationId);
      if (!sum)
        installations.set(
          c.installationId,
          (sum = {
            id: c.installationId,
            byStatus: {},
            byProtocol: {},
            workspaces: new Set(),
            total: 0,
          }),
        );
      sum.total++;
      sum.byStatus[c.status] = (sum.byStatus[c.status] ?? 0) + 1;
      const p = protocolOf(c.status);
      sum.byProtocol[p] = (sum.byProtocol[p] ?? 0) + 1;
      sum.workspaces.add(c.workspaceId);
    }
    cursor = res.nextCursor;
    if (!cursor) return { installations, truncated: false };
  }
  return { installations, truncated: true };
}

async function rollbacks24h(
  workspaces: string[],
): Promise<{ count: number; items: { ws: string; at: string; trigger: string }[] }> {
  const from = new Date(Date.now() - 24 * 3_600_000).toISOString();
  const pages = await Promise.all(
    workspaces.slice(0, MAX_WORKSPACES).map(async (ws) => {
      const page: Page<{ initiatedAt?: string; trigger?: string }> = await get(
        `/v1/workspaces/${seg(ws)}/rollbacks${qs({ from, limit: 500 })}`,
      );
      return page.items.map((r) => ({ ws, at: r.initiatedAt ?? '', trigger: r.trigger ?? '' }));
    }),
  );
  const items = pages.flat().sort((a, b) => b.at.localeCompare(a.at));
  return { count: items.length, items };
}

async function card(sum: Summary): Promise<HTMLElement> {
  const el = h('section', { class: 'card', 'data-installation': sum.id });
  let capacity: Capacity;
  try {
    capacity = await get<Capacity>(`/v1/installations/${seg(sum.id)}/capacity`);
  } catch (error) {
    el.append(h('h2', null, sum.id), errorBox(error));
    return el;
  }
  const ws = [...sum.workspaces].sort();
  const rb = await rollbacks24h(ws).catch(() => null);
  const alert = capacity.openAlert;
  el.append(
    h('h2', null, `Installation ${sum.id}`),
    h(
      'div',
      { class: 'grid' },
      h(
        'div',
        null,
        h('h3', null, 'Connections by status'),
        table(
          ['status', 'count'],
          Object.entries(sum.byStatus)
            .sort()
            .map(([k, v]) => [badge(k, stateKind(k)), num(v)]),
          'no connections',
        ),
        h('h3', null, 'By protocol'),
        dl([
          ['on ACP', num(sum.byProtocol.acp ?? 0)],
          ['pending (connecting, error, reconnecting)', num(sum.byProtocol.pending ?? 0)],
          ['on HTTP (rolled back)', num(sum.byProtocol.http ?? 0)],
          ['total', num(sum.total)],
        ]),
      ),
      h(
        'div',
        null,
        h('h3', null, 'Capacity'),
        gauge(capacity.capacityPercent, [
          { at: capacity.thresholds.warning, label: 'warning' },
          { at: capacity.thresholds.critical, label: 'critical' },
        ]),
        dl([
          ['state', badge(capacity.state, stateKind(capacity.state))],
          [
            'active ACP connections',
            `${num(capacity.activeConnections)} of ${num(capacity.capacity)}`,
          ],
          ['shedding', capacity.shedding ? badge('yes', 'bad') : 'no'],
          ['refused', num(capacity.refusedConnections)],
          [
            'open alert',
            alert
              ? h(
                  'span',
                  { 'data-open-alert': alert.alertId },
                  badge(alert.trigger, 'bad'),
                  // The open alert carries today's usage: its level is the peak's.
                  ` peak ${pct(alert.peakPercent ?? alert.capacityPercent, 1)} since ${when(alert.timestamp)}`,
                )
              : 'none',
          ],
        ]),
        h(
          'p',
          null,
          link(`#/capacity/${seg(sum.id)}`, 'alert history'),
          ' · ',
          link(`#/dead-letters/${seg(sum.id)}`, 'dead letters'),
          ' · ',
          link(`#/connections${qs({ installationId: sum.id })}`, 'connections'),
        ),
      ),
      h(
        'div',
        null,
        h('h3', null, 'Rollbacks in the last 24 h'),
        rb === null
          ? h('p', { class: 'muted' }, 'could not be read')
          : [
              h(
                'p',
                { 'data-rollbacks-24h': rb.count },
                h('strong', null, num(rb.count)),
                ws.length > MAX_WORKSPACES ? ` (first ${MAX_WORKSPACES} workspaces)` : '',
              ),
              table(
                ['when', 'workspace', 'trigger'],
                rb.items
                  .slice(0, 10)
                  .map((r) => [when(r.at), link(`#/workspaces/${seg(r.ws)}`, r.ws), r.trigger]),
                'none',
              ),
            ],
        h('h3', null, 'Workspaces'),
        h(
          'p',
          null,
          ws.length === 0
            ? h('span', { class: 'muted' }, 'none')
            : ws.slice(0, 100).map((w, i) => [i ? ', ' : '', link(`#/workspaces/${seg(w)}`, w)]),
        ),
      ),
    ),
  );
  return el;
}

/** Above this many connections the page is redrawn only with Refresh. */
const AUTO_REFRESH_MAX = 2_000;

export async function overviewPage(ctx: PageContext): Promise<void> {
  let counted = 0;
  const list = h('div', null, h('p', { class: 'muted' }, 'Counting connections…'));
  const addError = h('div', { 'data-add-error': '' });
  const add = h('input', {
    name: 'installationId',
    placeholder: 'installation id',
    'aria-label': 'installation id',
    size: 20,
  });
  ctx.root.append(
    h('h1', null, 'Installations'),
    h(
      'form',
      {
        class: 'inline',
        onsubmit: (e: Event) => {
          e.preventDefault();
          const id = add.value.trim();
          addError.replaceChildren();
          if (!id) return;
          // The API's id rule: an id no installation can have is refused here, with the
          // field's name, and is not kept (it would show a 400 on every redraw until the tab
          // closed, and a comma would split it in two).
          if (!INSTALLATION_ID.test(id)) {
            addError.append(
              h(
                'div',
                { class: 'error', role: 'alert', 'data-error': 'bad-installation-id' },
                `installation id: may contain only letters, digits and . _ ~ - (1 to 128 characters); not added.`,
              ),
            );
            add.focus();
            return;
          }
          const known = new Set((sessionStorage.getItem(EXTRA) ?? '').split(',').filter(Boolean));
          known.add(id);
          sessionStorage.setItem(EXTRA, [...known].join(','));
          void draw();
        },
      },
      h(
        'span',
        { class: 'muted' },
        'Installations are found from their connections; show another by id:',
      ),
      add,
      h('button', { type: 'submit' }, 'Show'),
      h('button', { type: 'button', onclick: () => void draw() }, 'Refresh'),
    ),
    addError,
    list,
  );
  async function draw(): Promise<void> {
    try {
      const { installations, truncated } = await discover();
      counted = [...installations.values()].reduce((n, i) => n + i.total, 0);
      const cards = await Promise.all(
        [...installations.values()].sort((a, b) => a.id.localeCompare(b.id)).map(card),
      );
      if (!ctx.alive()) return;
      keepOpen(list, () =>
        fill(
          list,
          truncated
            ? h(
                'div',
                { class: 'notice' },
                `Counted the first ${MAX_PAGES * 500} connections only.`,
              )
            : '',
          cards.length
            ? cards
            : h(
                'p',
                { class: 'muted' },
                'No installation with connections is visible to this token.',
              ),
        ),
      );
    } catch (error) {
      if (ctx.alive()) list.replaceChildren(errorBox(error));
    }
  }
  await draw();
  // Counting reads every connection: redrawn by itself only while that stays cheap.
  const timer = setInterval(() => {
    if (!document.hidden && counted <= AUTO_REFRESH_MAX) void draw();
  }, 30_000);
  ctx.onLeave(() => clearInterval(timer));
}
