/**
 * Inspection (issue: live inspection): the charts and their definitions, any actor's current
 * state, context, pending durable timers and last applied events, and a live stream of
 * transitions (Server-Sent Events) from every engine process, relayed through Redis pub/sub.
 */
import { type RedisClient as Redis, subscriberFor } from '../store/client.ts';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { CHARTS } from '../../machines/index.ts';
import { describeChart, toStatelyConfig } from '../charts/catalog.ts';
import { type Principal, canAccess } from '../connections/connections.ts';
import { NotFoundError } from '../errors.ts';
import { principalOf } from '../http/app.ts';
import { parse } from '../http/validate.ts';
import type { AppModule, ModuleContext } from '../module-context.ts';
import type { ActorRef } from '../store/redis-store.ts';
import { workspaceState } from '../workspaces/workspaces.ts';

const actorParams = z.strictObject({
  actorId: z
    .string()
    .regex(
      /^(connection|workspace|capacity):[A-Za-z0-9._~-]{1,128}$/,
      'must be <kind>:<id>, kind one of connection, workspace, capacity',
    ),
});
const chartParams = z.strictObject({ id: z.string().min(1).max(64) });
const installationParams = z.strictObject({
  installationId: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/),
});

/** One transition as streamed. */
export interface TransitionMessage {
  actorId: string;
  kind: string;
  installationId: string;
  from: string | null;
  to: string;
  events: string[];
  version: number | null;
  at: string;
}

const channel = (ctx: ModuleContext) => `${ctx.store.keys.prefix}:transitions`;
const path = (value: unknown) => workspaceState(value as Parameters<typeof workspaceState>[0]);

async function resolveActor(
  ctx: ModuleContext,
  principal: Principal,
  actorId: string,
): Promise<ActorRef> {
  const [kind, id] = actorId.split(/:(.*)/s) as [string, string];
  const installationId = kind === 'capacity' ? id : await ctx.store.owner(kind, id);
  if (installationId === null || !canAccess(principal, installationId)) {
    throw new NotFoundError(`actor ${actorId} not found`, { field: 'actorId' });
  }
  return { kind, installationId, id };
}

/** Live subscribers of this process; one Redis subscription serves them all. */
class TransitionHub {
  #sub: Redis | null = null;
  readonly #clients = new Set<{
    filter: (m: TransitionMessage) => boolean;
    send: (m: TransitionMessage) => void;
  }>();

  constructor(readonly ctx: ModuleContext) {}

  async add(client: {
    filter: (m: TransitionMessage) => boolean;
    send: (m: TransitionMessage) => void;
  }) {
    this.#clients.add(client);
    if (!this.#sub) {
      this.#sub = subscriberFor(this.ctx.redis, this.ctx.logger);
      this.#sub.on('message', (_ch: string, raw: string) => {
        const m = JSON.parse(raw) as TransitionMessage;
        for (const c of this.#clients) if (c.filter(m)) c.send(m);
      });
      await this.#sub.subscribe(channel(this.ctx));
    }
    return () => this.#clients.delete(client);
  }

  close(): void {
    this.#clients.clear();
    this.#sub?.disconnect();
    this.#sub = null;
  }
}

function stream(
  hub: TransitionHub,
  req: Request,
  res: Response,
  filter: (m: TransitionMessage) => boolean,
) {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  hub.ctx.streams.track(res);
  res.write(': connected\n\n');
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  void hub
    .add({ filter, send: (m) => res.write(`event: transition\ndata: ${JSON.stringify(m)}\n\n`) })
    .then((remove) => {
      req.on('close', () => {
        clearInterval(keepAlive);
        remove();
      });
    });
}

export const inspectModule: AppModule = {
  name: 'inspect',
  init(ctx) {
    ctx.services.set('transition-hub', new TransitionHub(ctx));
    // Publish state changes (not the heartbeats that leave the state as it is) for live viewers.
    ctx.engine.onCommit(({ ref, before, after, events }) => {
      const from = before ? path(before.value) : null;
      const to = path(after.value);
      if (from === to) return;
      const message: TransitionMessage = {
        actorId: `${ref.kind}:${ref.id}`,
        kind: ref.kind,
        installationId: ref.installationId,
        from,
        to,
        events: events.map((e) => e.type),
        version: null,
        at: new Date(ctx.clock.now()).toISOString(),
      };
      ctx.redis.publish(channel(ctx), JSON.stringify(message)).catch((error: unknown) => {
        ctx.logger.warn('transition publish failed', { error: String(error) });
      });
    });
  },
  routes(app, ctx) {
    const hub = ctx.services.get('transition-hub') as TransitionHub;

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
        ctx.store.eventLog(ref, 20),
      ]);
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
        lastEvents: log.map((e) => JSON.parse(e) as unknown),
      });
    });

    app.get('/v1/actors/:actorId/transitions/stream', async (req, res) => {
      const { actorId } = parse(actorParams, req.params, 'path');
      await resolveActor(ctx, principalOf(res), actorId);
      stream(hub, req, res, (m) => m.actorId === actorId);
    });

    app.get('/v1/installations/:installationId/transitions/stream', (req, res) => {
      const { installationId } = parse(installationParams, req.params, 'path');
      if (!canAccess(principalOf(res), installationId)) {
        throw new NotFoundError(`installation ${installationId} not found`, {
          field: 'installationId',
        });
      }
      stream(hub, req, res, (m) => m.installationId === installationId);
    });
  },
  stop(ctx) {
    (ctx.services.get('transition-hub') as TransitionHub | undefined)?.close();
    return Promise.resolve();
  },
};
