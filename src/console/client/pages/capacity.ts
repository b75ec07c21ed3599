/** Capacity of one installation: the gauge, shedding, and the alert history. */
import { errorBox, get, seg } from '../api.ts';
import { gauge } from '../charts.ts';
import { badge, dl, h, num, pct, stateKind, table, when } from '../dom.ts';
import type { PageContext } from '../ui.ts';
import type { Alert, Capacity } from './types.ts';

export async function capacityPage(ctx: PageContext): Promise<void> {
  const id = ctx.params[0];
  ctx.root.append(h('h1', null, 'Capacity ', id ? h('code', null, id) : ''));
  if (!id) {
    ctx.root.append(h('p', null, 'Open an installation from the overview.'));
    return;
  }
  try {
    const [c, alerts] = await Promise.all([
      get<Capacity>(`/v1/installations/${seg(id)}/capacity`),
      get<{ items: Alert[] }>(`/v1/installations/${seg(id)}/capacity/alerts`),
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
        table(
          ['alert', 'trigger', 'active', 'capacity', 'opened', 'resolved', 'notified', 'channels'],
          alerts.items.map((a) => [
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
      ),
    );
  } catch (error) {
    if (ctx.alive()) ctx.root.append(errorBox(error));
  }
}
