/**
 * The operator console in a real browser (headless Chromium through playwright-core) against
 * the real service on real Redis: sign-in, a rollback appearing live, an operator command,
 * tenancy, and a screenshot of every page (test-artifacts/console/).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR, TOKEN_A, type TestService, hb } from '../helpers.ts';
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
let operator: Page;

/** A connection on ACP in a workspace that migrated to ACP, with its first heartbeat. */
async function onAcp(installationId: string, workspaceId: string, connectionId: string) {
  await connectOnAcp(s, installationId, workspaceId, connectionId);
  await ok(
    s,
    'POST',
    `/v1/connections/${connectionId}/heartbeats`,
    hb(s.clock.now(), 400, 0, [20]),
  );
}

beforeAll(async () => {
  [bundle, browser] = await Promise.all([buildConsole(), launch()]);
  // A small capacity, so that a few connections open a capacity alert (85 % of 20 = 17).
  s = await startConsoleService(bundle.dir, { CAPACITY_PER_WORKER: '20' });
  await onAcp('inst-a', 'ws-1', 'c1');
  await onAcp('inst-a', 'ws-2', 'c2');
  await ok(s, 'POST', '/v1/connections', {
    connectionId: 'c3',
    installationId: 'inst-a',
    workspaceId: 'ws-2',
  });
  await ok(s, 'POST', '/v1/connections', {
    connectionId: 'cb1',
    installationId: 'inst-b',
    workspaceId: 'ws-b',
  });
  for (let i = 0; i < 18; i++) {
    await ok(s, 'POST', '/v1/connections', {
      connectionId: `cc${String(i).padStart(2, '0')}`,
      installationId: 'inst-c',
      workspaceId: 'ws-c',
    });
  }
  await ok(s, 'POST', '/v1/sessions/s1/automation', {
    installationId: 'inst-a',
    workspaceId: 'ws-1',
    status: 'skipped',
    skipReason: 'rate-limited',
    toastMessage: 'GitHub automation paused: rate limit reached.',
    transcriptNote: 'Automation skipped: GitHub rate limit reached; it resumes after the reset.',
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  bundle?.remove();
});

describe('operator console', () => {
  it('shows only the token form without a token, and the installations after sign-in', async () => {
    const context = await browser.newContext();
    const anonymous = await context.newPage();
    const refused: string[] = [];
    anonymous.on('response', (r) => {
      if (r.status() >= 400) refused.push(`${r.status()} ${new URL(r.url()).pathname}`);
    });
    await anonymous.goto(`${s.url}/`);
    await anonymous.waitForSelector('input[name=token]');
    // The page asks for nothing the service does not have. It names its icon, so a browser does
    // not ask for /favicon.ico after loading it (Chromium does, for a page without one).
    await anonymous.waitForLoadState('load');
    expect(refused).toEqual([]);
    expect(await anonymous.getAttribute('link[rel=icon]', 'href')).toBe('data:,');
    expect(await anonymous.textContent('body')).not.toContain('inst-a');
    await screenshot(anonymous, '00-sign-in');
    await anonymous.fill('input[name=token]', 'not-a-valid-token');
    await anonymous.click('button[type=submit]');
    await waitForText(anonymous, '.error', 'refused (401)');
    expect(await anonymous.evaluate('sessionStorage.length')).toBe(0);
    expect(await anonymous.textContent('body')).not.toContain('inst-a');
    await context.close();

    operator = await signIn(browser, s.url, OPERATOR);
    await operator.waitForSelector('[data-installation="inst-a"] [data-rollbacks-24h]');
    await operator.waitForSelector('[data-installation="inst-b"]');
    expect(await operator.textContent('[data-installation="inst-a"]')).toContain('on ACP');
    // 18 of 20: the capacity alert is open, and the gauge shows it.
    await operator.waitForSelector('[data-installation="inst-c"] [data-open-alert]');
    expect(await operator.textContent('[data-installation="inst-c"]')).toContain('90.0 %');
    await screenshot(operator, '01-installations');
  });

  it('shows a rollback triggered through the API live on the workspace page', async () => {
    await operator.goto(`${s.url}/#/workspaces/ws-1`);
    await operator.waitForSelector('[data-ws-state="acp"]');
    await operator.waitForSelector('[data-live="open"]');
    expect(await operator.textContent('[data-section=rollbacks]')).toContain('no rollbacks');

    // 980 ok + 20 failed = 98 % < 99 % over 1,000 operations: the workspace rolls back.
    const ack = await ok(
      s,
      'POST',
      '/v1/connections/c1/heartbeats',
      hb(s.clock.now(), 980, 20, [40]),
    );
    expect(ack.rollback?.eventId).toBeTruthy();

    await operator.waitForSelector('[data-ws-state="http.cooldown"]');
    await waitForText(operator, '[data-section=rollbacks]', 'auto-threshold');
    expect(await operator.textContent('[data-live-feed]')).toContain('workspace:ws-1');
    await screenshot(operator, '02-workspace-rolled-back');

    // Evidence the operator opened stays open when the page redraws for the next transition.
    await operator.click('[data-section=rollbacks] details summary');
    await ok(s, 'POST', '/v1/connections', {
      connectionId: 'c5',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    await waitForText(operator, 'main', 'connecting 1');
    expect(await operator.textContent('[data-section=rollbacks] details[open]')).toContain(
      'metricsSnapshot',
    );
  });

  it('runs an operator command from the page after confirmation', async () => {
    await operator.goto(`${s.url}/#/workspaces/ws-2`);
    await operator.waitForSelector('[data-ws-state="acp"]');
    await operator.click('[data-action=rollback]');
    await operator.waitForSelector('dialog[open] input[name=reason]');
    await screenshot(operator, '03-confirm-rollback');
    await operator.fill('dialog[open] input[name=reason]', 'operator test from the console');
    await operator.click('dialog[open] [data-confirm=yes]');
    await operator.waitForSelector('[data-command-ok="roll back"]');

    const rollbacks = await ok(s, 'GET', '/v1/workspaces/ws-2/rollbacks');
    expect(rollbacks.items[0]).toMatchObject({
      trigger: 'manual-operator',
      reason: 'operator test from the console',
    });
    expect((await ok(s, 'GET', '/v1/workspaces/ws-2')).state).toBe('http.cooldown');
    await operator.waitForSelector('[data-ws-state="http.cooldown"]');
  });

  it('does nothing when the confirmation is cancelled', async () => {
    await operator.click('[data-action=migrate-acp]');
    await operator.waitForSelector('dialog[open]');
    await operator.click('dialog[open] button[type=button]');
    await operator.waitForSelector('dialog[open]', { state: 'detached' });
    expect((await ok(s, 'GET', '/v1/workspaces/ws-2')).state).toBe('http.cooldown');
  });

  it('pages through the connection table, filtered and sorted', async () => {
    await operator.goto(`${s.url}/#/connections?installationId=inst-a&limit=50&sort=rate-asc`);
    await operator.waitForSelector('a[href="#/actors/connection:c3"]');
    expect(await operator.textContent('main')).not.toContain('cb1');
    await screenshot(operator, '04-connections');
    // inst-a 4 (c1, c2, c3, c5) + inst-b 1 + inst-c 18 = 23 connections, 10 per page, through the API's cursor.
    await operator.goto(`${s.url}/#/connections?limit=10`);
    await waitForText(operator, '[data-page-info]', '1–10');
    await operator.click('[data-page=next]');
    await waitForText(operator, '[data-page-info]', '11–20');
    await operator.click('[data-page=next]');
    await waitForText(operator, '[data-page-info]', '21–23');
    expect(await operator.isDisabled('[data-page=next]')).toBe(true);
    await operator.click('[data-page=prev]');
    await waitForText(operator, '[data-page-info]', '11–20');

    // A page size from the address that is not in the list is used, shown, and numbered by.
    await operator.goto(`${s.url}/#/connections?limit=7`);
    await waitForText(operator, '[data-page-info]', '1–7');
    expect(await operator.inputValue('select[name=limit]')).toBe('7');
    await operator.click('[data-page=next]');
    await waitForText(operator, '[data-page-info]', '8–14');
    expect(await operator.locator('main tbody tr').count()).toBe(7);
    // One the API would refuse is read as the default, 50, and shown so.
    await operator.goto(`${s.url}/#/connections?limit=5000`);
    await waitForText(operator, '[data-page-info]', '1–23');
    expect(await operator.inputValue('select[name=limit]')).toBe('50');

    await operator.goto(`${s.url}/#/connections?status=connecting&installationId=inst-b`);
    await operator.waitForSelector('a[href="#/actors/connection:cb1"]');
    expect(await operator.textContent('main')).not.toContain('#/actors/connection:c1"');
  });

  it('draws an actor chart with its current state and timers, and follows it live', async () => {
    await operator.goto(`${s.url}/#/actors/workspace:ws-1`);
    await operator.waitForSelector('[data-state="http.cooldown"][data-active="true"]');
    await operator.waitForSelector('[data-countdown]');
    await operator.waitForSelector('[data-live="open"]');
    expect(await operator.getAttribute('[data-state="acp"]', 'data-active')).toBe('false');
    await screenshot(operator, '05-actor-workspace');

    await ok(s, 'POST', '/v1/connections', {
      connectionId: 'c4',
      installationId: 'inst-a',
      workspaceId: 'ws-3',
    });
    await operator.goto(`${s.url}/#/actors/connection:c4`);
    await operator.waitForSelector('[data-state="connecting"][data-active="true"]');
    await operator.waitForSelector('[data-live="open"]');
    await ok(s, 'POST', '/v1/connections/c4/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    await operator.waitForSelector('[data-state="connected"][data-active="true"]');
    expect(await operator.textContent('[data-live-feed]')).toContain('connecting → connected');
    await screenshot(operator, '06-actor-connection');
  });

  it('shows capacity with its alert history, sessions, and dead letters', async () => {
    await operator.goto(`${s.url}/#/capacity/inst-c`);
    await waitForText(operator, '[data-section=alerts]', 'warning');
    await screenshot(operator, '07-capacity');

    await operator.goto(`${s.url}/#/sessions/s1`);
    await waitForText(operator, '[data-section=transcript]', 'rate limit');
    await waitForText(operator, '[data-section=automation]', 'rate-limited');
    await screenshot(operator, '08-session');

    // A timer the poller could not apply, moved aside as the poller does.
    const member = 'workspace:ws-9|xstate.after.cooldownDelay.workspace.http.cooldown';
    const due = s.clock.now() - 60_000;
    await s.redis.zadd(s.store.keys.timers('inst-a'), due, member);
    await s.store.deadLetterTimer('inst-a', member, due, 'Error: actor workspace:ws-9 not found');
    await operator.goto(`${s.url}/#/dead-letters/inst-a`);
    await waitForText(operator, '[data-section=engine-dead-letters]', 'workspace:ws-9');
    await waitForText(
      operator,
      '[data-section=notification-dead-letters]',
      'no dead notifications',
    );
    await screenshot(operator, '09-dead-letters');
    await operator.click('[data-section=engine-dead-letters] button:has-text("Retry")');
    await operator.click('dialog[open] [data-confirm=yes]');
    await waitForText(operator, '[data-section=engine-dead-letters]', 'no dead timers');
    expect((await s.store.dueTimers('inst-a', s.clock.now(), 10)).map((t) => t.member)).toEqual([
      member,
    ]);
    // Put back as it was found: no poller runs here, but keep the store tidy for later tests.
    await s.redis.zrem(s.store.keys.timers('inst-a'), member);
  });

  it('counts the two rollbacks of the last 24 h on the installations page', async () => {
    await operator.goto(`${s.url}/#/overview`);
    await operator.waitForSelector('[data-installation="inst-a"] [data-rollbacks-24h="2"]');
    const card = await operator.textContent('[data-installation="inst-a"]');
    expect(card).toContain('auto-threshold');
    expect(card).toContain('manual-operator');
    await screenshot(operator, '11-installations-after-rollbacks');
  });

  it('stops reading the API on Sign out, on the installations page too', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    // The page's clock: the overview's 30 s redraw runs when the test says so.
    await page.clock.install();
    await page.goto(`${s.url}/#/overview`);
    await page.fill('input[name=token]', OPERATOR);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-installation="inst-a"] [data-rollbacks-24h]');
    // Every call the page makes from now on. A timer's redraw calls fetch synchronously, so
    // once runFor returns, a redraw that ran is in this list.
    await page.evaluate(`(() => {
      window.calls = [];
      const real = window.fetch.bind(window);
      window.fetch = (input, init) => {
        window.calls.push(String(input));
        return real(input, init);
      };
    })()`);
    // Sign out where the hash stays #/overview, and start typing the next token.
    await page.click('header button:has-text("Sign out")');
    await page.fill('input[name=token]', 'half-typed');
    await page.clock.runFor(31_000);
    expect(await page.evaluate('window.calls')).toEqual([]);
    expect(await page.inputValue('input[name=token]')).toBe('half-typed');
    expect(await page.textContent('main')).not.toContain('refused');
    await context.close();
  });

  it('forgets the installations added by id on Sign out: the next token does not see them', async () => {
    const page = await signIn(browser, s.url, OPERATOR);
    await page.waitForSelector('[data-installation="inst-a"] [data-rollbacks-24h]');
    await page.fill('input[name=installationId]', 'inst-typed-by-operator');
    await page.click('button:has-text("Show")');
    await page.waitForSelector('[data-installation="inst-typed-by-operator"]');
    await page.click('header button:has-text("Sign out")');
    // The next person on this tab signs in with an installation token.
    await page.fill('input[name=token]', TOKEN_A);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-installation="inst-a"] [data-rollbacks-24h]');
    expect(await page.$('[data-installation="inst-typed-by-operator"]')).toBeNull();
    expect(await page.textContent('main')).not.toContain('inst-typed-by-operator');
    await page.context().close();
  });

  it('shows an installation token only its own installations', async () => {
    const tenant = await signIn(browser, s.url, TOKEN_A);
    await tenant.waitForSelector('[data-installation="inst-a"] [data-rollbacks-24h]');
    expect(await tenant.$('[data-installation="inst-b"]')).toBeNull();
    expect(await tenant.textContent('main')).not.toContain('ws-b');

    await tenant.goto(`${s.url}/#/workspaces/ws-b`);
    await tenant.waitForSelector('[data-error=not-found-or-forbidden]');
    expect(await tenant.$('[data-ws-state]')).toBeNull();
    // A refused workspace has no stream to follow: the page does not say it is about to.
    expect(await tenant.$('[data-live]')).toBeNull();
    expect(await tenant.textContent('main')).not.toContain('live stream');
    await screenshot(tenant, '10-tenant-forbidden');

    await tenant.goto(`${s.url}/#/capacity/inst-b`);
    await tenant.waitForSelector('[data-error=not-found-or-forbidden]');
    await tenant.goto(`${s.url}/#/actors/connection:cb1`);
    await tenant.waitForSelector('[data-error=not-found-or-forbidden]');
    expect(await tenant.textContent('main')).not.toContain('connecting');
    await tenant.context().close();
  });

  it('serves the page with a content security policy that allows only itself', async () => {
    const res = await fetch(`${s.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await res.text()).toContain('<script type="module"');
  });

  it('is one self-contained bundle: no CDN, no external font or script', () => {
    const files = readdirSync(bundle.dir, { recursive: true, withFileTypes: true }).filter((e) =>
      e.isFile(),
    );
    expect(files.map((f) => f.name).sort()).toEqual(
      expect.arrayContaining(['index.html', expect.stringMatching(/\.js$/)]),
    );
    for (const f of files) {
      const text = readFileSync(join(f.parentPath, f.name), 'utf8');
      // The SVG namespace is an identifier, not a download.
      const urls = (text.match(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*/gi) ?? []).filter(
        (u) => !u.includes('www.w3.org/'),
      );
      expect(urls, f.name).toEqual([]);
    }
  });

  it('saved a screenshot of every page', () => {
    for (const name of [
      '01-installations',
      '02-workspace-rolled-back',
      '04-connections',
      '05-actor-workspace',
      '07-capacity',
      '08-session',
      '09-dead-letters',
    ]) {
      expect(existsSync(`test-artifacts/console/${name}.png`), name).toBe(true);
    }
  });
});
