/**
 * One actor: its chart drawn from the definition with the current state highlighted, pending
 * durable timers with countdowns, the last logged events, and live transitions (SSE).
 */
import { ApiError, errorBox, follow, get, seg } from '../api.ts';
import { type ChartTransition, statechart } from '../charts.ts';
import { countdown, dl, fill, h, keepOpen, link, more, table, when } from '../dom.ts';
import { type PageContext, liveIndicator, staleOn } from '../ui.ts';

/** How often a read that failed for an outage is tried again. */
const REREAD_MS = 5_000;

interface Inspection {
  actorId: string;
  kind: string;
  installationId: string;
  state: string;
  version: number;
  context: unknown;
  pendingTimers: { event: string; dueAt: string }[];
  lastEvents: unknown[];
  /** Commits since the newest logged event whose events were not logged (null: unknown). */
  unloggedCommits: number | null;
}

interface Machine {
  id: string;
  version: string;
  definition: Record<string, unknown>;
  structure: { transitions: (ChartTransition & { guard: string | null })[] };
}

export async function actorPage(ctx: PageContext): Promise<void> {
  const id = ctx.params[0];
  const input = h('input', {
    name: 'actorId',
    'aria-label': 'actor (kind:id)',
    placeholder: 'connection:c1, workspace:ws-1, capacity:inst-a',
    size: 40,
    value: id ?? '',
  });
  ctx.root.append(
    h('h1', null, 'Actor'),
    h(
      'form',
      {
        class: 'inline',
        onsubmit: (e: Event) => {
          e.preventDefault();
          location.hash = `#/actors/${seg(input.value.trim())}`;
        },
      },
      input,
      h('button', { type: 'submit', class: 'primary' }, 'Inspect'),
    ),
  );
  if (!id) return;
  const live = liveIndicator();
  const body = h('div');
  const feed = h('ul', { 'data-live-feed': '' });
  ctx.root.append(h('p', null, live.el), body);
  const machines = new Map<string, Machine>();
  const countdowns: { el: HTMLElement; due: string }[] = [];

  async function draw(): Promise<boolean> {
    try {
      const a = await get<Inspection>(`/v1/actors/${seg(id!)}/inspect`);
      let m = machines.get(a.kind);
      if (!m) machines.set(a.kind, (m = await get<Machine>(`/v1/machines/${seg(a.kind)}`)));
      if (!ctx.alive()) return false;
      live.stale(null);
      countdowns.length = 0;
      const timers = a.pendingTimers.map((t) => {
        const el = h('span', { 'data-countdown': t.dueAt }, countdown(t.dueAt));
        countdowns.push({ el, due: t.dueAt });
        return [h('code', null, t.event), when(t.dueAt), el];
      });
      keepOpen(body, () =>
        fill(
          body,
          h(
            'section',
            { class: 'card' },
            dl([
              ['actor', h('code', null, a.actorId)],
              ['installation', a.installationId],
              ['current state', h('strong', { 'data-actor-state': a.state }, a.state)],
              ['version', String(a.version)],
              ['chart', `${m.id} ${m.version}`],
              a.kind === 'workspace'
                ? [
                    'workspace page',
                    link(`#/workspaces/${seg(a.actorId.slice(a.kind.length + 1))}`, 'open'),
                  ]
                : ['', ''],
            ]),
          ),
          h(
            'section',
            { class: 'card' },
            h('h2', null, 'Statechart'),
            statechart(m.id, m.definition, m.structure.transitions, a.state),
            h('h3', null, 'Transitions out of the current state'),
            table(
              ['from', 'event', 'guard', 'to'],
              m.structure.transitions
                .filter(
                  (t) =>
                    t.source === '(root)' ||
                    a.state === t.source ||
                    a.state.startsWith(`${t.source}.`),
                )
                .map((t) => [
                  t.source,
                  h('code', null, t.event),
                  t.guard ?? '–',
                  t.targets.join(', ') || '(stays)',
                ]),
              'none',
            ),
          ),
          h(
            'div',
            { class: 'grid' },
            h(
              'section',
              { class: 'card' },
              h('h2', null, 'Pending durable timers'),
              table(['event', 'due', 'countdown'], timers, 'no pending timers'),
            ),
            h('section', { class: 'card' }, h('h2', null, 'Live transitions'), feed),
          ),
          h(
            'section',
            { class: 'card' },
            h('h2', null, 'Last state changes (newest first)'),
            h(
              'p',
              { class: 'muted' },
              'Events that changed the state value; those that changed the context only ' +
                '(heartbeats, connection reports) are not logged' +
                (a.unloggedCommits ? `: ${a.unloggedCommits} commit(s) since the newest.` : '.'),
            ),
            table(
              ['#', 'event', 'at', ''],
              a.lastEvents.map((e, i) => {
                const ev = e as { type?: string; at?: number };
                return [
                  String(i + 1),
                  h('code', null, ev.type ?? '?'),
                  typeof ev.at === 'number' ? when(new Date(ev.at).toISOString()) : '–',
                  more(`ev:${ev.type ?? ''}:${ev.at ?? ''}`, 'event', e),
                ];
              }),
              'none',
            ),
          ),
          h('section', { class: 'card' }, more('context', 'context', a.context)),
        ),
      );
      failing = false;
      return true;
    } catch (error) {
      if (ctx.alive()) fill(body, errorBox(error));
      staleOn(live, error);
      failing = !(error instanceof ApiError && error.status < 500);
      return false;
    }
  }
  /** The last read failed for an outage (5xx) or a service out of reach, not a refusal (4xx). */
  let failing = false;
  // An actor this token may not see (or that does not exist) has no stream either: nothing to
  // follow. One that could not be read for an outage is followed, and read again until it is.
  if (!(await draw()) && !failing) {
    live.el.remove();
    return;
  }
  const tick = setInterval(() => {
    for (const c of countdowns) c.el.textContent = countdown(c.due);
  }, 1000);
  // Transitions redraw the page; an outage has none, so a failed read is retried on its own.
  const reread = setInterval(() => {
    if (failing) void draw();
  }, REREAD_MS);
  const close = follow(
    `/v1/actors/${seg(id)}/transitions/stream`,
    (t) => {
      feed.prepend(
        h('li', null, `${when(t.at)}: ${t.from ?? '∅'} → ${t.to} (${t.events.join(', ')})`),
      );
      void draw();
    },
    live.set,
  );
  ctx.onLeave(() => {
    clearInterval(tick);
    clearInterval(reread);
    close();
  });
}
