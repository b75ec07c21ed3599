/**
 * The capacity page in a real browser with more alerts than one page holds: 51 alerts (a
 * connection registered at a capacity of 1 opens one, its rollback and 5 minutes below the
 * resolve ratio close it), shown 50 a page, newest first, with Previous/Next through the API's
 * cursor, so the oldest alert is reachable from the page.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR, type TestService } from '../helpers.ts';
import { buildConsole, launch, ok, signIn, startConsoleService, waitForText } from './support.ts';

let s: TestService;
let browser: Browser;
let bundle: { dir: string; remove(): void };
/** One more than the page's 50 rows, so that the history has a second page. */
const ALERTS = 51;
const SECTION = '[data-section=alerts]';
const MIN = 60_000;
/** The alert ids as the API lists them, newest first. */
const ids: string[] = [];

beforeAll(async () => {
  [bundle, browser] = await Promise.all([buildConsole(), launch()]);
  s = await startConsoleService(bundle.dir, {
    CAPACITY_PER_WORKER: '1',
    HANDSHAKE_TIMEOUT_MS: String(24 * 60 * MIN),
  });
  for (let i = 0; i < ALERTS; i++) {
    await ok(s, 'POST', '/v1/connections', {
      connectionId: `cap-${i}`,
      installationId: 'inst-a',
      workspaceId: 'ws-cap',
    });
    await s.engine.idle();
    await ok(s, 'POST', `/v1/connections/cap-${i}/rollback`, { reason: 'test' });
    await s.engine.idle();
    s.clock.advance(5 * MIN);
    expect(await s.engine.fireDueTimers(), 'the alert resolves').toBe(1);
    await s.engine.idle();
  }
  for (let cursor: string | null = null, page = 0; page < 2; page++) {
    const res: { items: { alertId: string }[]; nextCursor: string | null } = await ok(
      s,
      'GET',
      `/v1/installations/inst-a/capacity/alerts?limit=500${cursor ? `&cursor=${cursor}` : ''}`,
    );
    ids.push(...res.items.map((a) => a.alertId));
    cursor = res.nextCursor;
    if (!cursor) break;
  }
  expect(ids).toHaveLength(ALERTS);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  bundle?.remove();
});

describe('the capacity alert history on the console', () => {
  it('pages through every alert, newest first, with Previous and Next', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.goto(`${s.url}/#/capacity/inst-a`);
    const shown = page.locator(`${SECTION} tbody tr td:first-child`);
    await waitForText(page, `${SECTION} [data-page-info]`, '1–50');
    expect(await shown.allTextContents()).toEqual(ids.slice(0, 50));
    expect(await page.isDisabled(`${SECTION} [data-page=prev]`)).toBe(true);
    await page.click(`${SECTION} [data-page=next]`);
    await waitForText(page, `${SECTION} [data-page-info]`, '51–51');
    // The oldest alert, which the page did not show before it paged.
    expect(await shown.allTextContents()).toEqual(ids.slice(50));
    expect(await page.isDisabled(`${SECTION} [data-page=next]`)).toBe(true);
    await page.click(`${SECTION} [data-page=prev]`);
    await waitForText(page, `${SECTION} [data-page-info]`, '1–50');
    expect(await shown.allTextContents()).toEqual(ids.slice(0, 50));
    await page.context().close();
  });

  it('keeps the keyboard on the pager: Enter on Next, then on Previous, pages back and forth', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.goto(`${s.url}/#/capacity/inst-a`);
    const focusedPager = () =>
      page.evaluate<string | null>('document.activeElement?.getAttribute("data-page") ?? null');
    await waitForText(page, `${SECTION} [data-page-info]`, '1–50');
    await page.focus(`${SECTION} [data-page=next]`);
    await page.keyboard.press('Enter');
    await waitForText(page, `${SECTION} [data-page-info]`, '51–51');
    // Next is disabled on the last page: Previous, beside it, has the focus.
    // (A locator, not waitForFunction: the console's CSP refuses the eval it polls with.)
    await page.locator(`${SECTION} [data-page=prev]:focus`).waitFor();
    expect(await focusedPager()).toBe('prev');
    await page.keyboard.press('Enter');
    await waitForText(page, `${SECTION} [data-page-info]`, '1–50');
    await page.locator(`${SECTION} [data-page=next]:focus`).waitFor();
    expect(await focusedPager()).toBe('next');
    await page.context().close();
  });
});
