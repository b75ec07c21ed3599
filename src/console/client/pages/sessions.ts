/** Per session: the GitHub automation summaries and the transcript, newest first, paged. */
import { errorBox, get, qs, seg } from '../api.ts';
import { badge, fill, h, json, keepOpen, stateKind, table, when } from '../dom.ts';
import type { PageContext } from '../ui.ts';
import type { Page } from './types.ts';

type Rec = Record<string, unknown>;
const str = (v: unknown) =>
  v === null || v === undefined ? '–' : typeof v === 'string' ? v : JSON.stringify(v);

/** A paged list: a table and a "more" button that follows nextCursor. */
function paged(
  path: string,
  headers: string[],
  row: (r: Rec) => (Node | string)[],
  empty: string,
): HTMLElement {
  const box = h('div');
  const rows: Rec[] = [];
  const more = async (cursor: string | null) => {
    try {
      const page = await get<Page<Rec>>(
        `${path}${qs({ order: 'newest-first', limit: 50, cursor })}`,
      );
      rows.push(...page.items);
      // Through keepOpen: the focus stays on More while there is more.
      keepOpen(box, () =>
        fill(
          box,
          table(headers, rows.map(row), empty),
          page.nextCursor
            ? h('button', { type: 'button', onclick: () => void more(page.nextCursor) }, 'More')
            : '',
        ),
      );
    } catch (error) {
      fill(box, errorBox(error));
    }
  };
  void more(null);
  return box;
}

export function sessionsPage(ctx: PageContext): void {
  const id = ctx.params[0];
  const input = h('input', {
    name: 'sessionId',
    'aria-label': 'session id',
    placeholder: 'session id',
    size: 24,
    value: id ?? '',
  });
  ctx.root.append(
    h('h1', null, 'Session ', id ? h('code', null, id) : ''),
    h(
      'form',
      {
        class: 'inline',
        onsubmit: (e: Event) => {
          e.preventDefault();
          location.hash = `#/sessions/${seg(input.value.trim())}`;
        },
      },
      input,
      h('button', { type: 'submit', class: 'primary' }, 'Open'),
    ),
  );
  if (!id) return;
  ctx.root.append(
    h(
      'section',
      { class: 'card', 'data-section': 'automation' },
      h('h2', null, 'GitHub automation runs'),
      paged(
        `/v1/sessions/${seg(id)}/automation`,
        ['recorded', 'run', 'status', 'skip reason', 'issue / PR / commit', 'toast', ''],
        (r) => [
          when(str(r.createdAt ?? r.recordedAt)),
          h('code', null, str(r.runId ?? r.summaryId)),
          badge(
            str(r.status),
            r.status === 'success' ? 'ok' : stateKind(r.status === 'error' ? 'error' : 'warning'),
          ),
          str(r.skipReason),
          [
            r.issue ? `#${str((r.issue as Rec).number)} ` : '',
            r.pullRequest ? `PR ${str((r.pullRequest as Rec).number)} ` : '',
            r.commit ? str((r.commit as Rec).sha).slice(0, 10) : '',
          ].join(''),
          str(r.toastMessage),
          h('details', null, h('summary', null, 'record'), json(r)),
        ],
        'no automation runs',
      ),
    ),
    h(
      'section',
      { class: 'card', 'data-section': 'transcript' },
      h('h2', null, 'Transcript'),
      paged(
        `/v1/sessions/${seg(id)}/transcript`,
        ['at', 'type', 'workspace', 'message'],
        (r) => [
          when(str(r.createdAt)),
          badge(str(r.eventType), r.eventType === 'rollback' ? 'bad' : ''),
          str(r.workspaceId),
          str(r.message),
        ],
        'no transcript entries',
      ),
    ),
  );
}
