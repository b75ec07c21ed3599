import { ValidationError } from '../errors.ts';
import { principalOf } from '../http/app.ts';
import { parse } from '../http/validate.ts';
import { serviceKey } from '../services.ts';
import type { AppModule, ModuleContext } from '../module-context.ts';
import { pageQuery, sessionParams, summaryBody } from './schemas.ts';
import { SECRET_DESCRIPTIONS, findSecret } from './secrets.ts';
import { AutomationService } from './service.ts';
import { AUTOMATION_SERVICES, type SessionDirectory, type TranscriptService } from './types.ts';

/**
 * Refuses input holding anything that looks like a secret, naming where and which pattern, never
 * the value. Runs before schema validation, so no later error can echo the secret either.
 */
export function rejectSecrets(value: unknown, where: 'body' | 'path' | 'query'): void {
  const found = findSecret(value);
  if (!found) return;
  const message = `looks like ${SECRET_DESCRIPTIONS[found.kind]} (${found.kind}); never send secrets: remove it and send the request again`;
  throw new ValidationError(`invalid ${where}: ${found.path}: ${message}`, {
    in: where,
    fields: [{ field: found.path, message }],
    secretKind: found.kind,
  });
}

/** The automation service itself (the other modules use `transcripts` and `sessions`). */
export const AUTOMATION = serviceKey<AutomationService>('automation');

const serviceOf = (ctx: ModuleContext) => ctx.services.require(AUTOMATION);

/**
 * GitHub automation summaries, session transcripts and the rollback -> automation-skip link.
 *
 * Routes:
 * - POST /v1/sessions/:sessionId/automation  record a GitHubAutomationSummary (201; 200 with the
 *   first record when its runId was already recorded)
 * - GET  /v1/sessions/:sessionId/automation  summaries, oldest first (`order=newest-first`)
 * - GET  /v1/sessions/:sessionId/transcript  SessionTranscriptEntry list, oldest first
 *
 * Services: `transcripts` ({ append }), `sessions` ({ owner }), `automation` (the service).
 */
export const automationModule: AppModule = {
  name: 'automation',
  init(ctx) {
    const service = new AutomationService(ctx);
    ctx.services.provide(AUTOMATION, service);
    ctx.services.provide(AUTOMATION_SERVICES.transcripts, {
      append: (entry) => service.append(entry),
    } satisfies TranscriptService);
    ctx.services.provide(AUTOMATION_SERVICES.sessions, {
      owner: (sessionId) => service.owner(sessionId),
    } satisfies SessionDirectory);
    ctx.events.on('rollback', service.onRollback);
  },
  routes(app, ctx) {
    const service = serviceOf(ctx);

    app.post('/v1/sessions/:sessionId/automation', async (req, res) => {
      rejectSecrets(req.params, 'path');
      const { sessionId } = parse(sessionParams, req.params, 'path');
      rejectSecrets(req.body, 'body');
      const body = parse(summaryBody, req.body, 'body');
      const { summary, created } = await service.record(principalOf(res), sessionId, body);
      res.status(created ? 201 : 200).json(summary);
    });

    app.get('/v1/sessions/:sessionId/automation', async (req, res) => {
      rejectSecrets(req.params, 'path');
      const { sessionId } = parse(sessionParams, req.params, 'path');
      const query = parse(pageQuery, req.query, 'query');
      res.json(await service.automation(principalOf(res), sessionId, query));
    });

    app.get('/v1/sessions/:sessionId/transcript', async (req, res) => {
      rejectSecrets(req.params, 'path');
      const { sessionId } = parse(sessionParams, req.params, 'path');
      const query = parse(pageQuery, req.query, 'query');
      res.json(await service.transcript(principalOf(res), sessionId, query));
    });
  },
};
