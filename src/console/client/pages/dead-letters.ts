/**
 * Dead letters of one installation: timers and effects (list, retry, discard; operator only)
 * and notification deliveries (the notifications module lists them, to installation tokens
 * too; retry and discard are the console module's operator-only routes, so they are offered
 * only when the token is not known to be refused them).
 */
import { ApiError, api, errorBox, get, qs, seg } from '../api.ts';
import { type Child, fill, h, json, keepOpen, table, when } from '../dom.ts';
import { type PageContext, confirmAction, pagerControls } from '../ui.ts';
import type { Page } from './types.ts';

type Kind = 'timers' | 'effects' | 'notifications';

interface DeadTimer {
  id: string;
  actorId: string;
  event: string;
  dueAt: string | null;
  reason: string | null;
}
interface DeadEffect {
  id: string;
  deadAt: string | null;
  attempts: number;
  lastError: string | null;
  effect: unknown;
}
interface Delivery {
  deliveryId?: string;
  channel?: string;
  target?: string;
  status?: string;
  attempts?: number;
  lastError?: unknown;
  deadLetteredAt?: string | null;
}

/** A delivery's last error: its text as written (a string), anything else as JSON. */
function lastError(e: unknown): Child {
  if (e === null || e === undefined || e === '') return '–';
  return typeof e === 'string' ? e : json(e);
}

