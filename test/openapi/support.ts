/**
 * Checks of real answers against the served OpenAPI document: ajv with the JSON Schema 2020-12
 * dialect (the dialect of OpenAPI 3.1), compiled against the document itself so that every
 * `$ref` resolves as a client's tooling would resolve it.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type express from 'express';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OperationObject>>;
  components: { schemas?: Record<string, unknown> };
}

interface OperationObject {
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

const DOC_ID = 'https://lumilink.invalid/openapi.json';

/** `/v1/x/:id` -> `/v1/x/{id}`. */
export const toOpenApiPath = (route: string) => route.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** Every route of an Express 5 app as `METHOD /path` (Express syntax), HEAD left out. */
export function appRoutes(app: express.Express): string[] {
  const stack = (app as unknown as { router: { stack: Layer[] } }).router.stack;
  const routes: string[] = [];
  for (const layer of stack) {
    if (!layer.route) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (on && method !== '_all') routes.push(`${method.toUpperCase()} ${layer.route.path}`);
    }
  }
  return routes;
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
}

/** Every operation of the document as `METHOD /path` (Express syntax). */
export function documentRoutes(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m))
      .map((m) => `${m.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`),
  );
}

export interface ResponseCheck {
  /** null when the answer matches; else what is wrong. */
  problem: string | null;
}

/**
 * Validates one answer against the documented response of `METHOD route` for its status.
 *
 * @example
 * const check = responseChecker(doc);
 * check('GET', '/v1/connections/:connectionId', 200, 'application/json', body); // null
 */
export function responseChecker(doc: OpenApiDocument) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: DOC_ID });
  const cache = new Map<string, ReturnType<typeof ajv.compile>>();

  const compile = (ref: string) => {
    let validate = cache.get(ref);
    if (!validate) {
      validate = ajv.compile({ $ref: `${DOC_ID}#${ref}` });
      cache.set(ref, validate);
    }
    return validate;
  };

  /** Validates `value` against `#/components/schemas/<name>`. */
  const component = (name: string, value: unknown): string | null => {
    const validate = compile(`/${pointer('components', 'schemas', name)}`);
    return validate(value) ? null : ajv.errorsText(validate.errors);
  };

  const response = (
    method: string,
    route: string,
    status: number,
    contentType: string,
    body: unknown,
  ): string | null => {
    const path = toOpenApiPath(route);
    const operation = doc.paths[path]?.[method.toLowerCase()];
    if (!operation) return `${method} ${path} is not in the document`;
    const documented = operation.responses[String(status)];
    if (!documented) {
      return `${method} ${path} answered ${status}, which is not documented (documented: ${Object.keys(operation.responses).join(', ')})`;
    }
    if (!documented.content) {
      // Documented without a body (101 Switching Protocols).
      return body === null || body === ''
        ? null
        : `${method} ${path} ${status} is documented without a body, answered ${contentType}`;
    }
    const mediaType = contentType.split(';')[0]!.trim();
    const content = documented.content[mediaType];
    if (!content) {
      return `${method} ${path} ${status} answered ${mediaType}, documented: ${Object.keys(documented.content ?? {}).join(', ')}`;
    }
    if (mediaType !== 'application/json') return null;
    const validate = compile(
      `/${pointer('paths', path, method.toLowerCase(), 'responses', String(status), 'content', mediaType, 'schema')}`,
    );
    return validate(body)
      ? null
      : `${method} ${path} ${status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body).slice(0, 400)}`;
  };

  /** Validates `value` against the schema at a JSON pointer of the document (as parts). */
  const at = (parts: string[], value: unknown): string | null => {
    const validate = compile(`/${pointer(...parts)}`);
    return validate(value) ? null : ajv.errorsText(validate.errors);
  };

  return { response, component, at };
}
