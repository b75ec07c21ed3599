/**
 * Builds the OpenAPI 3.1 document from the route registry (src/http/openapi/registry.ts) with
 * zod-openapi: request parameters and bodies from the zod schemas the routes parse with,
 * responses from src/http/openapi/schemas/, errors from the catalogue in ./errors.ts.
 */
import {
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  createDocument,
} from 'zod-openapi';
import {
  ALWAYS,
  AUTHENTICATED,
  COMMITS,
  ERRORS,
  ERROR_EXAMPLES,
  type ErrorCode,
  type RouteError,
  WITH_BODY,
  errorBody,
} from './errors.ts';
import { type RouteDoc, documentedRoutes } from './registry.ts';
import { toastEvent, transitionEvent } from './schemas/modules.ts';
import './routes/index.ts';

/** `/v1/x/:id` -> `/v1/x/{id}`. */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const hasBody = (route: RouteDoc) => route.body !== undefined;

/** One code a route answers under one status, with what it means there. */
export interface DocumentedError {
  code: ErrorCode;
  meaning: string;
}

/** The error codes a route answers, grouped by status. */
export function errorCodesOf(route: RouteDoc): Map<number, DocumentedError[]> {
  const v1 = authOf(route) !== 'none';
  const entries: RouteError[] = [
    ...ALWAYS,
    ...(v1 ? AUTHENTICATED : []),
    ...(v1 && route.method !== 'get' ? COMMITS : []),
    ...(hasBody(route) ? WITH_BODY : []),
    ...(route.errors ?? []),
  ];
  const byStatus = new Map<number, DocumentedError[]>();
  for (const entry of entries) {
    const { code, status: given, meaning } = typeof entry === 'string' ? { code: entry } : entry;
    const status = given ?? ERRORS[code].status;
    if (status === null) {
      throw new Error(`${route.method} ${route.path}: give the status it answers ${code} with`);
    }
    const listed = byStatus.get(status) ?? [];
    const documented = { code, meaning: meaning ?? ERRORS[code].meaning };
    // A code listed again (e.g. with a meaning of its own) replaces the general entry.
    const at = listed.findIndex((e) => e.code === code);
    if (at >= 0) listed[at] = documented;
    else listed.push(documented);
    byStatus.set(status, listed);
  }
  return byStatus;
}

const authOf = (route: RouteDoc) =>
  route.auth ?? (route.path.startsWith('/v1/') ? 'bearer' : 'none');

/** On every answer: the caller's X-Request-Id when valid, else a new UUID. */
const REQUEST_ID = { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } };

/** Headers an error answer carries by its status, beyond X-Request-Id. */
const ERROR_HEADERS: Record<number, Record<string, object>> = {
  401: {
    'WWW-Authenticate': {
      description:
        'the bearer challenge (RFC 6750): `Bearer realm="lumilink"`, with `, error="invalid_token"` when a token was sent and is not valid',
      schema: { type: 'string' },
    },
  },
  429: {
    'Retry-After': {
      description: 'seconds to wait before opening another stream (5): one must close first',
      schema: { type: 'integer' },
    },
  },
  503: {
    'Retry-After': {
      description:
        'seconds to wait before retrying (with the same request id): 1, or 60 for capacity-shed (start the session on HTTP meanwhile)',
      schema: { type: 'integer' },
    },
  },
};

function errorResponses(route: RouteDoc) {
  const responses: Record<string, object> = {};
  for (const [status, codes] of [...errorCodesOf(route)].sort(([a], [b]) => a - b)) {
    if (route.responses[status]) continue; // e.g. /readyz's own 503
    const example = codes.map((c) => ERROR_EXAMPLES[c.code]).find((e) => e !== undefined);
    responses[String(status)] = {
      description: codes.map((c) => `\`${c.code}\`: ${c.meaning}`).join('; '),
      headers: { ...REQUEST_ID, ...(ERROR_HEADERS[status] ?? {}) },
      content: {
        'application/json': {
          schema: errorBody(codes.map((c) => c.code)),
          ...(example ? { example } : {}),
        },
      },
    };
  }
  return responses;
}

