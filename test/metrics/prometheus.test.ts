/**
 * `GET /metrics` end to end: Prometheus text from the real service (only the metrics module),
 * real Redis under a per-test key prefix, a manual clock at T0. The endpoint needs no token,
 * like /healthz, and must carry counts only: no token, no tenant id.
 */
import { describe, it, expect } from 'vitest';
import { HEARTBEAT_DURATION_BUCKETS } from '../../src/metrics/prometheus.ts';
import { OPERATOR, TOKEN_A, TOKEN_B, type TestService, hb } from '../helpers.ts';
import {
  SEC,
  beat,
  call,
  connect,
  envelopes,
  metricsOf,
  register,
  samples,
  scrape,
  settle,
  valueOf,
  another,
  service,
  useMetricsService,
} from './support.ts';

useMetricsService();

/** Asserts that nothing tenant-specific or secret is in the text. */
function expectNoTenantData(text: string, service: TestService): void {
  for (const secret of [OPERATOR, TOKEN_A, TOKEN_B, service.prefix, 'inst-a', 'inst-b', 'ws-1']) {
    expect(text).not.toContain(secret);
  }
}

describe('GET /metrics', () => {
  it('answers without a token, in the Prometheus text format, with counts only', async () => {
    await connect(service, 'c1');
    const res = await scrape(service);
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toContain('# TYPE lumilink_connections gauge');
    expect(res.text).toContain('# TYPE lumilink_heartbeat_request_duration_seconds histogram');
    expect(samples(res.text).length).toBeGreaterThan(0);
    expectNoTenantData(res.text, service);
    // A token, valid or not, changes nothing: the route is outside /v1.
    const withBadToken = await fetch(`${service.url}/metrics`, {
      headers: { authorization: 'Bearer not-a-valid-token-at-all' },
    });
    expect(withBadToken.status).toBe(200);
  });

  it('reports connections by status and protocol from the status indexes of every installation', async () => {
    await connect(service, 'c1');
    await connect(service, 'c2');
    await beat(service, 'c2', hb(service.clock.now(), 99, 2)); // 98% -> degraded
    await connect(service, 'c3');
    expect(
      (await call(service, 'POST', '/v1/connections/c3/rollback', { reason: 'test' })).body.status,
    ).toBe('rolled-back');
    await register(service, 'c4');
    await register(service, 'c5');
    expect((await call(service, 'POST', '/v1/connections/c5/dropped', {})).body.status).toBe(
      'error',
    );
    await connect(service, 'c6', 'inst-b', 'ws-2');

    // The truth, through the API: every connection's status.
    const listed = await call(service, 'GET', '/v1/connections?limit=500');
    const actual: Record<string, number> = {};
    for (const c of listed.body.items) actual[c.status] = (actual[c.status] ?? 0) + 1;
    expect(actual).toEqual({
      connected: 2,
      degraded: 1,
      'rolled-back': 1,
      connecting: 1,
      error: 1,
    });

    const { text } = await scrape(service);
    const expected: [string, string, number][] = [
      ['connecting', 'acp', 1],
      ['connected', 'acp', 2],
      ['degraded', 'acp', 1],
      ['error', 'acp', 1],
      ['reconnecting', 'acp', 0],
      ['rolled-back', 'http', 1],
    ];
    for (const [status, protocol, n] of expected) {
      expect(valueOf(text, 'lumilink_connections', { status, protocol }), status).toBe(n);
      expect(n).toBe(actual[status] ?? 0);
    }
    expect(samples(text).filter((s) => s.name === 'lumilink_connections')).toHaveLength(6);

    // Gauges follow changes at the next scrape.
    expect(
      (await call(service, 'POST', '/v1/connections/c1/rollback', { reason: 'test' })).status,
    ).toBe(200);
    const after = (await scrape(service)).text;
    expect(valueOf(after, 'lumilink_connections', { status: 'connected', protocol: 'acp' })).toBe(
      1,
    );
    expect(
      valueOf(after, 'lumilink_connections', { status: 'rolled-back', protocol: 'http' }),
    ).toBe(2);
  });

  it('counts heartbeats (each batch item) by endpoint and outcome, with a latency histogram', async () => {
    await connect(service, 'c1');
    await connect(service, 'c2');
    const first = (await scrape(service)).text;
    expect(samples(first).filter((s) => s.name === 'lumilink_heartbeats_total')).toEqual([]);

    await beat(service, 'c1', hb(service.clock.now(), 10));
    await beat(service, 'c1', hb(service.clock.now(), 10));
    const bad = await call(service, 'POST', '/v1/connections/c1/heartbeats', { succeeded: -1 });
    expect(bad.status).toBe(400);
    const unknown = await call(
      service,
      'POST',
      '/v1/connections/nope/heartbeats',
      hb(service.clock.now(), 1),
    );
    expect(unknown.status).toBe(404);
    // Not authenticated: refused before any module middleware, so not counted.
    expect(
      (
        await call(
          service,
          'POST',
          '/v1/connections/c1/heartbeats',
          hb(service.clock.now(), 1),
          null,
        )
      ).status,
    ).toBe(401);

    const batch = await call(service, 'POST', '/v1/heartbeats', {
      items: [
        { connectionId: 'c1', ...hb(service.clock.now(), 5) },
        { connectionId: 'c2', ...hb(service.clock.now(), 5) },
        { connectionId: 'c2', succeeded: 'x' },
        { connectionId: 'nope', ...hb(service.clock.now(), 5) },
      ],
    });
    expect(batch.body).toMatchObject({ accepted: 2, rejected: 2 });
    const refused = await call(service, 'POST', '/v1/heartbeats/', {
      items: [{ connectionId: 'c1', ...hb(service.clock.now(), 5) }, {}],
      extra: true,
    });
    expect(refused.status).toBe(400);

    const { text } = await scrape(service);
    const hbs = (endpoint: string, outcome: string) =>
      valueOf(text, 'lumilink_heartbeats_total', { endpoint, outcome });
    expect(hbs('single', 'accepted')).toBe(2);
    expect(hbs('single', 'rejected')).toBe(2);
    expect(hbs('batch', 'accepted')).toBe(2);
    expect(hbs('batch', 'rejected')).toBe(2 + 2);

    const h = 'lumilink_heartbeat_request_duration_seconds';
    for (const le of [...HEARTBEAT_DURATION_BUCKETS.map(String), '+Inf']) {
      expect(valueOf(text, `${h}_bucket`, { le, endpoint: 'single' }), le).toBeTypeOf('number');
      expect(valueOf(text, `${h}_bucket`, { le, endpoint: 'batch' }), le).toBeTypeOf('number');
    }
    expect(valueOf(text, `${h}_bucket`, { le: '+Inf', endpoint: 'single' })).toBe(4);
    expect(valueOf(text, `${h}_count`, { endpoint: 'single' })).toBe(4);
    expect(valueOf(text, `${h}_count`, { endpoint: 'batch' })).toBe(2);
    expect(valueOf(text, `${h}_sum`, { endpoint: 'batch' })).toBeGreaterThan(0);

    // More heartbeats, higher counter.
    await beat(service, 'c2', hb(service.clock.now(), 1));
    const later = (await scrape(service)).text;
    expect(
      valueOf(later, 'lumilink_heartbeats_total', { endpoint: 'single', outcome: 'accepted' }),
    ).toBe(3);
    expect(valueOf(later, 'lumilink_engine_commits_total')).toBeGreaterThan(0);
  });

  it('counts a workspace rollback once, with its rollback-count envelope', async () => {
    await register(service, 'c1');
    const migration = await call(service, 'POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
    });
    expect(migration.status, JSON.stringify(migration.body)).toBe(201);
    await call(service, 'POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    await settle(service);
    expect((await call(service, 'GET', '/v1/workspaces/ws-1')).body.state).toBe('acp');
    expect(valueOf((await scrape(service)).text, 'lumilink_rollbacks_total')).toBe(0);

    service.clock.advance(SEC);
    const rollback = await call(service, 'POST', '/v1/workspaces/ws-1/rollback', {
      reason: 'ops drill',
    });
    expect(rollback.status, JSON.stringify(rollback.body)).toBe(201);
    const { text } = await scrape(service);
    expect(valueOf(text, 'lumilink_rollbacks_total')).toBe(1);
    expect(valueOf(text, 'lumilink_connections', { status: 'rolled-back', protocol: 'http' })).toBe(
      1,
    );

    const rollbacks = (await envelopes(service)).filter((e) => e.metricType === 'rollback-count');
    expect(rollbacks).toEqual([
      expect.objectContaining({ workspaceId: 'ws-1', value: 1, thresholdBreached: true }),
    ]);
  });

  it('reports outbox lag as how long the most overdue entry has waited for the reaper', async () => {
    const empty = (await scrape(service)).text;
    expect(valueOf(empty, 'lumilink_outbox_lag_seconds')).toBe(0);
    expect(valueOf(empty, 'lumilink_outbox_entries')).toBe(0);

    let transportUp = false;
    service.engine.registerEffect('scheduleTransportChange', () => {
      if (!transportUp) throw new Error('transport down');
    });
    await connect(service, 'c1');
    await call(service, 'POST', '/v1/connections/c1/rollback', { reason: 'test' });
    // The failed effect is retried after EFFECT_RETRY_BASE_DELAY_MS: not overdue before.
    const retryAt = service.config.effects.baseDelayMs;
    service.clock.advance(retryAt - SEC);
    const waiting = (await scrape(service)).text;
    expect(valueOf(waiting, 'lumilink_outbox_lag_seconds')).toBe(0);
    expect(valueOf(waiting, 'lumilink_outbox_entries')).toBe(1);
    expect(valueOf(waiting, 'lumilink_engine_effects_total', { result: 'failed' })).toBe(1);
    service.clock.advance(8 * SEC);
    const lagging = (await scrape(service)).text;
    expect(valueOf(lagging, 'lumilink_outbox_lag_seconds')).toBe(7);
    expect(valueOf(lagging, 'lumilink_outbox_entries')).toBe(1);

    // The reaper reruns it; once it succeeds, no lag is left.
    transportUp = true;
    expect(await service.engine.reapOutbox()).toBe(1);
    const drained = (await scrape(service)).text;
    expect(valueOf(drained, 'lumilink_outbox_lag_seconds')).toBe(0);
    expect(valueOf(drained, 'lumilink_outbox_entries')).toBe(0);
  });

  it('exposes the counters other modules bump through MetricsSink.count, with bounded labels and no tenant ids', async () => {
    const sink = metricsOf(service);
    sink.count('alerts', { trigger: 'warning' });
    sink.count('alerts', { trigger: 'warning', installationId: 'inst-a' });
    sink.count('alerts', { trigger: 'critical' });
    sink.count('skips', { reason: 'repoBlocked' });
    sink.count('skips', { reason: 'missing-credential' });
    sink.count('skips', { reason: 'Not A Reason!' });
    sink.count('shed', { installationId: 'inst-a' });
    sink.count('shed');
    // Rollbacks are counted from the domain event, never from callers (no double counting).
    sink.count('rollbacks', { installationId: 'inst-a' });
    expect(() => sink.count('nonsense' as never, { a: 'b' })).not.toThrow();
    for (let i = 0; i < 40; i++) sink.count('skips', { reason: `reason-${i}` });

    const { text } = await scrape(service);
    expect(valueOf(text, 'lumilink_alerts_total', { trigger: 'warning' })).toBe(2);
    expect(valueOf(text, 'lumilink_alerts_total', { trigger: 'critical' })).toBe(1);
    expect(valueOf(text, 'lumilink_skips_total', { reason: 'repo-blocked' })).toBe(1);
    expect(valueOf(text, 'lumilink_skips_total', { reason: 'missing-credential' })).toBe(1);
    expect(valueOf(text, 'lumilink_shed_total')).toBe(2);
    expect(valueOf(text, 'lumilink_rollbacks_total')).toBe(0);
    const reasons = samples(text).filter((s) => s.name === 'lumilink_skips_total');
    expect(reasons.length).toBeLessThanOrEqual(33);
    // 'Not A Reason!' plus every reason past the 32 distinct values allowed.
    expect(valueOf(text, 'lumilink_skips_total', { reason: 'other' })).toBe(1 + (2 + 40 - 32));
    expectNoTenantData(text, service);
  });

  it('keeps one registry per service: two services in one process count separately', async () => {
    const extra = await another();
    await connect(service, 'c1');
    await connect(extra, 'c1');
    await beat(service, 'c1', hb(service.clock.now(), 1));
    await beat(extra, 'c1', hb(extra.clock.now(), 1));
    await beat(extra, 'c1', hb(extra.clock.now(), 1));
    const mine = (await scrape(service)).text;
    const theirs = (await scrape(extra)).text;
    const accepted = { endpoint: 'single', outcome: 'accepted' };
    expect(valueOf(mine, 'lumilink_heartbeats_total', accepted)).toBe(1);
    expect(valueOf(theirs, 'lumilink_heartbeats_total', accepted)).toBe(2);
  });
});
