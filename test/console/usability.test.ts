/**
 * The console as an operator uses it beyond the happy path, in a real browser against the real
 * service on real Redis: a phone-sized window, and the API's own text (reasons, ids) when it is
 * long, hostile or right-to-left.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.ts';
import { connectRedisClient } from '../../src/store/client.ts';
import { OPERATOR, TOKEN_A, type TestService } from '../helpers.ts';
import { OwnRedis, freePort } from '../outage/support.ts';
import {
  buildConsole,
  connectOnAcp,
  launch,
  ok,
  screenshot,
  signIn,
  startConsoleService,
  waitForText,
} from './support.ts';

let s: TestService;
let browser: Browser;
let bundle: { dir: string; remove(): void };

/** A rollback reason as an operator may type it: markup, right-to-left text, one long word. */
const REASON = `"><img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> مرحبا بالعالم ${'x'.repeat(400)}`;

beforeAll(async () => {
  [bundle, browser] = await Promise.all([buildConsole(), launch()]);
  // A small capacity, so that a few connections open a capacity alert (85 % of 20 = 17).
  s = await startConsoleService(bundle.dir, { CAPACITY_PER_WORKER: '20' });
  await connectOnAcp(s, 'inst-a', 'ws-1', 'c1');
  await ok(s, 'POST', '/v1/workspaces/ws-1/rollback', { reason: REASON });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  bundle?.remove();
});

/** Whether the page scrolls sideways: wider than the window. */
const overflows = (page: Page) =>
  page.evaluate<boolean>(
    'document.documentElement.scrollWidth > document.documentElement.clientWidth',
  );

describe('the console in a narrow window and with long, hostile text', () => {
  // Each page, and what shows that it has drawn its data.
  const pages: [string, string][] = [
    ['#/overview', '[data-installation="inst-a"] [data-rollbacks-24h]'],
    ['#/workspaces/ws-1', '[data-section=rollbacks] tbody tr'],
    ['#/connections', 'main tbody tr'],
    ['#/actors/workspace:ws-1', '[data-actor-state]'],
    ['#/capacity/inst-a', '[data-section=alerts]'],
    ['#/dead-letters/inst-a', '[data-section=notification-dead-letters] .toolbar'],
  ];

  it('never makes a page wider than a 375 px window; wide tables scroll in their own box', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.setViewportSize({ width: 375, height: 800 });
    for (const [hash, drawn] of pages) {
      await page.goto(`${s.url}/${hash}`);
      await page.waitForSelector(drawn);
      expect(await overflows(page), hash).toBe(false);
      // The whole top bar stays in the window (it wraps), Sign out included.
      for (const box of await page
        .locator('header a, header button')
        .evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right)))
        expect(box, hash).toBeLessThanOrEqual(375);
    }
    await screenshot(page, 'narrow-workspace');
    await page.goto(`${s.url}/#/connections`);
    await page.waitForSelector('main tbody tr');
    const scroller = page.locator('main .table-scroll').first();
    expect(
      await scroller.evaluate((e) => e.scrollWidth > e.clientWidth),
      'nine columns do not fit 375 px: the table scrolls, not the page',
    ).toBe(true);
    await page.context().close();
  });

  it('shows a long, hostile, right-to-left reason as text, wrapped inside the page', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.goto(`${s.url}/#/workspaces/ws-1`);
    const cell = page.locator('[data-section=rollbacks] tbody tr td:nth-child(3)');
    await cell.waitFor();
    expect(await cell.textContent()).toBe(REASON);
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(await overflows(page)).toBe(false);
    await page.context().close();
  });
});

describe('the console from the keyboard', () => {
  it('keeps the focus on the button it was on when the workspace page redraws', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.goto(`${s.url}/#/workspaces/ws-1`);
    await page.waitForSelector('[data-live="open"]');
    await page.focus('[data-action=migrate-acp]');
    await page.keyboard.press('Tab');
    const focused = () =>
      page.evaluate<string | undefined>('document.activeElement?.dataset.action');
    expect(await focused()).toBe('migrate-http');
    // A transition in the installation redraws the page: wait for the section drawn before it
    // to be replaced.
    await page
      .locator('[data-section=rollbacks]')
      .evaluate((e) => e.setAttribute('data-drawn-before', ''));
    await ok(s, 'POST', '/v1/connections', {
      connectionId: 'c2',
      installationId: 'inst-a',
      workspaceId: 'ws-2',
    });
    await page.locator('[data-drawn-before]').waitFor({ state: 'detached' });
    expect(await focused()).toBe('migrate-http');
    await page.context().close();
  });
});

