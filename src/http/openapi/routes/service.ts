/** Documentation of the document itself and the docs page (src/http/openapi/serve.ts). */
import { z } from 'zod';
import { documentRoute } from '../registry.ts';

documentRoute({
  method: 'get',
  path: '/openapi.json',
  tag: 'Service',
  summary: 'This OpenAPI 3.1 document (no token)',
  responses: {
    200: {
      description: 'the document',
      schema: z.looseObject({
        openapi: z.literal('3.1.0'),
        paths: z.record(z.string(), z.unknown()),
      }),
    },
  },
});

documentRoute({
  method: 'get',
  path: '/docs',
  tag: 'Service',
  summary: 'The API docs page (Swagger UI, served locally; no token)',
  responses: {
    200: { description: 'an HTML page rendering /openapi.json', contentType: 'text/html' },
  },
});

documentRoute({
  method: 'get',
  path: '/docs/assets/:file',
  tag: 'Service',
  summary: "The docs page's script and style sheet",
  params: z.strictObject({ file: z.enum(['swagger-ui.css', 'swagger-ui-bundle.js', 'docs.js']) }),
  responses: { 200: { description: 'the file', contentType: 'text/javascript' } },
  errors: ['not-found'],
});
