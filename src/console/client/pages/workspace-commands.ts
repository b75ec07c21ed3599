/** The operator commands of a workspace page, each behind a confirmation dialog. */
import { seg } from '../api.ts';
import { h } from '../dom.ts';
import { confirmAction } from '../ui.ts';
import type { Workspace } from './types.ts';

/** Sends one command and redraws the page with its answer. */
export type Command = (
  label: string,
  method: string,
  path: string,
  payload: unknown,
) => Promise<void>;

export function commandButtons(id: string, w: Workspace, command: Command): HTMLElement {
  return h(
    'div',
    { class: 'toolbar' },
    h(
      'button',
      {
        type: 'button',
        class: 'primary',
        'data-action': 'migrate-acp',
        onclick: async () => {
          if (
            (await confirmAction({
              title: `Migrate ${id} to ACP?`,
              text: 'Every active connection must reach ACP before the migration completes; a breach rolls it back.',
              confirmLabel: 'Migrate to ACP',
            })) === null
          )
            return;
          await command('migrate to ACP', 'POST', `/v1/workspaces/${seg(id)}/migrations`, {
            toProtocol: 'acp',
            initiatedBy: 'operator',
          });
        },
      },
      'Migrate to ACP…',
    ),
    h(
      'button',
      {
        type: 'button',
        'data-action': 'migrate-http',
        onclick: async () => {
          if (
            (await confirmAction({
              title: `Migrate ${id} to HTTP?`,
              text: 'Every connection moves to HTTP (rolled back) in one transaction.',
              confirmLabel: 'Migrate to HTTP',
            })) === null
          )
            return;
          await command('migrate to HTTP', 'POST', `/v1/workspaces/${seg(id)}/migrations`, {
            toProtocol: 'http',
            initiatedBy: 'operator',
          });
        },
      },
      'Migrate to HTTP…',
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'danger',
        'data-action': 'rollback',
        disabled: w.transport !== 'acp' && !w.state.startsWith('migrating'),
        onclick: async () => {
          const reason = await confirmAction({
            title: `Roll ${id} back to HTTP?`,
            text: 'The workspace and all its connections move to HTTP now, and it enters the cooldown.',
            confirmLabel: 'Roll back',
            danger: true,
            reason: true,
          });
          if (reason === null) return;
          await command('roll back', 'POST', `/v1/workspaces/${seg(id)}/rollback`, { reason });
        },
      },
      'Roll back…',
    ),
    h(
      'button',
      {
        type: 'button',
        'data-action': 'reenable',
        disabled: !w.autoMigrationBlocked,
        onclick: async () => {
          if (
            (await confirmAction({
              title: 'Re-enable automatic migration?',
              text: `Lifts the flap-limit block of ${id} (operator tokens only).`,
              confirmLabel: 'Re-enable',
            })) === null
          )
            return;
          await command(
            're-enable auto-migration',
            'POST',
            `/v1/workspaces/${seg(id)}/auto-migration/reenable`,
            undefined,
          );
        },
      },
      'Re-enable auto-migration…',
    ),
  );
}
