/**
 * The connection table: filters (installation, workspace, status), pages through any number
 * with the API's cursor, sorts the loaded page by success rate or latency.
 */
import { errorBox, get, qs, seg } from '../api.ts';
import { badge, fill, h, keepOpen, link, num, pct, stateKind, table, when } from '../dom.ts';
import { type PageContext, pagerControls } from '../ui.ts';
import type { ConnectionRecord, Page } from './types.ts';

const STATUSES = ['connecting', 'connected', 'degraded', 'error', 'reconnecting', 'rolled-back'];
const SORTS: Record<string, [string, (a: ConnectionRecord, b: ConnectionRecord) => number]> = {
  '': ['as listed (installation, id)', () => 0],
  'rate-asc': ['success rate, lowest first', (a, b) => (a.successRate ?? 2) - (b.successRate ?? 2)],
  'rate-desc': [
    'success rate, highest first',
    (a, b) => (b.successRate ?? -1) - (a.successRate ?? -1),
  ],
  'latency-desc': [
    'latency p95, highest first',
    (a, b) => (b.latencyP95 ?? -1) - (a.latencyP95 ?? -1),
  ],
  'latency-asc': [
    'latency p95, lowest first',
    (a, b) => (a.latencyP95 ?? Infinity) - (b.latencyP95 ?? Infinity),
  ],
};

export async function connectionsPage(ctx: PageContext): Promise<void> {
  const q = ctx.query;
  const installationId = h('input', {
    name: 'installationId',
    placeholder: 'installation',
    'aria-label': 'installation id',
    size: 14,
    value: q.get('installationId') ?? '',
  });
  const workspaceId = h('input', {
    name: 'workspaceId',
    placeholder: 'workspace',
    'aria-label': 'workspace id',
    size: 14,
    value: q.get('workspaceId') ?? '',
  });
  const status = h(
    'select',
    { name: 'status', 'aria-label': 'status' },
    h('option', { value: '' }, 'any status'),
    STATUSES.map((s) => h('option', { value: s }, s)),
  );
  status.value = q.get('status') ?? '';
  const sort = h(
    'select',
    { name: 'sort', 'aria-label': 'sort' },
    Object.entries(SORTS).map(([k, [label]]) => h('option', { value: k }, label)),
  );
  sort.value = q.get('sort') ?? '';
  // The page size asked for in the address, when the API takes it (a whole number from 1 to
  // 500), else the default: the one number the select shows, the API is asked for and the
  // rows are numbered by.
  const asked = Number(q.get('limit') ?? '');
  const pageSize = Number.isInteger(asked) && asked >= 1 && asked <= 500 ? asked : 50;
  const sizes = [...new Set([10, 50, 100, 500, pageSize])].sort((a, b) => a - b);
  const limit = h(
    'select',
    { name: 'limit', 'aria-label': 'rows per page' },
    sizes.map((n) => h('option', { value: String(n) }, `${n} per page`)),
  );
  limit.value = String(pageSize);
  const out = h('div');
  const pager = h('div', { class: 'toolbar' });
  /** Cursors of the pages before the current one, for "previous". */
  const cursors: (string | null)[] = [];
  let cursor: string | null = null;
  let items: ConnectionRecord[] = [];

  const apply = () => {
    location.hash = `#/connections${qs({ installationId: installationId.value.trim(), workspaceId: workspaceId.value.trim(), status: status.value, sort: sort.value, limit: limit.value })}`;
  };
  ctx.root.append(
    h('h1', null, 'Connections'),
    h(
      'form',
      {
        class: 'inline',
        onsubmit: (e: Event) => {
          e.preventDefault();
          apply();
        },
      },
      installationId,
      workspaceId,
      status,
      limit,
      h('button', { type: 'submit', class: 'primary' }, 'Filter'),
      'Sort:',
      sort,
    ),
    pager,
    out,
  );
  sort.addEventListener('change', () => render());

  function render(): void {
    const rows = [...items].sort(SORTS[sort.value]?.[1] ?? (() => 0));
    fill(
      out,
      table(
        [
          'connection',
          'installation',
          'workspace',
          'status',
          'success rate',
          'samples',
          'latency p95',
          'ops/min',
          'last heartbeat',
        ],
        rows.map((c) => [
          link(`#/actors/connection:${seg(c.connectionId)}`, c.connectionId),
          c.installationId,
          link(`#/workspaces/${seg(c.workspaceId)}`, c.workspaceId),
          badge(c.status, stateKind(c.status)),
          c.successRate === null
            ? h('span', { class: 'muted' }, 'insufficient data')
            : pct(c.successRate),
          num(c.sampleSize),
          c.latencyP95 === null ? '–' : `${c.latencyP95} ms`,
          num(c.throughputPerMin),
          when(c.lastHeartbeat),
        ]),
        'no connection matches',
      ),
    );
    if (sort.value)
      out.prepend(h('p', { class: 'muted' }, `Sorted within this page of ${items.length}.`));
  }

  async function load(): Promise<void> {
    try {
      const page = await get<Page<ConnectionRecord>>(
        `/v1/connections${qs({ installationId: q.get('installationId'), workspaceId: q.get('workspaceId'), status: q.get('status'), limit: pageSize, cursor })}`,
      );
      if (!ctx.alive()) return;
      items = page.items;
      render();
      const start = cursors.length * pageSize + 1;
      // Through keepOpen: the focus stays on Next (or Previous) for the next page turn.
      keepOpen(pager, () =>
        fill(
          pager,
          ...pagerControls({
            start,
            count: items.length,
            prev:
              cursors.length === 0
                ? undefined
                : () => {
                    cursor = cursors.pop() ?? null;
                    void load();
                  },
            next: !page.nextCursor
              ? undefined
              : () => {
                  cursors.push(cursor);
                  cursor = page.nextCursor;
                  void load();
                },
          }),
        ),
      );
    } catch (error) {
      if (ctx.alive()) fill(out, errorBox(error));
    }
  }
  await load();
}
