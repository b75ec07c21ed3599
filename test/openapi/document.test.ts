/**
 * The OpenAPI document at /openapi.json: valid OpenAPI 3.1 for a real validator, complete (every
 * route of the running app, found by walking Express's router, has an operation, and every
 * operation a route), and built from the zod schemas the routes validate with.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerConnectionBody } from '../../src/http/schemas.ts';
import { DEV_OPERATOR_TOKEN } from '../../src/config.ts';
import { TOKENS, type TestService, startService } from '../helpers.ts';
import { type OpenApiDocument, appRoutes, documentRoutes, responseChecker } from './support.ts';

let service: TestService;
let doc: OpenApiDocument;

beforeAll(async () => {
  service = await startService();
  const res = await fetch(`${service.url}/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as OpenApiDocument;
});

afterAll(async () => {
  await service.close();
});

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document for @seriousme/openapi-schema-validator', async () => {
    const validator = new Validator();
    const result = await validator.validate(
      structuredClone(doc) as unknown as Parameters<Validator['validate']>[0],
    );
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('needs no token', async () => {
    const res = await fetch(`${service.url}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
  });

  it('gives every operation a unique operationId, a summary and a tag', () => {
    const operations = Object.values(doc.paths).flatMap((item) => Object.values(item)) as any[];
    const ids = operations.map((op) => op.operationId as string);
    expect(new Set(ids).size).toBe(ids.length);
    for (const op of operations) {
      expect(op.summary, op.operationId).toBeTruthy();
      expect(op.tags, op.operationId).toHaveLength(1);
    }
  });

  it('holds no token, not even the development one', () => {
    const text = JSON.stringify(doc);
    for (const token of [...TOKENS, DEV_OPERATOR_TOKEN]) expect(text).not.toContain(token);
  });

  it('documents every route of the running app', () => {
    const documented = new Set(documentRoutes(doc));
    const missing = appRoutes(service.app).filter((r) => !documented.has(r));
    expect(
      missing,
      `routes without documentation: add a documentRoute({...}) entry (src/http/openapi/registry.ts) for each`,
    ).toEqual([]);
  });

  it('documents no route the app does not have', () => {
    const routes = new Set(appRoutes(service.app));
    expect(documentRoutes(doc).filter((r) => !routes.has(r))).toEqual([]);
  });

  it('finds the routes by walking the router, so a new route is caught', () => {
    service.app.get('/v1/brand-new-route', (_req, res) => {
      res.json({});
    });
    try {
      expect(appRoutes(service.app)).toContain('GET /v1/brand-new-route');
      expect(documentRoutes(doc)).not.toContain('GET /v1/brand-new-route');
    } finally {
      const stack = (service.app as unknown as { router: { stack: unknown[] } }).router.stack;
      stack.pop();
    }
  });

  it("takes request bodies from the route's own zod schema (unknown fields refused, limits kept)", () => {
    const body = doc.paths['/v1/connections']?.post as any;
    const schema = body.requestBody.content['application/json'].schema;
    const resolved = schema.$ref
      ? doc.components.schemas?.[String(schema.$ref).split('/').pop()!]
      : schema;
    expect(resolved).toMatchObject({
      type: 'object',
      additionalProperties: false,
      required: ['connectionId', 'installationId', 'workspaceId'],
      properties: { connectionId: { maxLength: 128, pattern: '^[A-Za-z0-9._~-]+$' } },
    });
    expect(Object.keys(resolved.properties).sort()).toEqual(
      Object.keys(registerConnectionBody.shape).sort(),
    );
  });

  it('gives examples that match their own schemas', () => {
    const check = responseChecker(doc);
    const problems: string[] = [];
    let examples = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item) as [string, any][]) {
        const media: [string[], { example?: unknown }][] = [];
        for (const [type, m] of Object.entries(op.requestBody?.content ?? {})) {
          media.push([
            ['paths', path, method, 'requestBody', 'content', type, 'schema'],
            m as never,
          ]);
        }
        for (const [status, r] of Object.entries(op.responses as Record<string, any>)) {
          for (const [type, m] of Object.entries(r.content ?? {})) {
            media.push([
              ['paths', path, method, 'responses', status, 'content', type, 'schema'],
              m as never,
            ]);
          }
        }
        for (const [where, m] of media) {
          if (m.example === undefined) continue;
          examples++;
          const problem = check.at(where, m.example);
          if (problem) problems.push(`${where.join(' ')}: ${problem}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(examples).toBeGreaterThan(50);
  });

  it('documents the error shape and codes on every operation', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const statuses = Object.keys(op.responses);
        expect(statuses, `${method} ${path}`).toContain('500');
        if (path.startsWith('/v1/')) {
          expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['401', '503']));
        }
        if ((op as any).requestBody) {
          expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['413', '415']));
        }
      }
    }
    const refusal = doc.paths['/v1/connections']?.post?.responses['409'] as any;
    const codes = refusal.content['application/json'].schema.properties.error.properties.code.enum;
    expect(codes).toEqual(['already-exists', 'request-id-reused']);
  });
});
