/**
 * One workspace: transport and chart state, success rate against the threshold over time,
 * migration log, rollbacks with their evidence, holds and decisions, cooldown and flap state,
 * and the operator commands. Redrawn on every transition of its installation (SSE) and every
 * few seconds (the rate moves without transitions).
 */
import { ApiError, api, errorBox, follow, get, seg } from '../api.ts';
import { type Point, rateChart } from '../charts.ts';
import {
  badge,
  dl,
  fill,
  h,
  json,
  keepOpen,
  link,
  more,
  num,
  pct,
  stateKind,
  table,
  when,
} from '../dom.ts';
import { type PageContext, liveIndicator, staleOn } from '../ui.ts';
import type { Page, Workspace } from './types.ts';
import { commandButtons } from './workspace-commands.ts';
import { whatIfPanel } from './workspace-what-if.ts';

type Rec = Record<string, unknown>;
const str = (v: unknown) =>
  v === null || v === undefined ? '–' : typeof v === 'string' ? v : JSON.stringify(v);
const rate = (v: unknown) => (typeof v === 'number' ? v : null);
/** A record's time as every page shows one (`2026-11-25 12:00:00Z`). */
const at = (v: unknown) => (typeof v === 'string' ? when(v) : '–');
const POLL_MS = 5_000;

function evidence(r: Rec): HTMLElement {
  return more(`rb:${str(r.eventId)}`, 'evidence', {
    metricsSnapshot: r.metricsSnapshot,
    thresholds: r.thresholds,
    connectionIds: r.connectionIds,
    followUpActions: r.followUpActions,
    notification: r.notification,
  });
}

/** Points of the rate chart: audit snapshots (history) plus the rates this page observed. */
function history(migrations: Rec[], rollbacks: Rec[], seen: Point[]): Point[] {
  const points: Point[] = [...seen];
  for (const m of migrations) {
    const v = rate((m.metricsSnapshot as Rec | null)?.successRate);
    if (v !== null && typeof m.recordedAt === 'string')
      points.push({ t: Date.parse(m.recordedAt), v });
  }
  for (const r of rollbacks) {
    const v = rate((r.metricsSnapshot as Rec | null)?.successRate);
    if (v !== null && typeof r.initiatedAt === 'string')
      points.push({ t: Date.parse(r.initiatedAt), v });
  }
  return points.sort((a, b) => a.t - b.t);
}

