/**
 * Capacity of one installation: the gauge, shedding, and the alert history, 50 alerts a page
 * with Previous/Next through the API's cursor (an installation may have any number of alerts).
 */
import { errorBox, get, qs, seg } from '../api.ts';
import { gauge } from '../charts.ts';
import { badge, dl, fill, h, keepOpen, num, pct, stateKind, table, when } from '../dom.ts';
import { type PageContext, pagerControls } from '../ui.ts';
import type { Alert, Capacity, Page } from './types.ts';

/** Alerts a page shows: the API's default page. */
const PAGE_SIZE = 50;

export async function capacityPage(ctx: PageContext): Promise<void> {
  const id = ctx.params[0];
  ctx.root.append(h('h1', null, 'Capacity ', id ? h('code', null, id) : ''));
  if (!id) {
    ctx.root.append(h('p', null, 'Open an installation from the overview.'));
    return;
  }
  const alerts = h('div');
  /** The alert list's cursor, and those of the pages before it (for Previous). */
  let cursor: string | null = null;
  const cursors: (string | null)[] = [];

  const alertPage = () =>
    get<Page<Alert>>(
      `/v1/installations/${seg(id)}/capacity/alerts${qs({ limit: PAGE_SIZE, cursor })}`,
    );
  function drawAlerts(page: Page<Alert>): void {
    // Through keepOpen: the focus stays on Next (or Previous) for the next page turn.
    keepOpen(alerts, () =>
      fill(
        alerts,
        table(
          ['alert', 'trigger', 'active', 'capacity', 'opened', 'resolved', 'notified', 'channels'],
          page.items.map((a) => [
            h('code', null, a.alertId),
            badge(a.trigger, stateKind(a.trigger)),
            num(a.activeConnections),
            pct(a.capacityPercent, 1),
            when(a.timestamp),
            a.resolvedAt ? when(a.resolvedAt) : badge('open', 'warn'),
            a.notified ? 'yes' : 'no',
            a.notificationChannels.join(', ') || '–',
          ]),
          'no alerts',
        ),
        h(
          'div',
          { class: 'toolbar' },
          ...pagerControls({
            start: cursors.length * PAGE_SIZE + 1,
            count: page.items.length,
            prev: cursors.length === 0 ? undefined : () => void turn(cursors.pop() ?? null),
            next: !page.nextCursor
              ? undefined
              : () => {
                  cursors.push(cursor);
                  void turn(page.nextCursor);
                },
          }),
        ),
      ),
    );
  }
  async function turn(to: string | null): Promise<void> {
    cursor = to;
    try {
      const page = await alertPage();
      if (ctx.alive()) drawAlerts(page);
    } catch (error) {
      if (ctx.alive()) fill(alerts, errorBox(error));
    }
  }

  try {
    const [c, first] = await Promise.all([
      get<Capacity>(`/v1/installations/${seg(id)}/capacity`),
      alertPage(),
    ]);
    if (!ctx.alive()) return;
    ctx.root.append(
      h(
        'section',
        { class: 'card' },
        gauge(c.capacityPercent, [
          { at: c.thresholds.warning, label: 'warning' },
          { at: c.thresholds.critical, label: 'critical' },
        ]),
        dl([
          ['state', badge(c.state, stateKind(c.state))],
          [
            'active ACP connections',
            `${num(c.activeConnections)} of ${num(c.capacity)} (${pct(c.capacityPercent, 1)})`,
          ],
          [
            'thresholds',
            `warning ${pct(c.thresholds.warning, 0)}, critical ${pct(c.thresholds.critical, 0)}, resolves below ${pct(c.thresholds.resolve, 0)}`,
          ],
          ['shedding new connections', c.shedding ? badge('yes', 'bad') : 'no'],
          ['refused registrations', num(c.refusedConnections)],
          ['open alert', c.openAlert ? `${c.openAlert.alertId} (${c.openAlert.trigger})` : 'none'],
        ]),
      ),
      h(
        'section',
        { class: 'card', 'data-section': 'alerts' },
        h('h2', null, 'Alert history (newest first)'),
        alerts,
      ),
    );
    drawAlerts(first);
  } catch (error) {
    if (ctx.alive()) ctx.root.append(errorBox(error));
  }
}
