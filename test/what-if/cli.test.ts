/**
 * `npm run what-if` where the journal does not cover the range: a journal that holds nothing
 * for the workspace (said in one line, exit 1, rather than two empty runs called "no
 * difference"), and one trimmed past `from` (the decisions before its start are counted, rather
 * than reported as a replay that differs).
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

describe('npm run what-if over a trimmed journal', () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService({ WHAT_IF_JOURNAL_EVENTS: '1000' });
    const call = async (method: string, path: string, body: unknown, status = 200) => {
      const res = await service.api(method, path, body);
      expect(res.status, JSON.stringify(res.body)).toBe(status);
    };
    await call(
      'POST',
      '/v1/connections',
      { connectionId: 'c1', installationId: 'inst-a', workspaceId: 'ws-1' },
      201,
    );
    await call(
      'POST',
      '/v1/workspaces/ws-1/migrations',
      {
        toProtocol: 'acp',
        initiatedBy: 'operator',
      },
      201,
    );
    await call('POST', '/v1/connections/c1/handshake', {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: ['fs'],
    });
    service.clock.advance(60_000);
    // 1,200 healthy heartbeats: the journal keeps the last 1,000 entries, so its oldest
    // checkpoint is after the migration's two decisions.
    for (let batch = 0; batch < 2; batch++) {
      const items = Array.from({ length: 600 }, (_, i) => ({
        connectionId: 'c1',
        timestamp: new Date(service.clock.now()).toISOString(),
        succeeded: 10,
        failed: 0,
        heartbeatId: `hb-${batch}-${i}`,
      }));
      await call('POST', '/v1/heartbeats', { items });
    }
  }, 120_000);
  afterAll(async () => {
    await service.close();
  });

  it("says that the decisions before the journal's start are in neither run, not that the replay differs", async () => {
    const from = new Date(T0 - 60_000).toISOString();
    const answer = await service.api('POST', '/v1/workspaces/ws-1/what-if', { from, settings: {} });
    expect(answer.status).toBe(200);
    expect(answer.body.coverage.complete).toBe(false);
    expect(answer.body.actual.matchesRecord).toBe(false);
    expect(answer.body.actual.recorded.map((d: { kind: string }) => d.kind)).toEqual([
      'migration-started',
      'migration-succeeded',
    ]);
    const { stdout } = await run(
      process.execPath,
      [
        ...['--import', 'tsx', 'sim/what-if.ts', '--workspace', 'ws-1', '--from', from],
        ...['--url', service.url, '--token', OPERATOR],
      ],
      { cwd: ROOT },
    );
    expect(stdout.trimEnd().split('\n').at(-1)).toBe(
      `note: 2 recorded decisions in the range come before the journal's start (${answer.body.coverage.journalFrom}) and are in neither run; the replay matches the audit records after it (see --json: actual.recorded)`,
    );
  });
});