export async function workspacePage(ctx: PageContext): Promise<void> {
  const id = ctx.params[0];
  if (!id) {
    ctx.root.append(
      h('h1', null, 'Workspace'),
      h('p', null, 'Open a workspace from ', link('#/overview', 'Installations'), '.'),
    );
    return;
  }
  const live = liveIndicator();
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const result = h('div', { 'data-command-result': '' });
  const feed = h('ul', { 'data-live-feed': '' });
  ctx.root.append(h('h1', null, 'Workspace ', h('code', null, id), ' ', live.el), result, body);
  const seen: Point[] = [];
  let ws: Workspace | null = null;
  // Outside `body`: built once, with the settings of the first read, so redraws leave the form
  // (and the focus in it) and its answer alone.
  let whatIf: HTMLElement | null = null;

  async function command(
    label: string,
    method: string,
    path: string,
    payload: unknown,
  ): Promise<void> {
    try {
      await api(method, path, payload);
      fill(
        result,
        h('div', { class: 'notice', role: 'status', 'data-command-ok': label }, `${label}: done.`),
      );
    } catch (error) {
      fill(result, errorBox(error));
    }
    await draw();
  }

  async function draw(): Promise<void> {
    let migrations: Page<Rec>, rollbacks: Page<Rec>, decisions: Page<Rec>;
    try {
      ws = await get<Workspace>(`/v1/workspaces/${seg(id!)}`);
      [migrations, rollbacks, decisions] = (await Promise.all(
        ['migrations', 'rollbacks', 'decisions'].map((s) =>
          get<Page<Rec>>(`/v1/workspaces/${seg(id!)}/${s}?limit=50`),
        ),
      )) as [Page<Rec>, Page<Rec>, Page<Rec>];
    } catch (error) {
      if (ctx.alive()) fill(body, errorBox(error));
      if (error instanceof ApiError && error.status === 401) throw error;
      staleOn(live, error);
      // Not found or forbidden, or an id no workspace can have (400), before the page followed
      // anything: there is nothing to follow (its installation is unknown), so the page does
      // not say it is about to, and does not ask again.
      if (!following && error instanceof ApiError && [400, 403, 404].includes(error.status)) {
        refused = true;
        live.el.remove();
      }
      return;
    }
    if (!ctx.alive()) return;
    live.stale(null);
    const w = ws;
    followInstallation(w.installationId);
    const hl = w.health;
    if (hl.successRate !== null) seen.push({ t: Date.now(), v: hl.successRate });
    if (seen.length > 200) seen.shift();
    const points = history(migrations.items, rollbacks.items, seen);
    const t = w.settings.thresholds;
    if (!whatIf) ctx.root.append((whatIf = whatIfPanel(w.workspaceId, t)));
    keepOpen(body, () =>
      fill(
        body,
        h(
          'div',
          { class: 'grid' },
          h(
            'section',
            { class: 'card' },
            h('h2', null, 'Transport'),
            dl([
              [
                'installation',
                link(`#/connections?installationId=${seg(w.installationId)}`, w.installationId),
              ],
              ['transport', badge(w.transport.toUpperCase(), w.transport)],
              [
                'chart state',
                h('span', { 'data-ws-state': w.state }, badge(w.state, stateKind(w.state))),
              ],
              ['since', when(w.transportSince)],
              ['migration in progress', w.migration ? json(w.migration) : 'none'],
              ['scheduled migration', w.scheduledMigration ? json(w.scheduledMigration) : 'none'],
              ['rollout mode', w.settings.rolloutMode],
              [
                'actor',
                link(`#/actors/workspace:${seg(w.workspaceId)}`, `workspace:${w.workspaceId}`),
              ],
            ]),
          ),
          h(
            'section',
            { class: 'card' },
            h('h2', null, 'Health'),
            dl([
              [
                'success rate',
                h(
                  'span',
                  { 'data-success-rate': '' },
                  pct(hl.successRate),
                  ' against ',
                  pct(hl.minSuccessRate),
                ),
              ],
              ['samples', `${num(hl.sampleSize)} operations (minimum ${num(hl.minSamples)})`],
              ['window', `${hl.windowMinutes} min`],
              [
                'verdict',
                badge(hl.verdict, stateKind(hl.verdict === 'healthy' ? 'ok' : hl.verdict)),
              ],
              ['latency p95', hl.latencyP95 === null ? '–' : `${hl.latencyP95} ms`],
            ]),
            rateChart(points, hl.minSuccessRate),
          ),
          h(
            'section',
            { class: 'card' },
            h('h2', null, 'Cooldown and flapping'),
            dl([
              [
                'cooldown until',
                w.cooldownUntil
                  ? h('span', { 'data-cooldown': w.cooldownUntil }, when(w.cooldownUntil))
                  : 'not in cooldown',
              ],
              ['cooldown length', `${t.cooldownMinutes} min`],
              [
                'automatic rollbacks in flap window',
                `${w.autoRollbacksInFlapWindow} of ${t.flapLimit} in ${t.flapWindowHours} h`,
              ],
              [
                'auto-migration',
                w.autoMigrationBlocked
                  ? badge('blocked (flap limit)', 'bad')
                  : badge('allowed', 'ok'),
              ],
              [
                'last rollback',
                w.lastRollback
                  ? `${str(w.lastRollback.trigger)} at ${at(w.lastRollback.at)}`
                  : 'none',
              ],
            ]),
            h('h2', null, 'Connections'),
            dl([
              ['on ACP', num(w.connections.onAcp)],
              ['pending', num(w.connections.pending)],
              ['on HTTP', num(w.connections.onHttp)],
              [
                'by status',
                Object.entries(w.connections.byStatus).map(([k, v]) => [
                  badge(`${k} ${v}`, stateKind(k)),
                  ' ',
                ]),
              ],
            ]),
            link(
              `#/connections?workspaceId=${seg(w.workspaceId)}&installationId=${seg(w.installationId)}`,
              'connection table',
            ),
          ),
        ),
        h(
          'section',
          { class: 'card' },
          h('h2', null, 'Operator commands'),
          commandButtons(w.workspaceId, w, command),
        ),
        h(
          'section',
          { class: 'card', 'data-section': 'rollbacks' },
          h('h2', null, 'Rollback events'),
          table(
            ['at', 'trigger', 'reason', 'requested by', 'connections', 'rate then', ''],
            rollbacks.items.map((r) => [
              at(r.initiatedAt),
              badge(str(r.trigger), 'bad'),
              str(r.reason),
              str(r.requestedBy),
              Array.isArray(r.connectionIds) ? r.connectionIds.length : '–',
              pct(rate((r.metricsSnapshot as Rec | null)?.successRate)),
              evidence(r),
            ]),
            'no rollbacks',
          ),
        ),
        h(
          'section',
          { class: 'card', 'data-section': 'migrations' },
          h('h2', null, 'Migration log'),
          table(
            ['recorded', 'migration', 'from → to', 'status', 'initiated by', 'reason', ''],
            migrations.items.map((m) => [
              at(m.recordedAt),
              h('code', null, str(m.migrationId)),
              `${str(m.fromProtocol)} → ${str(m.toProtocol)}`,
              badge(str(m.status), stateKind(str(m.status))),
              `${str(m.initiatedBy)}${m.requestedBy ? ` (${str(m.requestedBy)})` : ''}`,
              str(m.rollbackReason ?? m.failureReason),
              more(`mig:${str(m.migrationId)}:${str(m.status)}`, 'record', m),
            ]),
            'no migrations',
          ),
        ),
        h(
          'section',
          { class: 'card', 'data-section': 'decisions' },
          h('h2', null, 'Holds and decisions'),
          table(
            ['at', 'decision', ''],
            decisions.items.map((d) => [
              at(d.at),
              badge(str(d.decision), stateKind(str(d.decision))),
              more(`dec:${str(d.decisionId)}`, 'record', d),
            ]),
            'no holds or decisions',
          ),
        ),
        h(
          'section',
          { class: 'card' },
          h('h2', null, 'Live transitions of this installation'),
          feed,
        ),
      ),
    );
  }

  let pending: ReturnType<typeof setTimeout> | null = null;
  const redraw = () => {
    pending ??= setTimeout(() => {
      pending = null;
      void draw();
    }, 100);
  };
  let following = false;
  let refused = false;
  /** Follows the installation's transitions once the workspace (so its installation) is known. */
  function followInstallation(installationId: string): void {
    if (following || !ctx.alive()) return;
    following = true;
    const close = follow(
      `/v1/installations/${seg(installationId)}/transitions/stream`,
      (t) => {
        feed.prepend(
          h(
            'li',
            null,
            `${when(t.at)} ${t.actorId}: ${t.from ?? '∅'} → ${t.to} (${t.events.join(', ')})`,
          ),
        );
        while (feed.children.length > 30) feed.lastElementChild?.remove();
        redraw();
      },
      live.set,
    );
    ctx.onLeave(close);
  }
  await draw();
  // As on the actor page: a workspace this token may not see is not read again.
  if (refused) return;
  const timer = setInterval(() => void draw(), POLL_MS);
  ctx.onLeave(() => {
    clearInterval(timer);
    if (pending) clearTimeout(pending);
  });
}