describe('the console from the keyboard: paging', () => {
  it('keeps the focus on Next while paging through the connections', async () => {
    for (const connectionId of ['q1', 'q2', 'q3'])
      await ok(s, 'POST', '/v1/connections', {
        connectionId,
        installationId: 'inst-q',
        workspaceId: 'ws-q',
      });
    const page = await signIn(browser, s.url, OPERATOR);
    await page.goto(`${s.url}/#/connections?installationId=inst-q&limit=1`);
    const info = page.locator('[data-page-info]');
    await waitForText(page, '[data-page-info]', '1–1');
    await page.focus('[data-page=next]');
    await page.keyboard.press('Enter');
    await waitForText(page, '[data-page-info]', '2–2');
    expect(await info.textContent()).toBe('2–2');
    // Enter again, without tabbing back from the top of the page.
    expect(await page.evaluate<string | undefined>('document.activeElement?.dataset.page')).toBe(
      'next',
    );
    // A page turn keeps the address (as the README says): a reload shows the first page again.
    expect(page.url()).toBe(`${s.url}/#/connections?installationId=inst-q&limit=1`);
    await page.reload();
    await waitForText(page, '[data-page-info]', '1–1');
    await page.context().close();
  });
});

describe('the console for a screen reader', () => {
  it('names its navigation, fields, dialog and current page, and announces refusals', async () => {
    const context = await browser.newContext();
    const anonymous = await context.newPage();
    anonymous.setDefaultTimeout(10_000);
    await anonymous.goto(`${s.url}/`);
    await anonymous.getByRole('textbox', { name: 'API token' }).fill('not-a-valid-token');
    await anonymous.getByRole('button', { name: 'Open console' }).click();
    const refusal = anonymous.getByRole('alert');
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('not valid');
    await context.close();

    const page = await signIn(browser, s.url, OPERATOR);
    await page.goto(`${s.url}/#/connections`);
    await page.waitForSelector('main tbody tr');
    const nav = page.getByRole('navigation', { name: 'Pages' });
    expect(await nav.getByRole('link').count()).toBe(4);
    expect(await nav.getByRole('link', { name: 'Connections' }).getAttribute('aria-current')).toBe(
      'page',
    );
    expect(await nav.getByRole('link', { name: 'Actors' }).getAttribute('aria-current')).toBeNull();
    for (const name of ['installation id', 'workspace id'])
      expect(await page.getByRole('textbox', { name, exact: true }).count(), name).toBe(1);
    for (const name of ['status', 'rows per page', 'sort'])
      expect(await page.getByRole('combobox', { name, exact: true }).count(), name).toBe(1);

    await page.goto(`${s.url}/#/workspaces/ws-1`);
    await page.waitForSelector('[data-ws-state]');
    // ws-1 was rolled back to HTTP: a migration to HTTP is refused (409), and said so aloud.
    await page.getByRole('button', { name: 'Migrate to HTTP…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Migrate ws-1 to HTTP?' });
    await dialog.getByRole('button', { name: 'Migrate to HTTP' }).click();
    const alert = page.locator('[data-command-result]').getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('409 migration-refused');
    await page.context().close();
  });
});

describe('refusals', () => {
  it('says a forbidden command is forbidden, not that the workspace may not exist', async () => {
    const page = await signIn(browser, s.url, TOKEN_A);
    await page.goto(`${s.url}/#/workspaces/ws-2`);
    await page.waitForSelector('[data-ws-state]');
    // An operator-initiated migration needs an operator token: 403 to this installation token.
    await page.click('[data-action=migrate-acp]');
    await page.click('dialog [data-confirm=yes]');
    const alert = page.locator('[data-command-result] [data-error=forbidden]');
    await alert.waitFor();
    expect(await alert.textContent()).toBe(
      'Forbidden (403): only an operator token may start an operator-initiated migration.',
    );
    await page.context().close();
  });
});

