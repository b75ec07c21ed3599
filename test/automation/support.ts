/**
 * Plumbing for the automation tests: fake Notifier and MetricsSink modules (the real ones are
 * other modules' work), a capturing logger, the response invariants of the house tests and a
 * dump of every Redis value under the test's prefix (to prove a secret was never stored).
 */
import { expect } from 'vitest';
import { automationModule } from '../../src/automation/module.ts';
import { type Logger, createLogger } from '../../src/logger.ts';
import type { AppModule } from '../../src/module-context.ts';
import type {
  Channel,
  MetricsEnvelope,
  MetricsSink,
  NotificationRequest,
  Notifier,
} from '../../src/notifications/types.ts';
import {
  OPERATOR,
  type TestService,
  checkInvariants,
  namedFields,
  startService,
} from '../helpers.ts';
import { SERVICES } from '../../src/notifications/types.ts';

export { TOKENS, checkInvariants } from '../helpers.ts';

export interface Res {
  status: number;
  body: any;
}

export class FakeNotifier implements Notifier {
  /** Every call, repeats included. */
  calls: NotificationRequest[] = [];
  /** Distinct requests by id (what a real notifier would deliver). */
  delivered = new Map<string, NotificationRequest>();
  channels: Channel[] = ['toast'];
  failNext = 0;

  notify(n: NotificationRequest): Promise<Channel[]> {
    this.calls.push(n);
    if (this.failNext > 0) {
      this.failNext--;
      return Promise.reject(new Error('notifier down'));
    }
    if (!this.delivered.has(n.id)) this.delivered.set(n.id, n);
    return Promise.resolve(this.channels);
  }

  deliveries(): Promise<never[]> {
    return Promise.resolve([]);
  }
}

export class FakeMetrics implements MetricsSink {
  envelopes: MetricsEnvelope[] = [];
  counts: { name: string; labels: Record<string, string> | undefined }[] = [];

  emit(envelope: MetricsEnvelope): Promise<void> {
    this.envelopes.push(envelope);
    return Promise.resolve();
  }

  count(name: 'alerts' | 'skips' | 'rollbacks' | 'shed', labels?: Record<string, string>): void {
    this.counts.push({ name, labels });
  }

  readonly #seen = new Set<string>();

  emitOnce(
    onceId: string,
    envelope: MetricsEnvelope,
    counter?: { name: 'alerts'; labels: Record<string, string> },
  ): Promise<boolean> {
    if (this.#seen.has(onceId)) return Promise.resolve(false);
    this.#seen.add(onceId);
    this.envelopes.push(envelope);
    if (counter) this.count(counter.name, counter.labels);
    return Promise.resolve(true);
  }
}

export interface Harness {
  service: TestService;
  notifier: FakeNotifier;
  metrics: FakeMetrics;
  logLines: string[];
  call: (method: string, path: string, body?: unknown, token?: string | null) => Promise<Res>;
}

/** The service with the automation module, plus fakes for notifications and metrics. */
export async function startAutomation(opts: { fakes?: boolean } = {}): Promise<Harness> {
  const notifier = new FakeNotifier();
  const metrics = new FakeMetrics();
  const fakes: AppModule = {
    name: 'fakes',
    init(ctx) {
      ctx.services.provide(SERVICES.notifications, notifier);
      ctx.services.provide(SERVICES.metrics, metrics);
    },
  };
  const service = await startService({}, undefined, [
    ...(opts.fakes === false ? [] : [fakes]),
    automationModule,
  ]);
  const logLines: string[] = [];
  const logger: Logger = createLogger('debug', (line) => logLines.push(line));
  // Modules read the shared context's logger when they log.
  service.modules.logger = logger;
  const call: Harness['call'] = async (method, path, body, token = OPERATOR) => {
    const res = await service.api(method, path, body, token);
    checkInvariants(res);
    return res;
  };
  return { service, notifier, metrics, logLines, call };
}

export function expectError(res: Res, status: number, code: string, ...fields: string[]): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  for (const field of fields) {
    expect(namedFields(res.body.error)).toContain(field);
    expect(res.body.error.message).toContain(field);
  }
}

/** Every value (and key name) stored under the service's prefix, as one string. */
export async function dumpKeys(service: TestService): Promise<{ keys: string[]; text: string }> {
  const { redis, prefix } = service;
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const parts: string[] = [];
  for (const key of keys.sort()) {
    parts.push(key);
    const type = await redis.type(key);
    if (type === 'string') parts.push((await redis.get(key)) ?? '');
    else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1)));
    else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
    else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
    else parts.push(`<${type}>`);
  }
  return { keys, text: parts.join('\n') };
}

/** A valid body for POST /v1/sessions/:id/automation, with overrides. */
export function summary(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    installationId: 'inst-a',
    workspaceId: 'ws-1',
    status: 'success',
    issue: {
      id: 9001,
      number: 42,
      url: 'https://github.com/acme/app/issues/42',
      title: 'Fix login',
    },
    pullRequest: { number: 43, url: 'https://github.com/acme/app/pull/43', branch: 'lumi/fix-42' },
    commit: { sha: 'a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0', message: 'Fix login redirect' },
    durationMs: 1234,
    logs: [{ level: 'info', message: 'opened pull request', step: 'pr' }],
    ...overrides,
  };
}

export function skipped(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    installationId: 'inst-a',
    workspaceId: 'ws-1',
    status: 'skipped',
    skipReason: 'rate-limited',
    toastMessage: 'GitHub automation paused: rate limit reached.',
    transcriptNote: 'Automation skipped: GitHub rate limit reached; it resumes after the reset.',
    ...overrides,
  };
}
