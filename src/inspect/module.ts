/**
 * Inspection (issue: live inspection): the charts and their definitions, any actor's current
 * state, context, pending durable timers and last logged events (state changes), and a live stream of
 * transitions (Server-Sent Events) from every engine process, relayed through Redis pub/sub and
 * kept per installation for Last-Event-ID resume (src/http/live-events.ts).
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import { CHARTS } from '../../machines/index.ts';
import { describeChart, toStatelyConfig } from '../charts/catalog.ts';
import { type Principal, canAccess } from '../connections/connections.ts';
import { EVENT_LOG_SIZE } from '../engine/types.ts';
import { NotFoundError } from '../errors.ts';
import { type TransitionMessage, actorId, resolveActor } from './actors.ts';
export type { TransitionMessage } from './actors.ts';
import { mountBridge } from './bridge.ts';
import { INSPECT_PATH, InspectorSockets } from './ws.ts';
import { principalOf } from '../http/app.ts';
import { LiveEventHub, type LiveEventKind, checkStreamQuery } from '../http/live-events.ts';
import { parse } from '../http/validate.ts';
import { serviceKey } from '../services.ts';
import type { AppModule, ModuleContext } from '../module-context.ts';
import { toKebab } from '../wire.ts';
import { workspaceState } from '../workspaces/workspaces.ts';

export const actorParams = z.strictObject({ actorId });
export const chartParams = z.strictObject({ id: z.string().min(1).max(64) });
export const installationParams = z.strictObject({
  installationId: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/),
});

const path = (value: unknown) => workspaceState(value as Parameters<typeof workspaceState>[0]);

const groupKey = (installationId: string, actorId: string | null) =>
  actorId === null ? installationId : `${installationId} ${actorId}`;

/** Transitions as live events: kept per installation for resume, sent to the installation and actor. */
function transitionEvents(prefix: string) {
  return {
    event: 'transition',
    name: 'transitions',
    channel: `${prefix}:transitions`,
    streamKey: (installationId) => `${prefix}:{${installationId}}:live:transitions`,
    groupsOf: (m) => [groupKey(m.installationId, null), groupKey(m.installationId, m.actorId)],
  } satisfies LiveEventKind<TransitionMessage>;
}

const HUB = serviceKey<LiveEventHub<TransitionMessage>>('transition-hub');
/** The inspector's WebSocket server (tests look at its open sockets). */
export const INSPECTOR_SOCKETS = serviceKey<InspectorSockets>('inspector-sockets');
const hubOf = (ctx: ModuleContext) => ctx.services.require(HUB);

/** Publishes each state change (not heartbeats that leave the state as it is) for live viewers. */
function publishTransitions(ctx: ModuleContext): void {
  ctx.engine.onCommit(({ ref, before, after, events }) => {
    const from = before ? toKebab(path(before.value)) : null;
    const to = toKebab(path(after.value));
    if (from === to) return;
    const at = new Date(ctx.clock.now()).toISOString();
    // The listener runs right after the commit, so this is the version just committed; only
    // with SNAPSHOT_CACHE_SIZE=0 (nothing cached) is it read back (a later commit may follow).
    const cached = ctx.engine.newerThan(ref, 0)?.version;
    const version =
      cached !== undefined
        ? Promise.resolve(cached)
        : ctx.engine.read(ref).then((r) => r?.version ?? 0);
    const types = events.map((e) => e.type);
    void version
      .then((v) =>
        hubOf(ctx).append(ref.installationId, {
          actorId: `${ref.kind}:${ref.id}`,
          kind: ref.kind,
          installationId: ref.installationId,
          from,
          to,
          events: types,
          version: v,
          at,
        }),
      )
      .catch((error: unknown) => {
        ctx.logger.warn('transition publish failed', { error: String(error) });
      });
  });
}

async function stream(
  ctx: ModuleContext,
  req: Request,
  res: Response,
  principal: Principal,
  { installationId, actorId }: { installationId: string; actorId: string | null },
) {
  await hubOf(ctx).attach(
    req,
    res,
    { installationId, group: groupKey(installationId, actorId) },
    {
      streams: ctx.streams,
      owner: { token: principal.name ?? 'anonymous', installationId },
    },
  );
}

