/**
 * A refused workspace command writes nothing: the service asks the chart (`snapshot.can`)
 * before it records anything, and the chart's refusal is a 409 that names why.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestService, checkInvariants, startWithConnection } from '../helpers.ts';
import { snapshotKeys } from '../hostile/support.ts';

let s: TestService;

beforeEach(async () => {
  s = await startWithConnection();
});

afterEach(async () => {
  await s.close();
});

async function refusedWithoutWrites(method: string, path: string, body: unknown) {
  const before = await snapshotKeys(s.redis, s.prefix);
  const res = await s.api(method, path, body);
  checkInvariants(res);
  expect(res.status, JSON.stringify(res.body)).toBe(409);
  expect(res.body.error.code).toBe('migration-refused');
  expect(await snapshotKeys(s.redis, s.prefix)).toEqual(before);
  return res;
}

describe('refused workspace commands', () => {
  it('writes nothing for a rollback of a workspace that is on HTTP', async () => {
    await refusedWithoutWrites('POST', '/v1/workspaces/ws-1/rollback', { reason: 'test' });
  });

  it('writes nothing for a migration to HTTP of a workspace that is on HTTP', async () => {
    const res = await refusedWithoutWrites('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'http',
      initiatedBy: 'operator',
    });
    expect(res.body.error.details.state).toBe('http.idle');
  });

  it('writes nothing for a user opt-in the chart refuses under a scheduled rollout, and says why', async () => {
    const put = await s.api('PUT', '/v1/installations/inst-a/settings', {
      rolloutMode: 'scheduled',
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const res = await refusedWithoutWrites('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'user',
    });
    expect(res.body.error.details.field).toBe('initiatedBy');
  });

  it('writes nothing for a second migration to ACP while the first is in progress', async () => {
    const first = await s.api('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
    });
    expect(first.body.workspace.state).toBe('migrating');
    await refusedWithoutWrites('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
    });
  });
});

describe('refused registrations', () => {
  it('writes nothing when the workspace belongs to another installation (no owner, no registry entry)', async () => {
    const before = await snapshotKeys(s.redis, s.prefix);
    const res = await s.api('POST', '/v1/connections', {
      connectionId: 'c-new',
      installationId: 'inst-b',
      workspaceId: 'ws-1',
    });
    checkInvariants(res);
    expect(res.status).toBe(409);
    expect(res.body.error.details.field).toBe('workspaceId');
    expect(await snapshotKeys(s.redis, s.prefix)).toEqual(before);
    // The id stays free for anyone.
    const later = await s.api('POST', '/v1/connections', {
      connectionId: 'c-new',
      installationId: 'inst-b',
      workspaceId: 'ws-b',
    });
    expect(later.status).toBe(201);
  });

  it('writes nothing when an existing connection is registered again with a new workspaceId', async () => {
    const before = await snapshotKeys(s.redis, s.prefix);
    const res = await s.api('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-other',
    });
    checkInvariants(res);
    expect(res.status).toBe(409);
    expect(await snapshotKeys(s.redis, s.prefix)).toEqual(before);
    expect((await s.api('GET', '/v1/workspaces/ws-other')).status).toBe(404);
  });
});
