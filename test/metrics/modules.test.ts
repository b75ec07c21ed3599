/**
 * The metrics module among every module of src/modules.ts (the default of startService):
 * registered as the MetricsSink other modules find, and fed by them through the contract.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { MetricsService } from '../../src/metrics/service.ts';
import { SERVICES } from '../../src/notifications/types.ts';
import { type TestService, startService } from '../helpers.ts';
import { envelopes, register, scrape, settle, valueOf } from './support.ts';

const MIN = 60_000;
let service: TestService;

afterEach(async () => {
  await service.close();
});

describe('metrics among all modules', () => {
  it('is the MetricsSink of the service and records capacity alerts sent through it', async () => {
    service = await startService({
      CAPACITY_PER_WORKER: '20',
      HANDSHAKE_TIMEOUT_MS: String(24 * 60 * MIN),
      HEARTBEAT_TIMEOUT_MS: String(24 * 60 * MIN),
    });
    expect(service.modules.services.get(SERVICES.metrics)).toBeInstanceOf(MetricsService);

    // 17 active connections of 20 = 85%: the capacity module opens a warning alert.
    for (let i = 1; i <= 17; i++) await register(service, `c${i}`, 'inst-a', `ws-${i % 3}`);
    for (let round = 0; round < 3; round++) {
      await settle(service);
      await service.engine.idle();
    }
    const capacity = (await envelopes(service)).filter((e) => e.metricType === 'capacity-percent');
    expect(capacity).toEqual([
      expect.objectContaining({
        installationId: 'inst-a',
        workspaceId: null,
        value: 0.85,
        thresholdBreached: true,
      }),
    ]);
    const { text } = await scrape(service);
    expect(valueOf(text, 'lumilink_alerts_total', { trigger: 'warning' })).toBe(1);
    expect(valueOf(text, 'lumilink_connections', { status: 'connecting', protocol: 'acp' })).toBe(
      17,
    );

    // 19 of 20 = 95%: the same alert escalates; it counts under critical too, as /metrics says.
    for (let i = 18; i <= 19; i++) await register(service, `c${i}`, 'inst-a', `ws-${i % 3}`);
    for (let round = 0; round < 3; round++) {
      await settle(service);
      await service.engine.idle();
    }
    const escalated = (await scrape(service)).text;
    expect(valueOf(escalated, 'lumilink_alerts_total', { trigger: 'warning' })).toBe(1);
    expect(valueOf(escalated, 'lumilink_alerts_total', { trigger: 'critical' })).toBe(1);
    const alerts = await service.api('GET', '/v1/installations/inst-a/capacity/alerts');
    expect(alerts.body.items).toHaveLength(1);
    expect(escalated).toContain(
      '# HELP lumilink_alerts_total Capacity alerts by the trigger they reached (warning, critical): an alert opened counts under its trigger, and again under critical when a warning escalates',
    );
  });
});
