/** Documentation of the operator's dead-letter routes (src/console/dead-letters.ts). */
import { actionBody, actionParams, installationParams } from '../../../console/dead-letters.ts';
import { documentRoute } from '../registry.ts';
import { deadLetterAction, engineDeadLetters } from '../schemas/dead-letters.ts';

const tag = 'Dead letters';

documentRoute({
  method: 'get',
  path: '/v1/installations/:installationId/dead-letters',
  tag,
  summary: "The engine's dead timers and dead effects (operator only)",
  description:
    'Timers the poller could not apply and effects that exhausted their attempts. Dead notification deliveries are listed by `/notifications/dead-letters`.',
  params: installationParams,
  responses: {
    200: { description: 'both lists (empty when there is none)', schema: engineDeadLetters },
  },
  errors: ['forbidden'],
});

documentRoute({
  method: 'post',
  path: '/v1/installations/:installationId/dead-letters/:kind/:action',
  tag,
  summary: 'Retry or discard one dead letter (operator only)',
  description:
    '`retry` makes it due now with its attempts reset; `discard` deletes a timer or effect with its data, and takes a notification delivery off the dead-letter list (its record stays, `dead-lettered`). `id` is the `id` of a dead timer or effect, or the `deliveryId` of a dead delivery.',
  params: actionParams,
  body: actionBody,
  bodyExample: { id: 'workspace:ws-1|xstate.after.cooldownDelay.workspace.http.cooldown' },
  responses: { 200: { description: 'done', schema: deadLetterAction } },
  errors: ['forbidden', { code: 'not-found', meaning: 'no dead letter of that kind with that id' }],
});
