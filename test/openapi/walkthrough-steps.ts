/** What both halves of the walkthrough share. */
import { expect } from 'vitest';
import type { Exchange } from './client.ts';

export const CONNECTION = '/v1/connections/:connectionId';
export const WORKSPACE = '/v1/workspaces/:workspaceId';
export const INSTALLATION = '/v1/installations/:installationId';
export const SESSION = '/v1/sessions/:sessionId';

/** Expects `status` and returns the body (fails with the answer when it differs). */
export function ok(e: Exchange, status: number): any {
  expect(e.status, `${e.method} ${e.url}: ${JSON.stringify(e.body)}`).toBe(status);
  return e.body;
}
