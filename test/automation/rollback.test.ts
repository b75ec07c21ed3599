/**
 * Workspace rollbacks reaching sessions: the `rollback` domain event (at least once) gives every
 * session known in the workspace one `rollback` transcript entry and one skipped
 * `workspace-rollback` summary per eventId. Driven by emitting the event directly, and once end
 * to end through a manual rollback of a workspace on ACP.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DomainEventMap } from '../../src/domain-events.ts';
import { OPERATOR, T0, TOKEN_A } from '../helpers.ts';
import { FAKE } from './fixtures.ts';
import { type Harness, dumpKeys, startAutomation, skipped, summary } from './support.ts';

let h: Harness;

beforeEach(async () => {
  h = await startAutomation();
});

afterEach(async () => {
  await h.service.close();
});

function rollbackEvent(
  overrides: Partial<DomainEventMap['rollback']> = {},
): DomainEventMap['rollback'] {
  return {
    eventId: randomUUID(),
    effectId: randomUUID(),
    installationId: 'inst-a',
    workspaceId: 'ws-1',
    kind: 'rollback',
    toast: {
      severity: 'error',
      title: 'Switched to HTTP',
      body: 'ACP success rate fell to 90.0% (below 95.0%); this workspace now uses HTTP.',
    },
    transcriptNote:
      'Workspace rolled back from ACP to HTTP automatically: success rate 90.0% over 1000 operations in the last 60 min was below the 95.0% threshold.',
    at: T0 - 1000,
    ...overrides,
  };
}

const emit = (event: DomainEventMap['rollback']) =>
  h.service.modules.events.emit('rollback', event);

async function record(sessionId: string, body: Record<string, unknown>) {
  const res = await h.call('POST', `/v1/sessions/${sessionId}/automation`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function items(sessionId: string, stream: 'automation' | 'transcript', token = OPERATOR) {
  const res = await h.call(
    'GET',
    `/v1/sessions/${sessionId}/${stream}?limit=200`,
    undefined,
    token,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items as any[];
}

describe('rollback domain event', () => {
  it('gives every session of the workspace one rollback entry and one workspace-rollback summary, even when emitted twice', async () => {
    await record('s1', summary());
    await record('s2', skipped());
    await record('s-other-ws', summary({ workspaceId: 'ws-2' }));
    await record('s-inst-b', summary({ installationId: 'inst-b' }));
    h.service.clock.advance(1000);
    const event = rollbackEvent();
    await emit(event);
    await emit(event);

    for (const sessionId of ['s1', 's2']) {
      const rollbacks = (await items(sessionId, 'transcript')).filter(
        (e) => e.eventType === 'rollback',
      );
      expect(rollbacks).toEqual([
        {
          entryId: `rollback-${event.eventId}`,
          sessionId,
          installationId: 'inst-a',
          workspaceId: 'ws-1',
          eventType: 'rollback',
          message: event.transcriptNote,
          context: {
            eventId: event.eventId,
            effectId: event.effectId,
            kind: 'rollback',
            workspaceId: 'ws-1',
            transcriptNote: event.transcriptNote,
            toast: event.toast,
            rolledBackAt: new Date(event.at).toISOString(),
          },
          createdAt: new Date(T0 + 1000).toISOString(),
        },
      ]);
      const derived = (await items(sessionId, 'automation')).filter(
        (s) => s.source === 'workspace-rollback',
      );
      expect(derived).toHaveLength(1);
      expect(derived[0]).toMatchObject({
        sessionId,
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        status: 'skipped',
        skipReason: 'workspace-rollback',
        toastMessage: 'GitHub automation paused: Switched to HTTP.',
        rollbackEventId: event.eventId,
        runId: null,
      });
      expect(derived[0].transcriptNote).toContain(event.transcriptNote);
      expect([...derived[0].toastMessage].length).toBeLessThanOrEqual(140);
    }
    // The automation history shows why automation stopped, newest first.
    const [latest] = (await h.call('GET', '/v1/sessions/s1/automation?order=newest-first&limit=1'))
      .body.items;
    expect(latest.skipReason).toBe('workspace-rollback');

    // Transcript order: the rollback entry, then the skip's automation and toast entries.
    const s1 = (await items('s1', 'transcript')).map((e) => e.eventType);
    expect(s1).toEqual(['automation', 'rollback', 'automation', 'toast']);

    // Sessions of another workspace or installation are untouched.
    expect((await items('s-other-ws', 'transcript')).map((e) => e.eventType)).toEqual([
      'automation',
    ]);
    expect(await items('s-inst-b', 'automation')).toHaveLength(1);
  });

  it('is idempotent under concurrent deliveries too', async () => {
    await record('s1', summary());
    const event = rollbackEvent();
    await Promise.all(Array.from({ length: 5 }, () => emit(event)));
    expect(
      (await items('s1', 'automation')).filter((s) => s.skipReason === 'workspace-rollback'),
    ).toHaveLength(1);
    expect(
      (await items('s1', 'transcript')).filter((e) => e.eventType === 'rollback'),
    ).toHaveLength(1);
  });

  it('records one summary per distinct rollback', async () => {
    await record('s1', summary());
    await emit(rollbackEvent());
    await emit(rollbackEvent());
    expect(
      (await items('s1', 'automation')).filter((s) => s.skipReason === 'workspace-rollback'),
    ).toHaveLength(2);
    expect(
      (await items('s1', 'transcript')).filter((e) => e.eventType === 'rollback'),
    ).toHaveLength(2);
  });

  it('toasts each session once per rollback and counts the skips once', async () => {
    await record('s1', summary());
    await record('s2', summary());
    const event = rollbackEvent();
    await emit(event);
    await emit(event);
    const toasts = [...h.notifier.delivered.values()];
    expect(toasts.map((t) => [t.kind, t.sessionId, t.toast.severity]).sort()).toEqual([
      ['automation-skip', 's1', 'warning'],
      ['automation-skip', 's2', 'warning'],
    ]);
    expect(h.metrics.counts).toEqual([
      { name: 'skips', labels: { reason: 'workspace-rollback' } },
      { name: 'skips', labels: { reason: 'workspace-rollback' } },
    ]);
    expect(h.metrics.envelopes.map((e) => [e.metricType, e.workspaceId, e.value])).toEqual([
      ['skip-count', 'ws-1', 1],
      ['skip-count', 'ws-1', 2],
    ]);
  });

  it('makes the event retry when the notifier fails, then completes without duplicates', async () => {
    await record('s1', summary());
    const event = rollbackEvent();
    h.notifier.failNext = 1;
    await expect(emit(event)).rejects.toThrow('notifier down');
    await emit(event);
    const types = (await items('s1', 'transcript')).map((e) => e.eventType);
    expect(types).toEqual(['automation', 'rollback', 'automation', 'toast']);
    expect(h.metrics.counts).toHaveLength(1);
  });

  it('redacts a secret in the rollback note (an operator reason) instead of storing it', async () => {
    await record('s1', summary());
    await emit(
      rollbackEvent({
        transcriptNote: `Workspace rolled back from ACP to HTTP (manual-operator): token ${FAKE.ghp} leaked`,
      }),
    );
    const [rollback] = (await items('s1', 'transcript')).filter((e) => e.eventType === 'rollback');
    expect(rollback.message).toContain('[redacted github-token]');
    expect((await dumpKeys(h.service)).text).not.toContain(FAKE.ghp);
  });

  it('does nothing for a workspace without sessions', async () => {
    await record('s1', summary({ workspaceId: 'ws-2' }));
    const before = await dumpKeys(h.service);
    await emit(rollbackEvent());
    expect((await dumpKeys(h.service)).text).toBe(before.text);
  });

  it('adds an info entry, and no summary, for a recovery', async () => {
    await record('s1', summary());
    const event = rollbackEvent({ kind: 'recovery', transcriptNote: 'Workspace back on ACP.' });
    await emit(event);
    await emit(event);
    const transcript = await items('s1', 'transcript');
    expect(transcript.map((e) => e.eventType)).toEqual(['automation', 'info']);
    expect(transcript[1]).toMatchObject({
      message: 'Workspace back on ACP.',
      context: { eventId: event.eventId },
    });
    expect(await items('s1', 'automation')).toHaveLength(1);
  });
});

describe('manual rollback end to end', () => {
  it('reaches the sessions of the workspace through the workspace chart and the outbox', async () => {
    const svc = h.service;
    const { call } = h;
    const settle = async () => {
      await svc.engine.idle();
    };
    expect(
      (
        await call('POST', '/v1/connections', {
          connectionId: 'c1',
          installationId: 'inst-a',
          workspaceId: 'ws-1',
        })
      ).status,
    ).toBe(201);
    await settle();
    expect(
      (
        await call('POST', '/v1/workspaces/ws-1/migrations', {
          toProtocol: 'acp',
          initiatedBy: 'operator',
        })
      ).status,
    ).toBe(201);
    await settle();
    await call('POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: [],
    });
    await settle();
    expect((await call('GET', '/v1/workspaces/ws-1')).body.state).toBe('acp');

    await record('s1', summary());
    svc.clock.advance(1000);
    const res = await call(
      'POST',
      '/v1/workspaces/ws-1/rollback',
      { reason: 'agent upgrade' },
      TOKEN_A,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await settle();

    const rollback = (await items('s1', 'transcript', TOKEN_A)).find(
      (e) => e.eventType === 'rollback',
    );
    expect(rollback).toMatchObject({
      entryId: `rollback-${res.body.eventId}`,
      context: { eventId: res.body.eventId },
    });
    expect(rollback.message).toContain('agent upgrade');
    const [latest] = (await items('s1', 'automation', TOKEN_A)).slice(-1);
    expect(latest).toMatchObject({
      status: 'skipped',
      skipReason: 'workspace-rollback',
      rollbackEventId: res.body.eventId,
    });
  });
});
