/**
 * Documentation of the Stately Inspector routes (src/inspect/ws.ts, src/inspect/bridge.ts): the
 * WebSocket `/v1/inspect`, whose upgrade is a GET taking the API's path (token, tenancy, errors
 * in the API's shape), and the bridge page `/inspect`.
 */
import { inspectQuery } from '../../../inspect/ws.ts';
import { documentRoute } from '../registry.ts';

const tag = 'Charts and inspection';

documentRoute({
  method: 'get',
  path: '/v1/inspect',
  tag,
  auth: 'stream',
  summary: 'The Stately Inspector feed (WebSocket, read-only)',
  description:
    'Connect with `ws://` (`Upgrade: websocket`), the token as `Authorization: Bearer` or `?access_token=`. ' +
    'Each text frame is one `@statelyai/inspect` event in JSON (`@xstate.actor`, `@xstate.snapshot`, `@xstate.event`), for `createWebSocketReceiver` or the bridge page `/inspect`: ' +
    'every actor the token may see, or only `actor` (`<kind>:<id>`) with its recent history first. ' +
    'Clients send nothing (a message over 1 KB closes the socket with 1009); the server pings every STREAM_HEARTBEAT_MS and closes with 1001 on shutdown. ' +
    'Open sockets per token are limited by STREAMS_PER_TOKEN. Every refusal is an HTTP answer in the API error shape, before the upgrade.',
  query: inspectQuery,
  responses: {
    101: {
      description: 'Switching Protocols: the socket is a WebSocket from here on',
      noContent: true,
      headers: {
        Upgrade: '`websocket`',
        Connection: '`Upgrade`',
        'Sec-WebSocket-Accept': "derived from the request's Sec-WebSocket-Key (RFC 6455)",
      },
    },
  },
  errors: [
    { code: 'not-found', meaning: 'no actor `actor`, or one of another tenant (never confirmed)' },
    {
      code: 'request-refused',
      status: 405,
      meaning:
        'an upgrade request that is not a GET, or that carries a body (refused before routing)',
    },
    {
      code: 'request-refused',
      status: 426,
      meaning: 'a GET without `Upgrade: websocket` (the answer carries `Upgrade: websocket`)',
    },
    {
      code: 'too-many-streams',
      meaning: 'the token already holds STREAMS_PER_TOKEN open inspector sockets on this server',
    },
    { code: 'unavailable', meaning: 'the server is shutting down: connect again' },
  ],
});

documentRoute({
  method: 'get',
  path: '/inspect',
  tag,
  summary: 'The Stately Inspector bridge page (no token to load it)',
  description:
    'Opens https://stately.ai/inspect in a window and forwards `/v1/inspect` to it; the page asks for the token (or reads `?access_token=` and removes it from the address). Its script is inline, allowed by hash in its Content-Security-Policy.',
  responses: {
    200: {
      description: 'the HTML page',
      contentType: 'text/html',
      headers: {
        'Content-Security-Policy':
          "`default-src 'none'`, the page's own script and style by hash, `connect-src 'self'`",
      },
    },
  },
});
