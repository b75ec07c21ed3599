/**
 * GitHub automation summaries end to end: idempotency by runId, skipped runs (toast, transcript
 * and metrics) and error classification (shared set-up and helpers: automation.helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import { T0 } from '../helpers.ts';
import { skipped, startAutomation, summary } from './support.ts';
import { h, others, post, record, list, transcript, useAutomation } from './automation.helpers.ts';

useAutomation();

describe('idempotency by runId', () => {
  it('answers the same runId with the first record (200) and stores, counts and notifies once', async () => {
    const first = await post('s1', skipped({ runId: 'run-7' }));
    expect(first.status).toBe(201);
    h.service.clock.advance(5000);
    const again = await post('s1', skipped({ runId: 'run-7', toastMessage: 'a different text' }));
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);

    expect((await list('s1')).items).toEqual([first.body]);
    const { items } = await transcript('s1');
    expect(items.map((e: any) => e.eventType)).toEqual(['automation', 'toast']);
    expect(h.notifier.delivered.size).toBe(1);
    expect(new Set(h.notifier.calls.map((c) => c.id))).toEqual(
      new Set([`automation-skip:${first.body.summaryId}`]),
    );
    expect(h.metrics.counts).toHaveLength(1);
    expect(h.metrics.envelopes).toHaveLength(1);
  });

  it('keeps one record for concurrent posts with the same runId', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => post('s1', summary({ runId: 'race' }))),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(5);
    expect(new Set(results.map((r) => r.body.summaryId)).size).toBe(1);
    expect((await list('s1')).items).toHaveLength(1);
    expect((await transcript('s1')).items).toHaveLength(1);
  });

  it('records runs without runId, or with different runIds, separately; runIds are per session', async () => {
    await record('s1', summary());
    await record('s1', summary());
    await record('s1', summary({ runId: 'r1' }));
    await record('s1', summary({ runId: 'r2' }));
    await record('s2', summary({ runId: 'r1' }));
    expect((await list('s1')).items).toHaveLength(4);
    expect((await list('s2')).items).toHaveLength(1);
  });
});

describe('skipped runs: toast, transcript and metrics', () => {
  it('emits a warning automation-skip toast with the toastMessage and appends automation and toast entries', async () => {
    const body = await record('s1', skipped());
    expect(h.notifier.calls).toEqual([
      {
        id: `automation-skip:${body.summaryId}`,
        installationId: 'inst-a',
        kind: 'automation-skip',
        workspaceId: 'ws-1',
        sessionId: 's1',
        sourceId: body.summaryId,
        toast: {
          title: 'GitHub automation skipped',
          body: skipped().toastMessage,
          severity: 'warning',
        },
        details: expect.objectContaining({ skipReason: 'rate-limited', summaryId: body.summaryId }),
      },
    ]);
    const { items } = await transcript('s1');
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({
      eventType: 'automation',
      message: skipped().transcriptNote,
      context: { status: 'skipped', skipReason: 'rate-limited', summaryId: body.summaryId },
    });
    expect(items[1]).toMatchObject({
      entryId: `toast-${body.summaryId}`,
      eventType: 'toast',
      message: skipped().toastMessage,
      workspaceId: 'ws-1',
      context: {
        notificationId: `automation-skip:${body.summaryId}`,
        kind: 'automation-skip',
        severity: 'warning',
        channels: ['toast'],
      },
    });
  });

  it('counts skips by reason and emits a skip-count envelope with the workspace total', async () => {
    await record('s1', skipped());
    await record('s2', skipped({ skipReason: 'repoBlocked' }));
    await record('s3', skipped({ workspaceId: 'ws-2' }));
    await record('s1', summary());
    expect(h.metrics.counts).toEqual([
      { name: 'skips', labels: { reason: 'rate-limited' } },
      { name: 'skips', labels: { reason: 'repo-blocked' } },
      { name: 'skips', labels: { reason: 'rate-limited' } },
    ]);
    expect(h.metrics.envelopes).toEqual([
      {
        timestamp: new Date(T0).toISOString(),
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        metricType: 'skip-count',
        value: 1,
        thresholdBreached: false,
      },
      {
        timestamp: new Date(T0).toISOString(),
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        metricType: 'skip-count',
        value: 2,
        thresholdBreached: false,
      },
      {
        timestamp: new Date(T0).toISOString(),
        installationId: 'inst-a',
        workspaceId: 'ws-2',
        metricType: 'skip-count',
        value: 1,
        thresholdBreached: false,
      },
    ]);
  });

  it('appends no toast entry when the notifier used no toast channel', async () => {
    h.notifier.channels = ['email'];
    await record('s1', skipped());
    expect(h.notifier.calls).toHaveLength(1);
    expect((await transcript('s1')).items.map((e: any) => e.eventType)).toEqual(['automation']);
  });

  it('still records when the notifier fails, and a retry with the same runId delivers the toast', async () => {
    h.notifier.failNext = 1;
    const first = await post('s1', skipped({ runId: 'r1' }));
    expect(first.status).toBe(201);
    expect((await transcript('s1')).items.map((e: any) => e.eventType)).toEqual(['automation']);
    expect(h.logLines.some((l) => l.includes('automation skip toast failed'))).toBe(true);
    const retry = await post('s1', skipped({ runId: 'r1' }));
    expect(retry.status).toBe(200);
    expect((await transcript('s1')).items.map((e: any) => e.eventType)).toEqual([
      'automation',
      'toast',
    ]);
    expect(h.metrics.counts).toHaveLength(1);
  });

  it('skips notifying and metrics when those modules are absent', async () => {
    const bare = await startAutomation({ fakes: false });
    others.push(bare);
    const res = await bare.call('POST', '/v1/sessions/s1/automation', skipped());
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const tr = await bare.call('GET', '/v1/sessions/s1/transcript');
    expect(tr.body.items.map((e: any) => e.eventType)).toEqual(['automation']);
  });
});

describe('error classification', () => {
  it.each([
    ['ETIMEDOUT', 'connect ETIMEDOUT api.github.com:443', 'connection'],
    ['acp-version-unsupported', 'container speaks ACP 2.0.0', 'protocol'],
    ['github-403', 'Resource not accessible by integration', 'application'],
    ['internal', 'out of memory', 'system'],
  ])(
    'stores %s as %s with a recovery message, in the summary and the transcript',
    async (code, message, category) => {
      const body = await record('s1', {
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        status: 'error',
        error: { code, message, retryable: true },
      });
      expect(body.error).toMatchObject({ code, message, retryable: true, category });
      expect(body.error.recoveryMessage).toMatch(/\w{3,}.*\./);
      const [entry] = (await transcript('s1')).items;
      expect(entry.message).toContain(`(${category})`);
      expect(entry.message).toContain(body.error.recoveryMessage);
      expect(entry.context.error).toEqual(body.error);
      expect((await list('s1')).items[0].error).toEqual(body.error);
    },
  );
});
