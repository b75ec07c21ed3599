/**
 * What the inspection routes share: the `<kind>:<id>` actor id, the tenancy check that turns an
 * actor outside the caller's installations into a 404, and the pub/sub channel every process
 * publishes its transitions on.
 */
import { z } from 'zod';
import { type Principal, canAccess } from '../connections/connections.ts';
import { NotFoundError } from '../errors.ts';
import type { ModuleContext } from '../module-context.ts';
import type { ActorRef } from '../store/redis-store.ts';

/** One transition as streamed (`event: transition`); enums in kebab-case like every answer. */
export interface TransitionMessage {
  actorId: string;
  kind: string;
  installationId: string;
  /** State path before, e.g. `http.cooldown`; null for a new actor. */
  from: string | null;
  to: string;
  events: string[];
  /** The actor's committed version after this transition. */
  version: number;
  at: string;
}

/** `<kind>:<id>`, e.g. `connection:c1`. */
export const actorId = z
  .string()
  .regex(
    /^(connection|workspace|capacity):[A-Za-z0-9._~-]{1,128}$/,
    'must be <kind>:<id>, kind one of connection, workspace, capacity',
  );

/** The Redis pub/sub channel of persisted transitions (TransitionMessage JSON), per key prefix. */
export const transitionChannel = (ctx: ModuleContext) => `${ctx.store.keys.prefix}:transitions`;

/**
 * The actor behind `<kind>:<id>`, or NotFoundError when it does not exist or belongs to an
 * installation the caller may not see (the same answer, so existence does not leak).
 *
 * @example
 * const ref = await resolveActor(ctx, principalOf(res), 'connection:c1');
 */
export async function resolveActor(
  ctx: ModuleContext,
  principal: Principal,
  id: string,
  /** The request field that named the actor, for the error. */
  field = 'actorId',
): Promise<ActorRef> {
  const [kind, rest] = id.split(/:(.*)/s) as [string, string];
  const installationId = kind === 'capacity' ? rest : await ctx.store.owner(kind, rest);
  if (installationId === null || !canAccess(principal, installationId)) {
    throw new NotFoundError(`actor ${id} not found`, { field });
  }
  return { kind, installationId, id: rest };
}
