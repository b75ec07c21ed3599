/**
 * Console test plumbing: the bundle built once per test file into a temporary directory (so a
 * concurrent `npm run build`, which empties dist/, cannot pull it away), the real service
 * serving it, and one headless Chromium per file.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { build } from 'vite';
import { expect } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { createConsoleModule } from '../../src/console/module.ts';
import { MODULES } from '../../src/modules.ts';
import type { RedisClient } from '../../src/store/client.ts';
import { type TestService, startService } from '../helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const ARTIFACTS = join(root, 'test-artifacts', 'console');

export async function buildConsole(): Promise<{ dir: string; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'lumilink-console-'));
  await build({
    configFile: join(root, 'vite.console.config.ts'),
    logLevel: 'warn',
    build: { outDir: dir, emptyOutDir: true },
  });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The real service (real Redis, clock at the real time) serving the console from `dir`; on
 * `redis` when given (a client of a server the test stops or freezes itself).
 */
export function startConsoleService(
  dir: string,
  env: Record<string, string> = {},
  redis?: RedisClient,
): Promise<TestService> {
  const modules = [...MODULES.filter((m) => m.name !== 'console'), createConsoleModule(dir)];
  return startService(env, new ManualClock(Date.now()), modules, redis);
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
}

/** Saves a full-page screenshot as a test artifact. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Opens the console in a fresh context (its own session storage) and signs in. */
export async function signIn(browser: Browser, url: string, token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // Below the test timeout, so that a failure names the selector it waited for.
  page.setDefaultTimeout(10_000);
  await page.goto(`${url}/`);
  await page.fill('input[name=token]', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('header a[href="#/connections"]');
  return page;
}

/** Waits until an element matching `selector` contains `text` (no sleep: Playwright polls). */
export async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.locator(selector, { hasText: text }).first().waitFor();
}

/** Sends a request that must succeed (2xx) and returns its body. */
export async function ok(s: TestService, method: string, path: string, body?: unknown) {
  const res = await s.api(method, path, body);
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
  return res.body;
}

/** A connection registered and handshaken in a workspace that an operator migrated to ACP. */
export async function connectOnAcp(
  s: TestService,
  installationId: string,
  workspaceId: string,
  connectionId: string,
): Promise<void> {
  await ok(s, 'POST', '/v1/connections', { connectionId, installationId, workspaceId });
  await ok(s, 'POST', `/v1/workspaces/${workspaceId}/migrations`, {
    toProtocol: 'acp',
    initiatedBy: 'operator',
  });
  await ok(s, 'POST', `/v1/connections/${connectionId}/handshake`, {
    protocolVersion: '1.2.0',
    negotiatedCapabilities: ['fs'],
  });
}
