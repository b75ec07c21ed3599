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
import { type EventStream, StreamGroup, openEventStream } from '../http/sse.ts';
import { parse } from '../http/validate.ts';
import type { AppModule, ModuleContext } from '../module-context.ts';
import type { ActorRef } from '../store/redis-store.ts';
import { workspaceState } from '../workspaces/workspaces.ts';

export const actorParams = z.strictObject({
  actorId: z
    .string()
    .regex(
      /^(connection|workspace|capacity):[A-Za-z0-9._~-]{1,128}$/,
      'must be <kind>:<id>, kind one of connection, workspace, capacity',
    ),
});
export const chartParams = z.strictObject({ id: z.string().min(1).max(64) });
export const installationParams = z.strictObject({
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

/** What a live viewer watches: one installation's transitions, or one actor's (`actorId`). */
interface Watch {
  installationId: string;
  actorId: string | null;
}

const groupKey = (installationId: string, actorId: string | null) =>
  actorId === null ? installationId : `${installationId} ${actorId}`;

/** Live viewers of this process; one Redis subscription serves them all. */
class TransitionHub {
  #sub: Redis | null = null;
  #subscribed: Promise<unknown> | null = null;
  /** Viewers by what they watch: a transition is queued once per group, not once per viewer. */
  readonly #groups = new Map<string, StreamGroup>();

  constructor(readonly ctx: ModuleContext) {}

  /** Resolves once the stream receives every transition published from then on. */
  async add(watch: Watch, stream: EventStream): Promise<void> {
    const key = groupKey(watch.installationId, watch.actorId);
    let group = this.#groups.get(key);
    if (!group) this.#groups.set(key, (group = new StreamGroup()));
    group.add(stream);
    const joined = group;
    stream.onClose(() => {
      if (joined.size === 0 && this.#groups.get(key) === joined) this.#groups.delete(key);
    });
    if (!this.#subscribed) {
      this.#sub = subscriberFor(this.ctx.redis, this.ctx.logger);
      this.#sub.on('message', (_ch: string, raw: string) => this.#dispatch(raw));
      this.#subscribed = this.#sub.subscribe(channel(this.ctx)).catch((error: unknown) => {
        // The next stream tries again.
        this.close();
        throw error;
      });
    }
    await this.#subscribed;
  }

  #dispatch(raw: string): void {
    let m: TransitionMessage;
    try {
      m = JSON.parse(raw) as TransitionMessage;
    } catch {
      this.ctx.logger.warn('ignored a malformed transition message');
      return;
    }
    // The published text is already the JSON to send: encoded once, for every viewer.
    const frame = Buffer.from(`event: transition\ndata: ${raw}\n\n`);
    this.#groups.get(groupKey(m.installationId, null))?.send(frame);
    this.#groups.get(groupKey(m.installationId, m.actorId))?.send(frame);
  }

  close(): void {
    this.#groups.clear();
    this.#sub?.disconnect();
    this.#sub = null;
    this.#subscribed = null;
  }
}

async function stream(
  hub: TransitionHub,
  req: Request,
  res: Response,
  principal: Principal,
  watch: Watch,
) {
  const { ctx } = hub;
  const events = openEventStream(req, res, {
    limits: ctx.config.streams,
    logger: ctx.logger,
    name: 'transitions',
    streams: ctx.streams,
    owner: { token: principal.name ?? 'anonymous', installationId: watch.installationId },
  });
  try {
    await hub.add(watch, events);
  } catch (error) {
    // The headers are sent: end the stream, and the client reconnects after `retry`.
    ctx.logger.warn('a transition stream could not subscribe', { error: String(error) });
    events.end();
    return;
  }
  events.send(': connected\n\n');
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
      const principal = principalOf(res);
      const { installationId } = await resolveActor(ctx, principal, actorId);
      await stream(hub, req, res, principal, { installationId, actorId });
    });

    app.get('/v1/installations/:installationId/transitions/stream', async (req, res) => {
      const { installationId } = parse(installationParams, req.params, 'path');
      const principal = principalOf(res);
      if (!canAccess(principal, installationId)) {
        throw new NotFoundError(`installation ${installationId} not found`, {
          field: 'installationId',
        });
      }
      await stream(hub, req, res, principal, { installationId, actorId: null });
    });
  },
  stop(ctx) {
    (ctx.services.get('transition-hub') as TransitionHub | undefined)?.close();
    return Promise.resolve();
  },
};
