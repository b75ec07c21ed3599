import { z } from 'zod';
import { principalOf } from '../http/app.ts';
import { parse } from '../http/validate.ts';
import type { AppModule } from '../module-context.ts';
import { identifier, pageLimit } from '../wire.ts';
import { CAPACITY_SERVICE as CAPACITY, CapacityService } from './capacity.ts';

export const params = z.strictObject({ installationId: identifier });

/** `GET …/capacity/alerts`: a page of alerts; `cursor` is a page's `nextCursor`, as given. */
export const alertsQuery = z.strictObject({
  limit: pageLimit(500, 50),
  cursor: z
    .string()
    .regex(/^\d{15}:[\w.:-]{1,180}$/, 'is not valid; pass back nextCursor unchanged')
    .optional(),
});

/** Capacity alerts and load shedding (issue: capacity alerts). */
export const capacityModule: AppModule = {
  name: 'capacity',
  init(ctx) {
    const service = new CapacityService(
      ctx.engine,
      ctx.clock,
      ctx.config.capacityPerWorker,
      ctx.config.capacity,
      ctx.logger,
      ctx.services,
    );
    ctx.services.provide(CAPACITY, service);
    ctx.engine.registerEffect('notifyCapacity', service.notifyCapacity);
    ctx.connections.admissionChecks.push(service.admit);
    ctx.connections.vetoHandlers.push(service.vetoed);
  },
  routes(app, ctx) {
    const svc = ctx.services.require(CAPACITY);
    app.get('/v1/installations/:installationId/capacity', async (req, res) => {
      const { installationId } = parse(params, req.params, 'path');
      res.json(await svc.get(principalOf(res), installationId));
    });
    app.get('/v1/installations/:installationId/capacity/alerts', async (req, res) => {
      const { installationId } = parse(params, req.params, 'path');
      const query = parse(alertsQuery, req.query, 'query');
      res.json(await svc.alerts(principalOf(res), installationId, query));
    });
  },
  // Compares every installation's count with the status indexes periodically (a repair: the
  // count is committed with each connection change, so drift is logged when found).
  poll: {
    ms: 30_000,
    async run(ctx) {
      const svc = ctx.services.require(CAPACITY);
      await Promise.all((await ctx.store.installations()).map((id) => svc.repair(id)));
    },
  },
};
