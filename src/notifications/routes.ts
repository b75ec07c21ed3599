import type { LiveStreams } from '../http/live-streams.ts';
import type express from 'express';
import { z } from 'zod';
import type { Principal } from '../connections/connections.ts';
import { canAccess, isOperator } from '../connections/connections.ts';
import { ForbiddenError, NotFoundError } from '../errors.ts';
import { principalOf } from '../http/app.ts';
import { checkStreamQuery } from '../http/live-events.ts';
import { parse } from '../http/validate.ts';
import { identifier, pageLimit } from '../wire.ts';
import type { NotificationService } from './service.ts';
import { notificationSettingsBody } from './settings.ts';
import type { ToastHub } from './toasts.ts';

/** Provided by the sessions feature (`ctx.services.get(AUTOMATION_SERVICES.sessions)`). */
export interface SessionDirectory {
  /** The installation a session belongs to, or null when unknown. */
  owner(sessionId: string): Promise<string | null>;
}

export const installationParams = z.strictObject({ installationId: identifier });
export const sessionParams = z.strictObject({ sessionId: identifier });
export const deliveriesQuery = z.strictObject({
  sourceId: z.string().min(1).max(200).meta({
    description:
      "what the notification is about: a capacity alert's alertId, a rollback's eventId, an automation run's summaryId (not its runId); every toast carries it",
  }),
});
export const deadLettersQuery = z.strictObject({
  cursor: z
    .string()
    .regex(/^\d{15}:dlv_[0-9a-f]{32}$/, 'is not valid; pass back nextCursor unchanged')
    .optional(),
  limit: pageLimit(500, 50),
});

function installationOf(req: express.Request, principal: Principal): string {
  const { installationId } = parse(installationParams, req.params, 'path');
  if (!canAccess(principal, installationId)) {
    // Never confirm that another tenant's installation exists.
    throw new NotFoundError(`installation ${installationId} not found`, {
      field: 'installationId',
    });
  }
  return installationId;
}

function isSessionDirectory(x: unknown): x is SessionDirectory {
  return typeof (x as SessionDirectory | undefined)?.owner === 'function';
}

export interface RouteDeps {
  service: NotificationService;
  hub: ToastHub;
  /** Looked up per request: the sessions feature may register after this module. */
  sessions: () => unknown;
  clock: { now(): number };
  /** Registers each stream so shutdown can end it with a final event, and counts it. */
  streams: LiveStreams;
}

/**
 * The notification routes (behind the /v1 bearer authentication).
 *
 * @example
 * notificationRoutes(app, { service, hub, sessions: () => ctx.services.get(AUTOMATION_SERVICES.sessions), clock,
 *   streams: ctx.streams });
 */
export function notificationRoutes(app: express.Express, deps: RouteDeps): void {
  const { service, hub } = deps;

  const streamOptions = (principal: Principal, installationId: string) => ({
    streams: deps.streams,
    owner: { token: principal.name ?? 'anonymous', installationId },
  });

  app.get('/v1/installations/:installationId/toasts/stream', async (req, res) => {
    const principal = principalOf(res);
    parse(installationParams, req.params, 'path');
    checkStreamQuery(req);
    const installationId = installationOf(req, principal);
    await hub.attach(
      req,
      res,
      { installationId, sessionId: null },
      streamOptions(principal, installationId),
    );
  });

  app.get('/v1/sessions/:sessionId/toasts/stream', async (req, res) => {
    const { sessionId } = parse(sessionParams, req.params, 'path');
    checkStreamQuery(req);
    const directory = deps.sessions();
    const installationId = isSessionDirectory(directory) ? await directory.owner(sessionId) : null;
    const principal = principalOf(res);
    if (installationId === null || !canAccess(principal, installationId)) {
      throw new NotFoundError(`session ${sessionId} not found`, { field: 'sessionId' });
    }
    await hub.attach(
      req,
      res,
      { installationId, sessionId },
      streamOptions(principal, installationId),
    );
  });

  app.get('/v1/installations/:installationId/notifications/settings', async (req, res) => {
    const installationId = installationOf(req, principalOf(res));
    res.json(await service.settings.get(installationId));
  });

  app.put('/v1/installations/:installationId/notifications/settings', async (req, res) => {
    const principal = principalOf(res);
    // Not found for an installation the token cannot see, before its role is looked at.
    const installationId = installationOf(req, principal);
    if (!isOperator(principal))
      throw new ForbiddenError('changing notification settings needs an operator token');
    const body = parse(notificationSettingsBody, req.body, 'body');
    res.json(
      await service.settings.put(
        installationId,
        body,
        principal.name ?? 'operator',
        deps.clock.now(),
      ),
    );
  });

  app.get('/v1/installations/:installationId/notifications/deliveries', async (req, res) => {
    const installationId = installationOf(req, principalOf(res));
    const { sourceId } = parse(deliveriesQuery, req.query, 'query');
    res.json({ items: await service.deliveryViews(installationId, sourceId) });
  });

  app.get('/v1/installations/:installationId/notifications/dead-letters', async (req, res) => {
    const installationId = installationOf(req, principalOf(res));
    const query = parse(deadLettersQuery, req.query, 'query');
    res.json(await service.deadLetters(installationId, query));
  });
}
