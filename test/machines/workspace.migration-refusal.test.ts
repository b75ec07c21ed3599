/**
 * The 409 that explains a refused migration to ACP (src/workspaces/requests.ts) against the
 * chart's own decision, for every combination of the policy's migration rules, the initiator,
 * an immediate or scheduled start and the workspace's transport: the explanation names a policy
 * rule exactly when the chart's guards refuse on it, so the two can never disagree.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WORKSPACE_POLICY as P,
  type WorkspacePolicy,
  acpMigrationBar,
} from '../../machines/shared/workspace-policy.ts';
import { createWorkspaceMachine } from '../../machines/workspace.machine.ts';
import { Stepper } from '../../src/engine/step.ts';
import { migrationRefusal } from '../../src/workspaces/requests.ts';
import { workspaceState } from '../../src/workspaces/workspaces.ts';
import { T0 } from './workspace.harness.ts';

const stepper = new Stepper(createWorkspaceMachine());

/** Whether the chart takes the request in the state the policy starts a workspace in. */
function chart(
  policy: WorkspacePolicy,
  initiatedBy: 'operator' | 'user',
  scheduledAt: number | null,
) {
  const { snapshot } = stepper.initial({ workspaceId: 'w1', installationId: 'i1', policy, at: T0 });
  const event = {
    type: 'REQUEST_MIGRATION',
    at: T0,
    eventId: 'e1',
    migrationId: 'm1',
    toProtocol: 'acp',
    initiatedBy,
    requestedBy: null,
    scheduledAt,
    policy,
  };
  return { accepts: snapshot.can(event), state: workspaceState(snapshot.value) };
}

const cases = [true, false].flatMap((migrationEnabled) =>
  (['optIn', 'scheduled', 'automatic'] as const).flatMap((rolloutMode) =>
    (['operator', 'user'] as const).flatMap((initiatedBy) =>
      [null, T0 + 3_600_000].flatMap((scheduledAt) =>
        (['http', 'acp'] as const).map((defaultProtocol) => ({
          policy: { ...P, migrationEnabled, rolloutMode, defaultProtocol },
          initiatedBy,
          scheduledAt,
        })),
      ),
    ),
  ),
);

/** The policy field each bar's refusal names. */
const FIELD = { 'migration-disabled': 'toProtocol', 'users-cannot-opt-in': 'initiatedBy' };

describe('the refusal of a migration to ACP agrees with the workspace chart', () => {
  it.each(cases)(
    'migrationEnabled $policy.migrationEnabled, $policy.rolloutMode, $initiatedBy, scheduledAt $scheduledAt, on $policy.defaultProtocol',
    ({ policy, initiatedBy, scheduledAt }) => {
      const { accepts, state } = chart(policy, initiatedBy, scheduledAt);
      const bar = acpMigrationBar(policy, initiatedBy);
      if (state.startsWith('http')) {
        // On HTTP the policy alone decides: the chart takes the request iff nothing bars it.
        expect(accepts).toBe(bar === null);
      } else {
        expect(accepts).toBe(false);
      }
      if (accepts) return;
      const refusal = migrationRefusal(policy, state, initiatedBy);
      expect(refusal.code).toBe('migration-refused');
      if (bar === 'migration-disabled' || (bar !== null && state.startsWith('http'))) {
        expect(refusal.details).toEqual({ field: FIELD[bar] });
      } else {
        expect(refusal.details).toEqual({ state });
        expect(refusal.message).toBe(`workspace is ${state}, not on HTTP`);
      }
    },
  );
});
