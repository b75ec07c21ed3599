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
  });
});
