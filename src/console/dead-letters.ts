/**
 * Dead letters of the engine for operators: timers that could not be applied (moved aside by
 * the timer poller) and effects that exhausted their attempts (dead-lettered by the `effects`
 * retry queue, JobQueue). These routes list them, put one back to run again, or discard it.
 * Notification dead letters (the `notify` retry queue) are listed by the notifications module
 * (`/notifications/dead-letters`); retrying or discarding one is here too: retry makes the
 * delivery due now with its attempts reset, discard takes it off the dead-letter list and keeps
 * its record (still `dead-lettered`, among its source's deliveries).
 *
 * Every route needs an operator token: a dead letter may belong to any actor of the
 * installation, and retrying one changes what the engine does.
 */
import type express from 'express';
import { z } from 'zod';
import { isOperator } from '../connections/connections.ts';
import { ForbiddenError, NotFoundError } from '../errors.ts';
import { principalOf } from '../http/app.ts';
import { parse } from '../http/validate.ts';
import type { ModuleContext } from '../module-context.ts';
import { NotifyKeys } from '../notifications/keys.ts';
import { deliveryQueue } from '../notifications/deliveries.ts';
import { JobQueue } from '../store/job-queue.ts';
import { EFFECT_QUEUE, parseTimerMember } from '../store/keys.ts';
import { identifier } from '../wire.ts';

export const installationParams = z.strictObject({ installationId: identifier });
export const actionParams = z.strictObject({
  installationId: identifier,
  kind: z.enum(['timers', 'effects', 'notifications']),
  action: z.enum(['retry', 'discard']),
});
export const actionBody = z.strictObject({ id: z.string().min(1).max(600) });

/** A timer the poller could not apply. */
export interface DeadTimer {
  /** Pass back as `id` to retry or discard. */
  id: string;
  kind: string;
  actorId: string;
  event: string;
  dueAt: string | null;
  reason: string | null;
}

/** An effect that exhausted its attempts. */
export interface DeadEffect {
  id: string;
  deadAt: string | null;
  attempts: number;
  /** The error of the last attempt. */
  lastError: string | null;
  effect: unknown;
}

/** Dead effects listed at most (the oldest beyond are not shown). */
const MAX_DEAD_EFFECTS = 500;

function operatorOnly(res: express.Response, what: string): void {
  if (!isOperator(principalOf(res))) throw new ForbiddenError(`${what} needs an operator token`);
}

const isoOrNull = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

async function deadTimers(ctx: ModuleContext, installationId: string): Promise<DeadTimer[]> {
  const raw = await ctx.redis.hgetall(ctx.store.keys.deadTimers(installationId));
  return Object.entries(raw)
    .map(([member, json]) => {
      const t = parseTimerMember(member);
      const info = parseJson(json) as { due?: number; reason?: string } | null;
      return {
        id: member,
        kind: t.kind,
        actorId: `${t.kind}:${t.actorId}`,
        event: t.sendId,
        dueAt: typeof info?.due === 'number' ? isoOrNull(info.due) : null,
        reason: typeof info?.reason === 'string' ? info.reason : null,
      };
    })
    .sort((a, b) => (a.dueAt ?? '').localeCompare(b.dueAt ?? ''));
}

// Only their dead letters are read and settled here: the policies (leases, attempts) do not apply.
const effectQueue = (ctx: ModuleContext) =>
  new JobQueue(ctx.redis, ctx.store.keys.prefix, EFFECT_QUEUE);

/** With the delivery record mirror: a retried delivery is `pending` again, attempts reset. */
const notifyQueue = (ctx: ModuleContext) =>
  deliveryQueue(ctx.redis, new NotifyKeys(ctx.store.keys.prefix), ctx.config.notifications, 0);

async function deadEffects(ctx: ModuleContext, installationId: string): Promise<DeadEffect[]> {
  const { items } = await effectQueue(ctx).dead(installationId, { limit: MAX_DEAD_EFFECTS });
  return items.reverse().map((d) => ({
    id: d.id,
    deadAt: isoOrNull(d.deadAt),
    attempts: d.attempts,
    lastError: d.lastError,
    effect: parseJson(d.data),
  }));
}

/**
 * Retry puts the entry back where its poller finds it at once (due now, attempts reset);
 * discard deletes it with its data (a delivery keeps its record). Timers: one MULTI; effects and
 * notifications: one script of their retry queue. All keys share the installation's slot.
 */
async function act(
  ctx: ModuleContext,
  installationId: string,
  kind: 'timers' | 'effects' | 'notifications',
  action: 'retry' | 'discard',
  id: string,
): Promise<boolean> {
  const { keys } = ctx.store;
  const now = ctx.clock.now();
  if (kind === 'timers') {
    const dead = keys.deadTimers(installationId);
    if (!(await ctx.redis.hexists(dead, id))) return false;
    const m = ctx.redis.multi().hdel(dead, id);
    if (action === 'retry') m.zadd(keys.timers(installationId), now, id);
    else m.hdel(keys.timerEvents(installationId), id);
    await m.exec();
    return true;
  }
  const queue = kind === 'effects' ? effectQueue(ctx) : notifyQueue(ctx);
  return action === 'retry'
    ? queue.retryDead(installationId, id, now)
    : queue.discardDead(installationId, id, now);
}

/** Adds the dead-letter routes (operator only). */
export function deadLetterRoutes(app: express.Express, ctx: ModuleContext): void {
  app.get('/v1/installations/:installationId/dead-letters', async (req, res) => {
    const { installationId } = parse(installationParams, req.params, 'path');
    operatorOnly(res, 'reading dead letters');
    const [timers, effects] = await Promise.all([
      deadTimers(ctx, installationId),
      deadEffects(ctx, installationId),
    ]);
    res.json({ installationId, timers, effects });
  });

  app.post('/v1/installations/:installationId/dead-letters/:kind/:action', async (req, res) => {
    const { installationId, kind, action } = parse(actionParams, req.params, 'path');
    operatorOnly(res, `${action === 'retry' ? 'retrying' : 'discarding'} a dead letter`);
    const { id } = parse(actionBody, req.body ?? {}, 'body');
    if (!(await act(ctx, installationId, kind, action, id))) {
      throw new NotFoundError(`no dead ${kind.replace(/s$/, '')} ${id}`, {
        field: 'id',
      });
    }
    ctx.logger.info(`dead letter ${action === 'retry' ? 'retried' : 'discarded'}`, {
      installationId,
      kind,
      id,
      by: principalOf(res).name ?? 'operator',
    });
    res.json({ installationId, kind, id, action, done: true });
  });
}
