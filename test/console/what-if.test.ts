/**
 * The what-if panel of the workspace page in a real browser against the real service on real
 * Redis: a rollback driven by real heartbeats, then replayed from the page with a threshold the
 * traffic meets. Its own service, so its workspace does not change the counts console.test.ts
 * checks.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR, type TestService, hb } from '../helpers.ts';
import {
  buildConsole,
  connectOnAcp,
  ok,
  launch,
  screenshot,
  signIn,
  startConsoleService,
  waitForText,
} from './support.ts';

let s: TestService;
let browser: Browser;
let bundle: { dir: string; remove(): void };
let page: Page;

beforeAll(async () => {
  [bundle, browser] = await Promise.all([buildConsole(), launch()]);
  s = await startConsoleService(bundle.dir);
  await connectOnAcp(s, 'inst-wi', 'ws-wi', 'wi-c1');
  s.clock.advance(30_000);
  await ok(s, 'POST', '/v1/connections/wi-c1/heartbeats', hb(s.clock.now(), 400, 0, [20]));
  s.clock.advance(30_000);
  // 1,380 ok of 1,400 in the window = 98.57 % < 99 %: the workspace rolls back.
  const ack = await ok(
    s,
    'POST',
    '/v1/connections/wi-c1/heartbeats',
    hb(s.clock.now(), 980, 20, [40]),
  );
  expect(ack.rollback?.eventId).toBeTruthy();
  s.clock.advance(1_000);
  page = await signIn(browser, s.url, OPERATOR);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  bundle?.remove();
});

describe('what-if panel on the workspace page', () => {
  it('is prefilled from the workspace settings', async () => {
    await page.goto(`${s.url}/#/workspaces/ws-wi`);
    await page.waitForSelector('[data-ws-state="http.cooldown"]');
    await page.waitForSelector('[data-section=what-if] input[name=minSuccessRate]');
    expect(await page.inputValue('[data-section=what-if] input[name=minSuccessRate]')).toBe('0.99');
    const from = Date.parse(await page.inputValue('[data-section=what-if] input[name=from]'));
    // The last 24 h: "from" a day before the browser's now, "to" empty (the service's now).
    expect(Date.now() - from).toBeGreaterThanOrEqual(24 * 3_600_000);
    expect(Date.now() - from).toBeLessThan(25 * 3_600_000);
    expect(await page.inputValue('[data-section=what-if] input[name=to]')).toBe('');
  });

  it('shows the recorded rollback beside none with a threshold the traffic meets', async () => {
    await page.fill('[data-section=what-if] input[name=minSuccessRate]', '0.97');
    await page.click('[data-section=what-if] button[type=submit]');
    await waitForText(page, '[data-what-if-summary]', 'With these settings: 0 rollbacks');
    const summary = await page.textContent('[data-what-if-summary]');
    expect(summary).toContain('As recorded: 1 rollbacks');
    expect(summary).toContain('final state http.cooldown');
    expect(summary).toContain('final state acp');
    expect(summary).toContain('First difference at');

    // The rollback row: recorded on the left, nothing on the right.
    const row = page.locator('[data-what-if-result] tbody tr', {
      has: page.locator('td:nth-child(2) [data-decision=rollback]'),
    });
    await expect(row.count()).resolves.toBe(1);
    expect(await row.locator('td:nth-child(2)').textContent()).toContain('98.57 % of 1,400');
    expect(await row.locator('td:nth-child(2)').textContent()).toContain('auto-threshold');
    expect(await row.locator('td:nth-child(3)').textContent()).toBe('–');
    expect(
      await page.locator('[data-what-if-result] td:nth-child(3) [data-decision=rollback]').count(),
    ).toBe(0);
    // The migration that preceded it is on both sides.
    expect(
      await page
        .locator('[data-what-if-result] td:nth-child(3) [data-decision=migration-started]')
        .count(),
    ).toBe(1);
    await screenshot(page, '12-workspace-what-if');
  });

  it('keeps the answer when the page redraws', async () => {
    // A new connection is a transition of the installation: the page redraws on it.
    await ok(s, 'POST', '/v1/connections', {
      connectionId: 'wi-c2',
      installationId: 'inst-wi',
      workspaceId: 'ws-wi',
    });
    await waitForText(page, 'main', 'connecting 1');
    expect(await page.textContent('[data-what-if-summary]')).toContain('0 rollbacks');
    expect(await page.inputValue('[data-section=what-if] input[name=minSuccessRate]')).toBe('0.97');
  });

  it("shows the API's refusal, naming the field", async () => {
    await page.fill('[data-section=what-if] input[name=to]', '2020-01-01T00:00:00Z');
    await page.click('[data-section=what-if] button[type=submit]');
    await waitForText(page, '[data-what-if-result] .error', 'validation-failed');
    const text = await page.textContent('[data-what-if-result] .error');
    expect(text).toContain('400');
    expect(text).toContain('must be after from');
    expect(await page.$('[data-what-if-summary]')).toBeNull();
  });

  it('takes a success rate as a fraction, and a value the browser refuses clears the last answer', async () => {
    const rate = '[data-section=what-if] input[name=minSuccessRate]';
    expect(await page.getAttribute(rate, 'max')).toBe('1');
    // The error of the test above is on screen; 99 (a percentage) is refused by the form itself.
    expect(await page.$('[data-what-if-result] .error')).not.toBeNull();
    let asked = 0;
    page.on('request', (r) => {
      if (r.url().endsWith('/what-if')) asked += 1;
    });
    await page.fill(rate, '99');
    await page.click('[data-section=what-if] button[type=submit]');
    await page.locator('[data-what-if-result] .error').waitFor({ state: 'detached' });
    expect(
      await page.evaluate<boolean>(`document.querySelector('${rate}').validity.rangeOverflow`),
    ).toBe(true);
    expect(asked).toBe(0);
    await page.fill(rate, '0.99');
  });
});
