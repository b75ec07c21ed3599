/**
 * The automation module among every module of MODULES (real notifications and metrics): a
 * skipped run is recorded, toasted through the real Notifier and appears in the transcript.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { OPERATOR, T0, type TestService, startService } from '../helpers.ts';
import { checkInvariants, skipped, summary } from './support.ts';

let service: TestService;

beforeEach(async () => {
  service = await startService();
});

afterEach(async () => {
  await service.close();
});

const call = async (method: string, path: string, body?: unknown) => {
  const res = await service.api(method, path, body, OPERATOR);
  checkInvariants(res);
  return res;
};

it('records, toasts and transcribes with the real notifications and metrics modules', async () => {
  expect((await call('POST', '/v1/sessions/s1/automation', summary())).status).toBe(201);
  const res = await call('POST', '/v1/sessions/s1/automation', skipped({ runId: 'r1' }));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  await service.modules.events.emit('rollback', {
    eventId: randomUUID(),
    effectId: randomUUID(),
    installationId: 'inst-a',
    workspaceId: 'ws-1',
    kind: 'rollback',
    toast: { severity: 'error', title: 'Switched to HTTP', body: 'This workspace now uses HTTP.' },
    transcriptNote: 'Workspace rolled back from ACP to HTTP (manual-operator): test',
    at: T0,
  });
  const transcript = await call('GET', '/v1/sessions/s1/transcript');
  const types = transcript.body.items.map((e: any) => e.eventType);
  expect(types.filter((t: string) => t !== 'toast')).toEqual([
    'automation',
    'automation',
    'rollback',
    'automation',
  ]);
  const automation = await call('GET', '/v1/sessions/s1/automation?order=newest-first');
  expect(automation.body.items[0]).toMatchObject({ skipReason: 'workspace-rollback' });
});