describe('timestamps', () => {
  it('shows every time of the workspace and installations pages as YYYY-MM-DD HH:MM:SSZ', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    const rollbacks = (await ok(s, 'GET', '/v1/workspaces/ws-1/rollbacks')) as {
      items: { initiatedAt: string }[];
    };
    const initiatedAt = rollbacks.items[0]!.initiatedAt;
    // As the transport's "since" and the connection table show theirs: no T, no milliseconds.
    const shown = initiatedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
    await page.goto(`${s.url}/#/workspaces/ws-1`);
    await page.waitForSelector('[data-section=rollbacks] tbody tr');
    expect(await page.textContent('[data-section=rollbacks] tbody tr td:first-child')).toBe(shown);
    for (const cell of await page
      .locator('[data-section=migrations] tbody tr td:first-child')
      .allTextContents())
      expect(cell).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    await page.goto(`${s.url}/#/overview`);
    const row = page.locator('[data-installation="inst-a"] tbody tr', { hasText: 'ws-1' });
    await row.waitFor();
    expect(await row.locator('td:first-child').textContent()).toBe(shown);
    await page.context().close();
  });
});

describe('addresses typed or pasted by hand', () => {
  it('says an address with a broken % escape is not valid, instead of a blank page', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${s.url}/#/workspaces/ws-%E0%A4%A`);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toContain('This address is not valid');
    expect(errors).toEqual([]);
    // The next good address works as ever.
    await page.getByRole('link', { name: 'Installations' }).first().click();
    await page.waitForSelector('[data-installation="inst-a"]');
    await page.context().close();
  });

  it("says an address with more than one id is not valid, instead of the first id's page", async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    for (const hash of ['#/workspaces/ws-1/extra', '#/actors/workspace:ws-1/x', '#/overview/x']) {
      await page.goto(`${s.url}/${hash}`);
      const alert = page.locator('[data-error="bad-address"]');
      await alert.waitFor();
      expect(await alert.getAttribute('role')).toBe('alert');
      expect(await alert.textContent()).toContain('a page takes at most one id');
      // Nothing of the page it looked like was drawn.
      expect(await page.locator('h1').count()).toBe(0);
    }
    // The same address without the extra part works as ever.
    await page.goto(`${s.url}/#/workspaces/ws-1`);
    await page.waitForSelector('[data-section=rollbacks] tbody tr');
    await page.context().close();
  });

  it('refuses an installation id no installation can have, names the field and keeps nothing', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.waitForSelector('[data-installation="inst-a"]');
    const field = page.getByRole('textbox', { name: 'installation id' });
    for (const bad of ['bad id!', 'inst-a,inst-added', 'x'.repeat(129)]) {
      await field.fill(bad);
      await field.press('Enter');
      const alert = page.locator('[data-error="bad-installation-id"]');
      await alert.waitFor();
      expect(await alert.getAttribute('role')).toBe('alert');
      expect(await alert.textContent()).toContain('installation id: may contain only letters');
      // Nothing kept: no card for it, now or after a reload (the list is in session storage).
      expect(await page.evaluate('JSON.stringify(sessionStorage)')).not.toContain('installations');
    }
    await page.reload();
    await page.waitForSelector('[data-installation="inst-a"]');
    const shown = await page
      .locator('[data-installation]')
      .evaluateAll((cards) => cards.map((c) => c.getAttribute('data-installation')));
    // Neither a bad id nor a half of the comma-separated one.
    expect(shown).not.toContain('bad id!');
    expect(shown).not.toContain('inst-added');
    expect(shown.filter((id) => !/^[A-Za-z0-9._~-]{1,128}$/.test(id ?? ''))).toEqual([]);
    // A good id is added as before, and the refusal is gone.
    await field.fill('inst-added');
    await field.press('Enter');
    await page.waitForSelector('[data-installation="inst-added"]');
    expect(await page.locator('[data-error="bad-installation-id"]').count()).toBe(0);
    await page.context().close();
  });

  it('neither follows nor re-reads a workspace whose id no workspace can have (400)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.clock.install();
    const reads: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/v1/workspaces/ws%20one')) reads.push(r.url());
    });
    await page.goto(`${s.url}/`);
    await page.fill('input[name=token]', OPERATOR);
    await page.click('button[type=submit]');
    await page.waitForSelector('header nav');
    await page.goto(`${s.url}/#/workspaces/${encodeURIComponent('ws one!')}`);
    await waitForText(page, '[role=alert]', '400 validation-failed');
    expect(await page.$('[data-live]')).toBeNull();
    const before = reads.length;
    // Two of the page's 5 s re-reads, on the page's own clock.
    await page.clock.runFor(11_000);
    expect(reads.length).toBe(before);
    await context.close();
  });
});

