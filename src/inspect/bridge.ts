/**
 * `GET /inspect`: the page that opens the Stately Inspector (https://stately.ai/inspect) in a
 * window and forwards `/v1/inspect` to it by `postMessage`, as `createBrowserInspector` does
 * (wait for `@statelyai.connected` from the window, then send every frame kept so far and each
 * new one). Served by this service with its script inline: no CDN, and a Content-Security-Policy
 * that allows only that script (by hash), the same origin and the inspector window.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type express from 'express';

export const BRIDGE_PATH = '/inspect';

const page = readFileSync(new URL('./bridge.html', import.meta.url), 'utf8');

/** `'sha256-…'` sources of every inline `<tag>` block of the page. */
function hashes(tag: 'script' | 'style'): string {
  const blocks = page.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'));
  return [...blocks]
    .map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`)
    .join(' ');
}

const POLICY = [
  "default-src 'none'",
  `script-src ${hashes('script')}`,
  `style-src ${hashes('style')}`,
  // The token check (fetch) and the WebSocket; 'self' covers ws: and wss: of this origin.
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * @example
 * mountBridge(app); // GET /inspect
 */
export function mountBridge(app: express.Express): void {
  app.get(BRIDGE_PATH, (_req, res) => {
    res
      .set({
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': POLICY,
        // The address may hold ?access_token= until the page removes it: never pass it on.
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      })
      .send(page);
  });
}
