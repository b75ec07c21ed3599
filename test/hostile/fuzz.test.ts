/**
 * HTTP fuzzing over every route: fast-check-generated requests against the real service on real
 * Redis, never a 5xx, always the error shape, nothing written on a 4xx (shared set-up and helpers:
 * fuzz.helpers.ts).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { TOKEN_A, checkInvariants } from '../helpers.ts';
import { sendAndDiff } from './support.ts';
import {
  RUNS,
  SEED,
  TIMEOUT_MS,
  KNOWN_DEFECTS,
  defectsSeen,
  s,
  routes,
  hostileRequest,
  reproducer,
  useFuzzService,
} from './fuzz.helpers.ts';

useFuzzService();

describe('HTTP fuzzing over every route', () => {
  it('lists the routes it fuzzes from the running app', () => {
    expect(routes.length).toBeGreaterThan(30);
    expect(routes).toContainEqual({ method: 'POST', path: '/v1/sessions/:sessionId/automation' });
  });

  it(
    'never answers 5xx, always answers in time, and writes nothing on any 4xx',
    async () => {
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(hostileRequest, async (req) => {
          const res = await sendAndDiff(s, req, TIMEOUT_MS);
          const repro = reproducer(req);
          expect(res.status, `${repro}\n→ ${res.status} ${res.text.slice(0, 500)}`).toBeLessThan(
            500,
          );
          if (req.method !== 'HEAD') checkInvariants(res);
          if (res.status < 400) return;
          refused++;
          if (req.method !== 'HEAD') expect(res.contentType, repro).toContain('application/json');
          if (res.written.length === 0) return;
          const known = KNOWN_DEFECTS.find((d) => d.matches(req, res, res.written));
          if (known) {
            defectsSeen.set(known.id, `${repro} → ${res.status}, wrote ${res.written.join(' ')}`);
            return;
          }
          expect(res.written, `${repro}\n→ ${res.status} ${res.text.slice(0, 500)}`).toEqual([]);
        }),
        { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) },
      );
      // The run must mostly exercise refusals, or the write check proves little.
      expect(refused).toBeGreaterThan(RUNS / 3);
    },
    Math.max(120_000, RUNS * 400),
  );

  it('leaves the service healthy: /healthz answers and a valid registration succeeds', async () => {
    const health = await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const reg = await s.api(
      'POST',
      '/v1/connections',
      { connectionId: 'after-fuzz', installationId: 'inst-a', workspaceId: 'ws-after' },
      TOKEN_A,
    );
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    expect((await s.api('GET', '/v1/connections/after-fuzz', undefined, TOKEN_A)).status).toBe(200);
  });

  afterAll(() => {
    for (const [id, repro] of defectsSeen) console.warn(`known defect ${id} reproduced: ${repro}`);
  });

  for (const d of KNOWN_DEFECTS) it.todo(`defect ${d.id}: ${d.description}`);
});