describe('the console during a Redis outage', () => {
  it('stops saying "live" while reads answer 503, and follows again once Redis is back', async () => {
    const own = new OwnRedis(await freePort());
    await own.start();
    const client = await connectRedisClient(
      { redisUrl: own.url, clusterNodes: [], commandTimeoutMs: 500 },
      silentLogger,
    );
    const o = await startConsoleService(bundle.dir, { REDIS_COMMAND_TIMEOUT_MS: '500' }, client);
    try {
      await connectOnAcp(o, 'inst-a', 'ws-1', 'c1');
      const page = await signIn(browser, o.url, OPERATOR);
      await page.goto(`${o.url}/#/workspaces/ws-1`);
      await page.waitForSelector('[data-live="open"]');
      own.freeze();
      // The stream to the service stays open, but the page's 5 s re-read answers 503.
      const stale = page.locator('[data-live="stale"]');
      await stale.waitFor({ timeout: 15_000 });
      expect(await stale.textContent()).toBe(
        'not current: the API answered 503 store-unavailable; retrying…',
      );
      await waitForText(page, '[role=alert]', 'store-unavailable');

      own.thaw();
      await page.waitForSelector('[data-live="open"]', { timeout: 15_000 });
      await page.waitForSelector('[data-section=rollbacks]');

      // An actor page opened during an outage is not taken for one this token may not see:
      // its stream is refused (503), which the browser gives up for good; the page does not.
      own.freeze();
      const refusedStream = page.waitForResponse(
        (r) => r.url().includes('/transitions/stream') && r.status() === 503,
      );
      await page.goto(`${o.url}/#/actors/workspace:ws-1`);
      await page.locator('[data-live="stale"]').waitFor();
      await waitForText(page, '[role=alert]', 'store-unavailable');
      await refusedStream;
      const reopened = page.waitForResponse(
        (r) => r.url().includes('/transitions/stream') && r.status() === 200,
        { timeout: 15_000 },
      );
      own.thaw();
      await reopened;
      await page.waitForSelector('[data-actor-state]', { timeout: 15_000 });
      await page.waitForSelector('[data-live="open"]', { timeout: 15_000 });
      await page.context().close();
    } finally {
      own.thaw();
      await o.close();
      await own.destroy();
    }
  }, 90_000);
});

describe('capacity', () => {
  it('shows an open alert at the level that opened it after usage fell back', async () => {
    // 18 of 20 (90 %) opens a warning; all 18 rolled back, usage is 0 % but the alert stays
    // open until usage has stayed below 70 % for 5 minutes.
    const ids = Array.from({ length: 18 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    for (const connectionId of ids)
      await ok(s, 'POST', '/v1/connections', {
        connectionId,
        installationId: 'inst-p',
        workspaceId: 'ws-p',
      });
    for (const id of ids) await ok(s, 'POST', `/v1/connections/${id}/rollback`, { reason: 'test' });
    const capacity = (await ok(s, 'GET', '/v1/installations/inst-p/capacity')) as {
      capacityPercent: number;
      openAlert: { peakPercent: number } | null;
    };
    expect(capacity.capacityPercent).toBe(0);
    expect(capacity.openAlert?.peakPercent).toBe(0.9);

    const page = await signIn(browser, s.url, OPERATOR);
    const alert = page.locator('[data-installation="inst-p"] [data-open-alert]');
    await alert.waitFor();
    // Not "warning 0.0 %": the level of a warning is the usage that raised it.
    expect(await alert.textContent()).toMatch(/^warning peak 90\.0 % since /);
    await page.context().close();
  });
});

describe('signing in when the service does not answer', () => {
  it("says the token could not be checked, in the browser's words, without an error class name", async () => {
    const gone = await startConsoleService(bundle.dir);
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${gone.url}/`);
    await gone.close();
    await page.fill('input[name=token]', OPERATOR);
    await page.click('button[type=submit]');
    const error = page.locator('.error', { hasText: 'Could not check the token:' });
    await error.waitFor();
    expect(await error.textContent()).not.toMatch(/TypeError|ApiError/);
    await context.close();
  });
});