export const inspectModule: AppModule = {
  name: 'inspect',
  init(ctx) {
    const kind = transitionEvents(ctx.store.keys.prefix);
    ctx.services.provide(HUB, new LiveEventHub(ctx.redis, ctx.logger, kind, ctx.config.streams));
    publishTransitions(ctx);
    ctx.services.provide(INSPECTOR_SOCKETS, new InspectorSockets(ctx));
  },
  routes(app, ctx) {
    const sockets = ctx.services.require(INSPECTOR_SOCKETS);
    app.get(INSPECT_PATH, (req, res) => sockets.accept(req, res));
    mountBridge(app);
    app.get('/v1/machines', (_req, res) => {
      res.json({
        items: CHARTS.map((c) => {
          const d = describeChart(c.machine);
          return {
            id: c.id,
            version: c.version,
            description: c.description,
            states: d.states.length,
            transitions: d.transitions.length,
          };
        }),
      });
    });

    app.get('/v1/machines/:id', (req, res) => {
      const { id } = parse(chartParams, req.params, 'path');
      const chart = CHARTS.find((c) => c.id === id);
      if (!chart) throw new NotFoundError(`no chart ${id}`, { field: 'id' });
      res.json({
        id: chart.id,
        version: chart.version,
        description: chart.description,
        definition: toStatelyConfig(chart.machine),
        structure: describeChart(chart.machine),
      });
    });

    app.get('/v1/actors/:actorId/inspect', async (req, res) => {
      const { actorId } = parse(actorParams, req.params, 'path');
      const ref = await resolveActor(ctx, principalOf(res), actorId);
      const found = await ctx.engine.read(ref);
      if (!found) throw new NotFoundError(`actor ${actorId} not found`, { field: 'actorId' });
      const [timers, log] = await Promise.all([
        ctx.store.timersOf(ref),
        ctx.store.eventLog(ref, EVENT_LOG_SIZE),
      ]);
      const lastEvents = log.map((e) => JSON.parse(e) as Record<string, unknown>);
      // Versions after the newest entry's are commits that logged nothing (ChartBinding.eventLog).
      const newest = lastEvents.length === 0 ? 0 : lastEvents[0]!._v;
      res.json({
        actorId,
        kind: ref.kind,
        installationId: ref.installationId,
        state: path(found.state.value),
        version: found.version,
        context: found.state.context,
        pendingTimers: timers.map((t) => ({
          event: t.sendId,
          dueAt: new Date(t.due).toISOString(),
        })),
        lastEvents,
        unloggedCommits: typeof newest === 'number' ? found.version - newest : null,
      });
    });

    app.get('/v1/actors/:actorId/transitions/stream', async (req, res) => {
      const { actorId } = parse(actorParams, req.params, 'path');
      checkStreamQuery(req);
      const principal = principalOf(res);
      const ref = await resolveActor(ctx, principal, actorId);
      // An id can be claimed without an actor behind it (a registration refused in its commit):
      // not found, as `/inspect` and the inspector socket answer it.
      if (!(await ctx.engine.read(ref))) {
        throw new NotFoundError(`actor ${actorId} not found`, { field: 'actorId' });
      }
      await stream(ctx, req, res, principal, { installationId: ref.installationId, actorId });
    });

    app.get('/v1/installations/:installationId/transitions/stream', async (req, res) => {
      const { installationId } = parse(installationParams, req.params, 'path');
      checkStreamQuery(req);
      const principal = principalOf(res);
      if (!canAccess(principal, installationId)) {
        throw new NotFoundError(`installation ${installationId} not found`, {
          field: 'installationId',
        });
      }
      await stream(ctx, req, res, principal, { installationId, actorId: null });
    });
  },
  attach(server, ctx) {
    const sockets = ctx.services.require(INSPECTOR_SOCKETS);
    sockets.attach(server);
    return sockets;
  },
  async stop(ctx) {
    const hub = ctx.services.get(HUB);
    // Transitions committed before shutdown are still recorded for clients that resume.
    await hub?.idle();
    hub?.stop();
  },
};
