/**
 * The dead-letters page in a real browser with real dead notification deliveries (a webhook
 * receiver that always answers 500, one attempt each): the delivery's last error as text,
 * Previous/Next through the list's cursor, and Retry/Discard offered to operator tokens only.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationService } from '../../src/notifications/service.ts';
import { SERVICES } from '../../src/notifications/types.ts';
import { OPERATOR, TOKEN_A, type TestService } from '../helpers.ts';
import { WEBHOOK_SECRET, putSettings, request, startReceiver } from '../notifications/support.ts';
import { buildConsole, launch, signIn, startConsoleService, waitForText } from './support.ts';

let s: TestService;
let browser: Browser;
let bundle: { dir: string; remove(): void };
let receiver: Awaited<ReturnType<typeof startReceiver>>;
/** One more than the page's 50 rows, so that the list has a second page. */
const DEAD = 51;
const SECTION = '[data-section=notification-dead-letters]';

beforeAll(async () => {
  [bundle, browser, receiver] = await Promise.all([buildConsole(), launch(), startReceiver([500])]);
  s = await startConsoleService(bundle.dir, { WEBHOOK_SECRET, NOTIFY_MAX_ATTEMPTS: '1' });
  const notifier = s.modules.services.get(SERVICES.notifications) as NotificationService;
  await putSettings(s, { channels: { rollback: ['webhook'] }, webhookUrls: [receiver.url] });
  for (let i = 0; i < DEAD; i++) await notifier.notify(request());
  let dead = 0;
  while (dead < DEAD) {
    const r = await notifier.processDue();
    expect(r.attempted, 'every delivery is attempted').toBeGreaterThan(0);
    dead += r.deadLettered;
  }
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  await receiver?.close();
  bundle?.remove();
});

describe('dead notification deliveries on the console', () => {
  it("shows a delivery's last error as its text", async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.goto(`${s.url}/#/dead-letters/inst-a`);
    const lastErrors = page.locator(`${SECTION} tbody tr td:nth-child(5)`);
    await lastErrors.first().waitFor();
    expect(await page.textContent(`${SECTION} thead th:nth-child(5)`)).toBe('last error');
    const errors = await lastErrors.allTextContents();
    expect(errors).toHaveLength(50);
    for (const e of errors) expect(e).toBe('HTTP 500 Internal Server Error');
    await page.context().close();
  });

  it('pages through the notification dead letters with Previous and Next', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.goto(`${s.url}/#/dead-letters/inst-a`);
    const rows = page.locator(`${SECTION} tbody tr`);
    await waitForText(page, `${SECTION} [data-page-info]`, '1–50');
    expect(await rows.count()).toBe(50);
    const first = await rows.first().textContent();
    expect(await page.isDisabled(`${SECTION} [data-page=prev]`)).toBe(true);
    await page.click(`${SECTION} [data-page=next]`);
    await waitForText(page, `${SECTION} [data-page-info]`, '51–51');
    expect(await rows.count()).toBe(1);
    expect(await page.isDisabled(`${SECTION} [data-page=next]`)).toBe(true);
    await page.click(`${SECTION} [data-page=prev]`);
    await waitForText(page, `${SECTION} [data-page-info]`, '1–50');
    expect(await rows.count()).toBe(50);
    expect(await rows.first().textContent()).toBe(first);
    // An operator token is offered both actions on every delivery.
    expect(await page.locator(`${SECTION} button:has-text("Retry")`).count()).toBe(50);
    expect(await page.locator(`${SECTION} button:has-text("Discard")`).count()).toBe(50);
    await page.context().close();
  });

  it('offers no Retry or Discard to an installation token, and says why', async () => {
    const page = await signIn(browser, s.url, TOKEN_A);
    const refused: string[] = [];
    page.on('response', (r) => {
      if (r.status() === 403) refused.push(new URL(r.url()).pathname);
    });
    await page.goto(`${s.url}/#/dead-letters/inst-a`);
    // The installation's own deliveries are listed for it...
    await waitForText(page, `${SECTION} [data-page-info]`, '1–50');
    expect(await page.locator(`${SECTION} tbody tr`).count()).toBe(50);
    // ...but the actions it would be refused (403) are not offered, and the page says why.
    expect(await page.locator(`${SECTION} button:has-text("Retry")`).count()).toBe(0);
    expect(await page.locator(`${SECTION} button:has-text("Discard")`).count()).toBe(0);
    expect(await page.textContent(`${SECTION} [data-operator-only]`)).toContain('operator token');
    await page.locator('[data-section=engine-dead-letters] [data-error]').waitFor();
    // The only refusal is the operator-only list of timers and effects the page read.
    expect(refused).toEqual(['/v1/installations/inst-a/dead-letters']);
    await page.context().close();
  });

  it('gives the focus to the answer after a discard, not back to the start of the page', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.goto(`${s.url}/#/dead-letters/inst-a`);
    await waitForText(page, `${SECTION} [data-page-info]`, '1–50');
    await page.locator(`${SECTION} button:has-text("Discard")`).first().click();
    await page.click('dialog[open] [data-confirm=yes]');
    await waitForText(page, '[role=status]', 'Discarded');
    // The focus moves once the list is drawn again (the row left): wait for that, no sleep.
    // (A locator, not waitForFunction: the console's CSP refuses the eval that one polls with
    // when the condition is not already true, so it failed whenever the redraw was slow.)
    await page.locator('[role=status]:focus').waitFor();
    const focused = await page.evaluate<{ role: string | null; text: string | null }>(
      '({ role: document.activeElement?.getAttribute("role") ?? null, text: document.activeElement?.textContent ?? null })',
    );
    expect(focused.role).toBe('status');
    expect(focused.text).toMatch(/^Discarded \S+\.$/);
    await page.context().close();
  });
});