export async function deadLettersPage(ctx: PageContext): Promise<void> {
  const id = ctx.params[0];
  ctx.root.append(h('h1', null, 'Dead letters ', id ? h('code', null, id) : ''));
  if (!id) {
    ctx.root.append(h('p', null, 'Open an installation from the overview.'));
    return;
  }
  const result = h('div');
  const engine = h('div');
  const notifications = h('div');
  ctx.root.append(
    result,
    h(
      'section',
      { class: 'card', 'data-section': 'engine-dead-letters' },
      h('h2', null, 'Timers and effects'),
      engine,
    ),
    h(
      'section',
      { class: 'card', 'data-section': 'notification-dead-letters' },
      h('h2', null, 'Notifications'),
      h(
        'p',
        { class: 'muted' },
        'Deliveries that exhausted their attempts. Retry sends one again at once; discard takes it off this list (its record stays with its alert or rollback).',
      ),
      notifications,
    ),
  );

  /**
   * Whether the token is an operator's, so may retry and discard. The API has no route that
   * names a token's role, but the list of timers and effects is operator-only: its answer says
   * (null until it answers, or when it fails otherwise; then the actions are offered and the
   * API decides). A 403 to an action says so too.
   */
  let operator: boolean | null = null;

  const act = async (kind: Kind, action: 'retry' | 'discard', itemId: string) => {
    const ok = await confirmAction({
      title: `${action === 'retry' ? 'Retry' : 'Discard'} this dead ${kind.replace(/s$/, '')}?`,
      text:
        action === 'retry'
          ? 'It is put back to run at once, with its attempts reset.'
          : kind === 'notifications'
            ? 'It leaves the dead-letter list; its delivery record stays.'
            : 'It is deleted for good.',
      confirmLabel: action === 'retry' ? 'Retry' : 'Discard',
      danger: action === 'discard',
    });
    if (ok === null) return;
    try {
      await api('POST', `/v1/installations/${seg(id)}/dead-letters/${kind}/${action}`, {
        id: itemId,
      });
      fill(
        result,
        h(
          'div',
          { class: 'notice', role: 'status' },
          `${action === 'retry' ? 'Retried' : 'Discarded'} ${itemId}.`,
        ),
      );
    } catch (error) {
      fill(result, errorBox(error));
      if (error instanceof ApiError && error.status === 403) operator = false;
    }
    if (operator === false) await Promise.all([drawEngine(), drawNotifications()]);
    else await (kind === 'notifications' ? drawNotifications() : drawEngine());
    // The button the dialog gave the focus back to left with its row: the focus goes to the
    // answer instead of falling to the page's start.
    const answer = result.firstElementChild as HTMLElement | null;
    if (answer && ctx.alive()) {
      answer.tabIndex = -1;
      answer.focus();
    }
  };
  const buttons = (kind: Kind, itemId: string) =>
    operator === false
      ? ''
      : [
          h('button', { type: 'button', onclick: () => void act(kind, 'retry', itemId) }, 'Retry…'),
          ' ',
          h(
            'button',
            { type: 'button', class: 'danger', onclick: () => void act(kind, 'discard', itemId) },
            'Discard…',
          ),
        ];

  async function drawEngine(): Promise<void> {
    try {
      const d = await get<{ timers: DeadTimer[]; effects: DeadEffect[] }>(
        `/v1/installations/${seg(id!)}/dead-letters`,
      );
      // A 403 to an action, seen before, outweighs this.
      operator ??= true;
      if (!ctx.alive()) return;
      fill(
        engine,
        h('h3', null, 'Timers'),
        table(
          ['actor', 'event', 'was due', 'reason', ''],
          d.timers.map((t) => [
            h('code', null, t.actorId),
            h('code', null, t.event),
            when(t.dueAt),
            t.reason ?? '–',
            buttons('timers', t.id),
          ]),
          'no dead timers',
        ),
        h('h3', null, 'Effects'),
        table(
          ['effect', 'dead since', 'attempts', 'last error', 'data', ''],
          d.effects.map((e) => [
            h('code', null, e.id),
            when(e.deadAt),
            String(e.attempts),
            e.lastError ?? '–',
            json(e.effect),
            buttons('effects', e.id),
          ]),
          'no dead effects',
        ),
      );
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) operator = false;
      if (ctx.alive()) fill(engine, errorBox(error));
    }
  }
  // The notification list waits for this answer before it draws its actions.
  const engineDrawn = drawEngine();

  /** The notification list's cursor, and those of the pages before it (for Previous). */
  let cursor: string | null = null;
  const cursors: (string | null)[] = [];
  const PAGE_SIZE = 50;

  async function drawNotifications(): Promise<void> {
    try {
      const page = await get<Page<Delivery>>(
        `/v1/installations/${seg(id!)}/notifications/dead-letters${qs({ limit: PAGE_SIZE, cursor })}`,
      );
      await engineDrawn;
      if (!ctx.alive()) return;
      const start = cursors.length * PAGE_SIZE + 1;
      // Through keepOpen: the focus stays on Next (or Previous) for the next page turn.
      keepOpen(notifications, () =>
        fill(
          notifications,
          operator === false
            ? h(
                'p',
                { class: 'notice', 'data-operator-only': '' },
                'Retry and discard need an operator token: this token was refused the operator-only list of timers and effects (403), so they are not offered.',
              )
            : '',
          table(
            ['delivery', 'channel', 'target', 'attempts', 'last error', 'dead since', ''],
            page.items.map((n) => [
              h('code', null, n.deliveryId ?? '–'),
              n.channel ?? '–',
              n.target ?? '–',
              String(n.attempts ?? '–'),
              lastError(n.lastError),
              when(n.deadLetteredAt ?? null),
              n.deliveryId ? buttons('notifications', n.deliveryId) : '',
            ]),
            'no dead notifications',
          ),
          h(
            'div',
            { class: 'toolbar' },
            ...pagerControls({
              start,
              count: page.items.length,
              prev:
                cursors.length === 0
                  ? undefined
                  : () => {
                      cursor = cursors.pop() ?? null;
                      void drawNotifications();
                    },
              next: !page.nextCursor
                ? undefined
                : () => {
                    cursors.push(cursor);
                    cursor = page.nextCursor;
                    void drawNotifications();
                  },
            }),
          ),
        ),
      );
    } catch (error) {
      if (ctx.alive()) fill(notifications, errorBox(error));
    }
  }
  await Promise.all([engineDrawn, drawNotifications()]);
}
