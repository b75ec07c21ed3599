/**
 * Shared by the automation*.test.ts suites (split by subject).
 *
 * GitHub automation summaries and session transcripts end to end: the real app on port 0 with
 * the automation module (and fake notifications/metrics modules), real Redis under a per-test
 * key prefix, a manual clock at T0. Every response is checked for the house invariants (no
 * bearer token in a body, one error shape).
 */
import { afterEach, beforeEach, expect } from 'vitest';
import { OPERATOR } from '../helpers.ts';
import { type Harness, startAutomation } from './support.ts';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const SEED_FIELDS = [
  'sessionId',
  'status',
  'issue',
  'pullRequest',
  'commit',
  'skipReason',
  'toastMessage',
  'transcriptNote',
  'durationMs',
  'error',
  'logs',
];

export let h: Harness;
export const others: Harness[] = [];

export const post = (sessionId: string, body: unknown, token: string | null = OPERATOR) =>
  h.call('POST', `/v1/sessions/${sessionId}/automation`, body, token);

export async function record(sessionId: string, body: unknown, token: string = OPERATOR) {
  const res = await post(sessionId, body, token);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export async function list(sessionId: string, query = '', token: string = OPERATOR) {
  const res = await h.call('GET', `/v1/sessions/${sessionId}/automation${query}`, undefined, token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

export async function transcript(sessionId: string, query = '', token: string = OPERATOR) {
  const res = await h.call('GET', `/v1/sessions/${sessionId}/transcript${query}`, undefined, token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Registers the per-test set-up and tear-down in the calling test file. */
export function useAutomation(): void {
  beforeEach(async () => {
    h = await startAutomation();
  });
  afterEach(async () => {
    await h.service.close();
    for (const o of others.splice(0)) await o.service.close();
  });
}
