/**
 * `npm run what-if` against a service whose journal holds nothing for the workspace: it says so
 * and exits 1, rather than printing two empty runs as "no difference" next to real decisions.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR, T0, type TestService, startService } from '../helpers.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;

describe('npm run what-if with nothing recorded', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService({ WHAT_IF_JOURNAL_EVENTS: '0' });
    const reg = await service.api('POST', '/v1/connections', {
      connectionId: 'c1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
    });
    expect(reg.status).toBe(201);
  });
  afterAll(async () => {
    await service.close();
  });

  it('says that the journal is empty and exits 1', async () => {
    // The route itself answers 200 with no replay (settings: null) and empty decision lists.
    const answer = await service.api('POST', '/v1/workspaces/ws-1/what-if', {
      from: new Date(T0 - 60_000).toISOString(),
      settings: {},
    });
    expect(answer.status).toBe(200);
    expect(answer.body.settings).toBeNull();
    const args = ['--import', 'tsx', 'sim/what-if.ts', '--workspace', 'ws-1', '--token', OPERATOR];
    const failure = await run(
      process.execPath,
      [...args, '--from', new Date(T0 - 60_000).toISOString(), '--url', service.url],
      { cwd: ROOT },
    ).then(
      () => null,
      (error: { code?: number; stdout?: string; stderr?: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toBe('');
    expect(failure?.stderr).toBe(
      'what-if failed: nothing recorded to replay for workspace ws-1: its journal is empty (the service runs with WHAT_IF_JOURNAL_EVENTS=0, or nothing happened to the workspace since it journals)\n',
    );
  });
});
