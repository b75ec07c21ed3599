/**
 * CORS from the CORS_ORIGINS allowlist, against the real app on a real port: preflights are
 * answered before authentication, an allowed origin is echoed (on errors and on live streams
 * too), any other origin gets no CORS header, and nothing changes when the list is empty.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { inspectModule } from '../../src/inspect/module.ts';
import { OPERATOR, type TestService, startService } from '../helpers.ts';

const CONSOLE = 'https://console.example.com';
const DEV = 'http://localhost:5173';
const services: TestService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
});

async function service(env: Record<string, string> = {}) {
  const s = await startService(env, undefined, [inspectModule]);
  services.push(s);
  return s;
}

const corsHeaders = (res: Response) =>
  [...res.headers.keys()].filter((h) => h.startsWith('access-control-'));

function preflight(s: TestService, path: string, origin: string) {
  return fetch(`${s.url}${path}`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });
}

describe('CORS_ORIGINS', () => {
  it('answers a preflight from an allowed origin before authentication, echoing the origin', async () => {
    const s = await service({ CORS_ORIGINS: `${CONSOLE}, ${DEV}` });
    for (const origin of [CONSOLE, DEV]) {
      const res = await preflight(s, '/v1/connections', origin);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(origin);
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
      const allowed = res.headers.get('access-control-allow-headers')!.toLowerCase();
      for (const h of ['authorization', 'content-type', 'last-event-id'])
        expect(allowed).toContain(h);
      expect(res.headers.get('vary')).toContain('Origin');
      // Bearer tokens, no cookies: credentials are never allowed.
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('gives any other origin no CORS header, on a preflight or a request', async () => {
    const s = await service({ CORS_ORIGINS: CONSOLE });
    for (const origin of ['https://evil.example.com', `${CONSOLE}:8443`, 'null']) {
      const pre = await preflight(s, '/v1/connections', origin);
      expect(pre.status).toBe(204);
      expect(corsHeaders(pre)).toEqual([]);
      const res = await fetch(`${s.url}/v1/connections`, {
        headers: { origin, authorization: `Bearer ${OPERATOR}` },
      });
      expect(res.status).toBe(200);
      expect(corsHeaders(res)).toEqual([]);
    }
  });

  it('echoes an allowed origin on answers, errors included, and exposes X-Request-Id', async () => {
    const s = await service({ CORS_ORIGINS: CONSOLE });
    const ok = await fetch(`${s.url}/v1/connections`, {
      headers: { origin: CONSOLE, authorization: `Bearer ${OPERATOR}` },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    expect(ok.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    // A page must be able to read why it was refused.
    const refused = await fetch(`${s.url}/v1/connections`, { headers: { origin: CONSOLE } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    expect(refused.headers.get('access-control-expose-headers')).toBe(
      'X-Request-Id, Retry-After, WWW-Authenticate',
    );
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="lumilink"');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it('echoes an allowed origin on a live stream (EventSource from another origin)', async () => {
    const s = await service({ CORS_ORIGINS: CONSOLE });
    const abort = new AbortController();
    const res = await fetch(
      `${s.url}/v1/installations/inst-a/transitions/stream?access_token=${OPERATOR}`,
      { headers: { origin: CONSOLE }, signal: abort.signal },
    );
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(res.headers.get('access-control-allow-origin')).toBe(CONSOLE);
    abort.abort();
  });

  it('sends no CORS header at all when CORS_ORIGINS is empty (the default)', async () => {
    const s = await service();
    const pre = await preflight(s, '/v1/connections', CONSOLE);
    expect(corsHeaders(pre)).toEqual([]);
    expect(pre.status).toBe(401);
    const res = await fetch(`${s.url}/v1/connections`, {
      headers: { origin: CONSOLE, authorization: `Bearer ${OPERATOR}` },
    });
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual([]);
  });

  it('refuses a CORS_ORIGINS entry that is not an exact origin, naming the key', () => {
    for (const bad of [
      `${CONSOLE}/`,
      `${CONSOLE}/app`,
      '*',
      'console.example.com',
      'ftp://x.example',
    ]) {
      expect(() => loadConfig({ CORS_ORIGINS: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ CORS_ORIGINS: bad }), bad).toThrow(/CORS_ORIGINS/);
    }
    expect(loadConfig({ CORS_ORIGINS: ` ${CONSOLE} ,${DEV},` }).corsOrigins).toEqual([
      CONSOLE,
      DEV,
    ]);
  });
});
