/**
 * Shared plumbing of the metrics tests: the real service with only the metrics module, calls
 * checked for the house invariants (no token in any body, one error shape), and readers for the
 * envelope stream and the Prometheus text.
 */
import { afterEach, beforeEach, expect } from 'vitest';
import { SERVICES } from '../../src/notifications/types.ts';
import { metricsModule } from '../../src/metrics/module.ts';
import type { MetricsService } from '../../src/metrics/service.ts';
import type { AppModule } from '../../src/module-context.ts';
import { OPERATOR, type TestService, checkInvariants, startService } from '../helpers.ts';

export { TOKENS, checkInvariants, expectError } from '../helpers.ts';

export const SEC = 1000;

export interface Res {
  status: number;
  body: any;
}

export function startMetricsService(env: Record<string, string> = {}): Promise<TestService> {
  return startService(env, undefined, [metricsModule]);
}

/** The service of the current test (see useMetricsService). */
export let service: TestService;
/** Further services a test started with `another()`, closed after it. */
let others: TestService[] = [];

/** Starts the metrics service before each test of the calling file and closes it (and others) after. */
export function useMetricsService(): void {
  beforeEach(async () => {
    service = await startMetricsService();
    others = [];
  });
  afterEach(async () => {
    for (const s of others) await s.close();
    await service.close();
  });
}

/** Another service for this test (e.g. a second process on the same keys), closed after it. */
export async function another(
  env: Record<string, string> = {},
  modules: AppModule[] = [metricsModule],
): Promise<TestService> {
  const s = await startService(env, undefined, modules);
  others.push(s);
  return s;
}

export function metricsOf(service: TestService): MetricsService {
  return service.modules.services.get(SERVICES.metrics) as MetricsService;
}

/** Waits for workspace evaluations, effects and metric writes of the service. */
export async function settle(service: TestService): Promise<void> {
  await service.engine.idle();
  await metricsOf(service).idle();
}

export async function call(
  service: TestService,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = OPERATOR,
): Promise<Res> {
  const res = await service.api(method, path, body, token);
  checkInvariants(res);
  return res;
}

export async function register(
  service: TestService,
  connectionId: string,
  installationId = 'inst-a',
  workspaceId = 'ws-1',
) {
  const res = await call(service, 'POST', '/v1/connections', {
    connectionId,
    installationId,
    workspaceId,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** Registers and completes the handshake: a connection in `connected`. */
export async function connect(
  service: TestService,
  connectionId: string,
  installationId = 'inst-a',
  workspaceId = 'ws-1',
) {
  await register(service, connectionId, installationId, workspaceId);
  const res = await call(service, 'POST', `/v1/connections/${connectionId}/handshake`, {
    protocolVersion: '1.2.0',
    negotiatedCapabilities: ['fs'],
  });
  expect(res.body.status).toBe('connected');
  return res.body;
}

export async function beat(service: TestService, connectionId: string, body: unknown) {
  const res = await call(service, 'POST', `/v1/connections/${connectionId}/heartbeats`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Every envelope of an installation, oldest first, read through the API after a settle. */
export async function envelopes(
  service: TestService,
  installationId = 'inst-a',
  token: string = OPERATOR,
): Promise<any[]> {
  await settle(service);
  const items: any[] = [];
  let after: string | null = null;
  for (;;) {
    const q: string = `installationId=${installationId}&limit=1000${after ? `&after=${after}` : ''}`;
    const res = await call(service, 'GET', `/v1/metrics/envelopes?${q}`, undefined, token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    items.push(...res.body.items);
    after = res.body.nextCursor;
    if (!res.body.hasMore) return items;
  }
}

/** `GET /metrics` (no token), after a settle. */
export async function scrape(
  service: TestService,
): Promise<{ status: number; contentType: string | null; text: string }> {
  await settle(service);
  const res = await fetch(`${service.url}/metrics`);
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    text: await res.text(),
  };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (the subset prom-client writes). */
export function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!;
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/**
 * The value of the one sample with exactly these labels (undefined when absent). The `instance`
 * label every per-process series carries is left out of the comparison unless `labels` names it.
 */
export function valueOf(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  const own = (l: Record<string, string>) => {
    if ('instance' in labels) return l;
    const { instance: _instance, ...rest } = l;
    return rest;
  };
  const found = samples(text).filter(
    (s) => s.name === name && JSON.stringify(Object.entries(own(s.labels)).sort()) === want,
  );
  if (found.length > 1) throw new Error(`several samples of ${name} ${want}`);
  return found[0]?.value;
}
