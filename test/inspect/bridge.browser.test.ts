/**
 * The bridge page at /inspect, in real Chromium, forwarding to the real `createBrowserReceiver`.
 * The inspector window's address (https://stately.ai/inspect) is answered by the test with a
 * page that runs the package's receiver (bundled from node_modules with esbuild): the bridge
 * talks to it exactly as it would to Stately's, handshake included, and no request leaves the
 * machine.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { WebSocket } from 'ws';
import { INSPECTOR_SOCKETS, inspectModule } from '../../src/inspect/module.ts';
import { STATELY_INSPECT_VERSION } from '../../src/inspect/frames.ts';
import { TOKEN_A, type TestService, startService } from '../helpers.ts';

const INSPECTOR = 'https://stately.ai/inspect';

/** What the stand-in inspector window runs: the package's receiver, keeping what it accepts. */
const RECEIVER_ENTRY = `
import { createBrowserReceiver } from '@statelyai/inspect';
window.received = [];
createBrowserReceiver().subscribe((event) => window.received.push(event));
`;

/** What the stand-in inspector accepted so far (evaluated in its window). */
const received = (): any[] => (globalThis as any).received;

let browser: Browser;
let receiverScript: string;

beforeAll(async () => {
  const bundled = await build({
    stdin: {
      contents: RECEIVER_ENTRY,
      resolveDir: fileURLToPath(new URL('../..', import.meta.url)),
      loader: 'js',
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  receiverScript = bundled.outputFiles[0]!.text;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking'],
  });
});

afterAll(async () => {
  await browser?.close();
});

describe('GET /inspect, the bridge to the Stately Inspector', () => {
  let svc: TestService;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeEach(async () => {
    svc = await startService({}, undefined, [inspectModule]);
    context = await browser.newContext();
    // Nothing leaves the machine: the inspector's address is answered here, anything else fails.
    await context.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => {
      const url = route.request().url();
      if (url === INSPECTOR) {
        return route.fulfill({
          contentType: 'text/html',
          body: '<!doctype html><title>inspector</title><script src="/receiver.js"></script>',
        });
      }
      if (url === 'https://stately.ai/receiver.js') {
        return route.fulfill({ contentType: 'text/javascript', body: receiverScript });
      }
      return route.abort();
    });
    page = await context.newPage();
    problems.length = 0;
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    await svc.api(
      'POST',
      '/v1/connections',
      { connectionId: 'c1', installationId: 'inst-a', workspaceId: 'ws-1' },
      TOKEN_A,
    );
  });

  afterEach(async () => {
    await context?.close();
    await svc.close();
  });

  /** Submits the form; resolves with the inspector window it opened. */
  async function open(): Promise<Page> {
    const [inspector] = await Promise.all([
      context.waitForEvent('page'),
      page.click('button[type=submit]'),
    ]);
    await inspector.waitForLoadState();
    return inspector;
  }

  it('forwards the stream to a window running createBrowserReceiver, live transitions included', async () => {
    await page.goto(`${svc.url}/inspect?access_token=${TOKEN_A}&actor=connection:c1`);
    // The token is taken from the address into the form, and out of the address.
    expect(await page.inputValue('input[name=token]')).toBe(TOKEN_A);
    expect(await page.inputValue('input[name=actor]')).toBe('connection:c1');
    expect(page.url()).not.toContain('access_token');

    const inspector = await open();
    expect(inspector.url()).toBe(INSPECTOR);
    await inspector.waitForFunction(
      () => (globalThis as any).received.some((e: any) => e.type === '@xstate.actor'),
      undefined,
      { timeout: 10_000 },
    );
    const handshake = await svc.api(
      'POST',
      '/v1/connections/c1/handshake',
      { protocolVersion: '1.0.0', negotiatedCapabilities: [] },
      TOKEN_A,
    );
    expect(handshake.status).toBe(200);
    await inspector.waitForFunction(
      () =>
        (globalThis as any).received.some(
          (e: any) => e.type === '@xstate.snapshot' && e.snapshot.value === 'connected',
        ),
      undefined,
      { timeout: 10_000 },
    );
    const frames = await inspector.evaluate(received);
    expect(frames.map((e) => e.type)).toEqual([
      '@xstate.actor',
      '@xstate.event',
      '@xstate.snapshot',
    ]);
    for (const e of frames) {
      expect(e).toMatchObject({
        sessionId: 'connection:c1',
        rootId: 'connection:c1',
        _version: STATELY_INSPECT_VERSION,
      });
    }
    expect(frames[1].event.type).toBe('HANDSHAKE');
    const machine = createMachine(JSON.parse(frames[0].definition));
    expect(machine.root.states).toHaveProperty(frames[2].snapshot.value);
    await page
      .getByText('Forwarding to the inspector: 3 events from 1 actor(s).')
      .waitFor({ timeout: 5_000 });
    // A reloaded inspector announces itself again and is sent everything kept so far.
    await inspector.reload();
    await inspector.waitForFunction(() => (globalThis as any).received.length === 3, undefined, {
      timeout: 10_000,
    });
    expect((await inspector.evaluate(received)).map((e) => e.type)).toEqual(
      frames.map((e) => e.type),
    );
    // The inline script ran under the page's CSP, and the WebSocket was allowed.
    expect(problems).toEqual([]);
  });

  it('says why when the token is refused, opens no stream, and closes the window again', async () => {
    await page.goto(`${svc.url}/inspect`);
    await page.fill('input[name=token]', 'not-a-token-at-all-0001');
    await page.fill('input[name=actor]', 'connection:c1');
    await page.click('button[type=submit]');
    await page
      .getByText('Refused (401): the bearer token is not valid')
      .waitFor({ timeout: 5_000 });
    expect(svc.modules.services.get(INSPECTOR_SOCKETS)).toHaveProperty('size', 0);
    await page.waitForSelector('#status[data-window=closed]', { timeout: 10_000 });
  });

  it('says what to fix when the browser refuses the actor, instead of the last outcome', async () => {
    await page.goto(`${svc.url}/inspect`);
    await page.fill('input[name=token]', 'not-a-token-at-all-0001');
    await page.fill('input[name=actor]', 'connection:c1');
    await page.click('button[type=submit]');
    await page.getByText('Refused (401)').waitFor({ timeout: 5_000 });
    await page.waitForSelector('#status[data-window=closed]', { timeout: 10_000 });
    let opened = 0;
    context.on('page', () => (opened += 1));
    await page.fill('input[name=actor]', 'bad actor');
    await page.click('button[type=submit]');
    await page.getByText('the actor is kind:id').waitFor({ timeout: 5_000 });
    expect(await page.textContent('#status')).not.toContain('Refused');
    expect(opened).toBe(0);
    // The refused token check's 401 is the browser's only complaint: no script error.
    expect(problems.filter((p) => !p.includes('status of 401'))).toEqual([]);
  });

  it('says so when the service cannot be reached, and closes the window again', async () => {
    await page.goto(`${svc.url}/inspect`);
    await page.fill('input[name=token]', TOKEN_A);
    // The service goes away between the page's load and the submit.
    await svc.close();
    await page.click('button[type=submit]');
    await page.getByText('The service could not be reached').waitFor({ timeout: 5_000 });
    await page.waitForSelector('#status[data-window=closed]', { timeout: 10_000 });
  });

  it('says why when the socket is refused after the token check (too many streams)', async () => {
    const limited = await startService({ STREAMS_PER_TOKEN: '1' }, undefined, [inspectModule]);
    try {
      // The token's one socket is taken by another client.
      const url = `${limited.url.replace('http', 'ws')}/v1/inspect?access_token=${TOKEN_A}`;
      const other = new WebSocket(url);
      await new Promise((resolve, reject) => {
        other.once('open', resolve);
        other.once('error', reject);
      });
      await page.goto(`${limited.url}/inspect`);
      await page.fill('input[name=token]', TOKEN_A);
      await page.click('button[type=submit]');
      await page
        .getByText('The stream was refused after the token was accepted')
        .waitFor({ timeout: 10_000 });
      await page.waitForSelector('#status[data-window=closed]', { timeout: 10_000 });
      other.close();
    } finally {
      await limited.close();
    }
  });

  it('serves the page with its script allowed by hash, and nothing from elsewhere', async () => {
    const res = await fetch(`${svc.url}/inspect`);
    expect(res.status).toBe(200);
    const policy = res.headers.get('content-security-policy')!;
    expect(policy).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(policy).toContain("default-src 'none'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await res.text();
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
  });
});
