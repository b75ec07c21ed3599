/**
 * Response schemas of the operator's dead-letter routes (src/console/dead-letters.ts): exactly
 * the objects those routes build, field by field.
 */
import { z } from 'zod';
import { actionParams } from '../../../console/dead-letters.ts';
import { id, nullableTime } from './common.ts';

export const deadTimer = z
  .strictObject({
    id: z.string().meta({ description: 'the timer row: pass it back as `id` to retry or discard' }),
    kind: z.string().meta({ description: "the actor's kind, e.g. `workspace`" }),
    actorId: z.string().meta({ description: '`<kind>:<id>`' }),
    event: z.string().meta({ description: 'the delayed event, e.g. `xstate.after.…`' }),
    dueAt: nullableTime.meta({ description: 'when it was due; null if not recorded' }),
    reason: z
      .string()
      .nullable()
      .meta({ description: 'why it could not be applied (at most 500 characters)' }),
  })
  .meta({ id: 'DeadTimer' });

export const deadEffect = z
  .strictObject({
    id: z.string().meta({ description: 'the outbox entry: pass it back as `id`' }),
    deadAt: nullableTime,
    attempts: z.number().int().min(0),
    lastError: z
      .string()
      .nullable()
      .meta({ description: 'the error of its last attempt (at most 500 characters)' }),
    effect: z.unknown().meta({
      description:
        'the effect as queued (its JSON), its raw text when that is not JSON, or null when its data is gone',
    }),
  })
  .meta({ id: 'DeadEffect' });

export const engineDeadLetters = z
  .strictObject({
    installationId: id,
    timers: z.array(deadTimer).meta({ description: 'oldest due first' }),
    effects: z
      .array(deadEffect)
      .meta({ description: 'in the order they died (the last 500 to die)' }),
  })
  .meta({ id: 'EngineDeadLetters' });

export const deadLetterAction = z
  .strictObject({
    installationId: id,
    kind: actionParams.shape.kind,
    id: z.string(),
    action: actionParams.shape.action,
    done: z.literal(true),
  })
  .meta({ id: 'DeadLetterAction' });
