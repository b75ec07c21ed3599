/**
 * The docs page at /docs in a real browser (Chromium through playwright-core): it renders the
 * document's operations from files this service serves, and no request leaves the service
 * (no CDN, no fonts, no validator badge), so it works offline.
 */
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestService, startService } from '../helpers.ts';

let service: TestService;
let browser: Browser;

beforeAll(async () => {
  service = await startService();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
});

afterAll(async () => {
  await browser?.close();
  await service.close();
});

describe('GET /docs', () => {
  it('renders every tag and operation from /openapi.json without leaving the service', async () => {
    const page = await browser.newPage();
    const requests: string[] = [];
    const foreign: string[] = [];
    page.on('request', (r) => {
      requests.push(r.url());
      if (!r.url().startsWith(service.url) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    // Anything that tries to leave the service fails, as it would offline.
    await page.route(
      (url) => !url.toString().startsWith(service.url),
      (route) => route.abort(),
    );
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });

    const res = await page.goto(`${service.url}/docs`);
    expect(res?.status()).toBe(200);
    await page.locator('.opblock').first().waitFor({ timeout: 20_000 });

    const doc = (await (await fetch(`${service.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.values(doc.paths).reduce(
      (n, item) => n + Object.keys(item).length,
      0,
    );
    expect(await page.locator('.opblock').count()).toBe(operations);
    await expect
      .poll(() => page.locator('.opblock-summary-path').allTextContents())
      .toContain('/v1/connections/{connectionId}/heartbeats');
    expect(await page.locator('.info .title').textContent()).toContain('LumiLink');
    expect(foreign).toEqual([]);
    expect(requests).toContain(`${service.url}/openapi.json`);
    // It names its icon, so Chromium does not ask for /favicon.ico (a 404, a console error).
    expect(
      await page.evaluate("document.querySelector('link[rel=icon]')?.getAttribute('href')"),
    ).toBe('data:,');
    expect(errors).toEqual([]);
  });

  it('serves only its own assets', async () => {
    const css = await fetch(`${service.url}/docs/assets/swagger-ui.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
    const other = await fetch(`${service.url}/docs/assets/package.json`);
    expect(other.status).toBe(404);
    for (const name of ['..%2Fpackage.json', 'constructor', '__proto__', 'toString']) {
      const res = await fetch(`${service.url}/docs/assets/${name}`);
      expect(res.status, name).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not-found');
    }
  });
});