/** `post /v1/connections/:connectionId/handshake` -> `postV1ConnectionsByConnectionIdHandshake`. */
function operationIdOf(route: RouteDoc): string {
  const words = route.path
    .split(/[^A-Za-z0-9:]+/)
    .filter(Boolean)
    .map((w) => (w.startsWith(':') ? `by-${w.slice(1)}` : w))
    .flatMap((w) => w.split('-'))
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1));
  return `${route.method}${words.join('')}`;
}

function operation(route: RouteDoc): ZodOpenApiOperationObject {
  const auth = authOf(route);
  const responses: Record<string, object> = {};
  for (const [status, doc] of Object.entries(route.responses)) {
    if (!doc) continue;
    const contentType = doc.contentType ?? 'application/json';
    const headers = Object.fromEntries(
      Object.entries(doc.headers ?? {}).map(([name, description]) => [
        name,
        { description, schema: { type: 'string' } },
      ]),
    );
    responses[status] = {
      description: doc.description,
      headers: { ...REQUEST_ID, ...headers },
      ...(doc.noContent
        ? {}
        : {
            content: {
              [contentType]: {
                ...(doc.schema ? { schema: doc.schema } : { schema: { type: 'string' } }),
                ...(doc.example === undefined ? {} : { example: doc.example }),
              },
            },
          }),
    };
  }
  Object.assign(responses, errorResponses(route));
  return {
    operationId: operationIdOf(route),
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    security:
      auth === 'none'
        ? []
        : auth === 'stream'
          ? [{ bearer: [] }, { accessToken: [] }]
          : [{ bearer: [] }],
    ...(route.params || route.query
      ? {
          requestParams: {
            ...(route.params ? { path: route.params } : {}),
            ...(route.query ? { query: route.query } : {}),
          },
        }
      : {}),
    ...(route.body
      ? {
          requestBody: {
            required: !route.bodyOptional,
            content: {
              'application/json': {
                schema: route.body,
                ...(route.bodyExample === undefined ? {} : { example: route.bodyExample }),
              },
            },
          },
        }
      : {}),
    responses,
  } as ZodOpenApiOperationObject;
}

let cached: ReturnType<typeof createDocument> | null = null;

/**
 * The OpenAPI 3.1 document of every registered route (built once, on first use).
 *
 * @example
 * app.get('/openapi.json', (_req, res) => res.json(openApiDocument()));
 */
export function openApiDocument(): ReturnType<typeof createDocument> {
  if (cached) return cached;
  const paths: ZodOpenApiPathsObject = {};
  for (const route of documentedRoutes()) {
    const path = openApiPath(route.path);
    paths[path] = { ...paths[path], [route.method]: operation(route) };
  }
  cached = createDocument({
    openapi: '3.1.0',
    info: {
      title: 'LumiLink ACP orchestration engine',
      version: '1',
      description:
        'Decides what state every ACP connection is in, when a workspace rolls back to HTTP and when it may migrate to ACP. ' +
        'Every /v1 route needs `Authorization: Bearer <token>`; errors are always `{ "error": { "code", "message", "details", "requestId" } }`. ' +
        "Timestamps are ISO 8601 UTC, rates decimals 0.0-1.0, enums kebab-case on output (the seed's camelCase is accepted on input). " +
        'Generated from the zod schemas that validate the requests (src/http/openapi/).',
    },
    servers: [{ url: '/' }],
    tags: [...new Set(documentedRoutes().map((r) => r.tag))].map((name) => ({ name })),
    components: {
      // The `data:` of the live streams' events, named in those routes' descriptions.
      schemas: { ToastEvent: toastEvent, TransitionEvent: transitionEvent },
      headers: {
        RequestId: {
          description:
            "The request's id: the caller's X-Request-Id when it is 1-128 characters of A-Z a-z 0-9 . _ : -, otherwise a new UUID; also `error.requestId` and in the access log.",
          schema: { type: 'string' },
        },
      },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An operator token (OPERATOR_TOKENS) or an installation token (API_TOKENS). Without any configured token, and outside production, the development operator token named in the README.',
        },
        accessToken: {
          type: 'apiKey',
          in: 'query',
          name: 'access_token',
          description:
            'Only on GET (and its HEAD) of the live streams, for EventSource, which cannot send headers.',
        },
      },
    },
    paths,
  });
  return cached;
}
