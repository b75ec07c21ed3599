/**
 * The notifications feature: toasts streamed over SSE (through Redis pub/sub, so every engine
 * process serves every toast), signed webhooks and email as durable Redis jobs with retries and
 * a dead-letter list, per-installation channel settings, and the `rollback` domain event turned
 * into a notification. Registers `SERVICES.notifications` (a Notifier) for other modules.
 */
import type { AppModule, ModuleContext } from '../module-context.ts';
import { NotifyKeys } from './keys.ts';
import { notificationRoutes } from './routes.ts';
import { NotificationService } from './service.ts';
import { ToastHub } from './toasts.ts';
import { AUTOMATION_SERVICES } from '../automation/types.ts';
import { SERVICES } from './types.ts';

interface Parts {
  service: NotificationService;
  hub: ToastHub;
}

/** One set of parts per started service (tests run several in one process). */
const parts = new WeakMap<ModuleContext, Parts>();

function partsOf(ctx: ModuleContext): Parts {
  const p = parts.get(ctx);
  if (!p) throw new Error('the notifications module was not initialised');
  return p;
}

/** Open toast streams (SSE clients) served by this process: for tests and diagnostics. */
export function openToastStreams(ctx: ModuleContext): number {
  return parts.get(ctx)?.hub.clientCount() ?? 0;
}

/** AppModule.poll.ms is read after init; it follows the configuration of the last init. */
let pollMs = 1000;

export const notificationsModule: AppModule = {
  name: 'notifications',

  async init(ctx) {
    const keys = new NotifyKeys(ctx.store.keys.prefix);
    const hub = new ToastHub(ctx.redis, keys, ctx.logger, ctx.config.streams);
    await hub.start();
    const service = new NotificationService({
      redis: ctx.redis,
      keys,
      clock: ctx.clock,
      logger: ctx.logger,
      config: ctx.config.notifications,
      replayEvents: ctx.config.streams.replayEvents,
    });
    parts.set(ctx, { service, hub });
    pollMs = ctx.config.notifications.pollMs;
    ctx.services.provide(SERVICES.notifications, service);

    // At-least-once: the id is stable per rollback event, so a repeated event notifies once.
    ctx.events.on('rollback', async (e) => {
      const kind = e.kind === 'recovery' ? 'recovery' : 'rollback';
      await service.notify({
        id: `${kind}:${e.eventId}`,
        installationId: e.installationId,
        kind,
        workspaceId: e.workspaceId,
        sessionId: null,
        sourceId: e.eventId,
        // The seed's rule: error for rollbacks, info for recoveries.
        toast: {
          title: e.toast.title,
          body: e.toast.body,
          severity: kind === 'recovery' ? 'info' : 'error',
        },
        details: {
          eventId: e.eventId,
          workspaceId: e.workspaceId,
          kind: e.kind,
          transcriptNote: e.transcriptNote,
          at: new Date(e.at).toISOString(),
        },
      });
    });
  },

  routes(app, ctx) {
    const { service, hub } = partsOf(ctx);
    notificationRoutes(app, {
      streams: ctx.streams,
      service,
      hub,
      sessions: () => ctx.services.get(AUTOMATION_SERVICES.sessions),
      clock: ctx.clock,
    });
  },

  poll: {
    get ms() {
      return pollMs;
    },
    run: (ctx) => partsOf(ctx).service.processDue(),
  },

  async stop(ctx) {
    const p = parts.get(ctx);
    if (!p) return;
    p.hub.stop();
    await p.service.stop();
    parts.delete(ctx);
  },
};
