/**
 * What-if replay end to end: real heartbeats through the real app on real Redis (manual clock,
 * advancing event times), then `POST /v1/workspaces/:id/what-if` replays the workspace's journal
 * through the same chart with the recorded and with candidate settings.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataNodes } from '../../src/store/client.ts';
import {
  OPERATOR,
  T0,
  TOKEN_A,
  TOKEN_B,
  type TestService,
  checkInvariants,
  expectError,
  hb,
  startService,
} from '../helpers.ts';

const SEC = 1000;
const MIN = 60 * SEC;
const iso = (ms: number) => new Date(ms).toISOString();

let service: TestService;

beforeEach(async () => {
  service = await startService();
});

afterEach(async () => {
  await service.close();
});

async function call(method: string, path: string, body?: unknown, token: string | null = OPERATOR) {
  const res = await service.api(method, path, body, token);
  checkInvariants(res);
  return res;
}

async function ok(method: string, path: string, body?: unknown, status = 200) {
  const res = await call(method, path, body);
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(status);
  await service.engine.idle();
  return res.body;
}

/** Moves the clock, fires every durable timer now due, and lets the chains finish. */
async function elapse(ms: number) {
  service.clock.advance(ms);
  await service.engine.fireDueTimers();
  await service.engine.idle();
}

/** A workspace on ACP with its connections connected. */
async function acpWorkspace(workspaceId: string, connectionIds: string[]) {
  for (const connectionId of connectionIds) {
    await ok(
      'POST',
      '/v1/connections',
      { connectionId, installationId: 'inst-a', workspaceId },
      201,
    );
  }
  await ok(
    'POST',
    `/v1/workspaces/${workspaceId}/migrations`,
    { toProtocol: 'acp', initiatedBy: 'operator' },
    201,
  );
  for (const id of connectionIds) {
    await ok('POST', `/v1/connections/${id}/handshake`, {
      protocolVersion: '1.2.0',
      negotiatedCapabilities: ['fs'],
    });
  }
  expect((await ok('GET', `/v1/workspaces/${workspaceId}`)).state).toBe('acp');
}

/** Heartbeats `[connection, succeeded, failed]`, 20 s of event time apart. */
async function beats(list: [string, number, number][]) {
  for (const [id, s, f] of list) {
    await elapse(20 * SEC);
    await ok('POST', `/v1/connections/${id}/heartbeats`, hb(service.clock.now(), s, f));
  }
}

function whatIf(workspaceId: string, body: unknown, token: string = OPERATOR) {
  return call('POST', `/v1/workspaces/${workspaceId}/what-if`, body, token);
}

async function auditOf(workspaceId: string, stream: string) {
  return (await ok('GET', `/v1/workspaces/${workspaceId}/${stream}?limit=500`)).items as any[];
}

const kinds = (decisions: any[]) => decisions.map((d) => d.kind);

describe('POST /v1/workspaces/:workspaceId/what-if', () => {
  it('keeps a workspace at exactly 99.0% on ACP, and would roll it back just below with a threshold of 99.01%', async () => {
    await acpWorkspace('ws-1', ['c1', 'c2']);
    await beats([
      ['c1', 99, 1],
      ['c2', 198, 2],
      ['c1', 495, 5],
    ]);
    expect((await ok('GET', '/v1/workspaces/ws-1')).health).toMatchObject({
      successRate: 0.99,
      sampleSize: 800,
      verdict: 'healthy',
    });
    expect(await auditOf('ws-1', 'rollbacks')).toEqual([]);

    const same = await whatIf('ws-1', {
      from: iso(T0),
      settings: { thresholds: { minSuccessRate: 0.99 } },
    });
    expect(same.status, JSON.stringify(same.body)).toBe(200);
    expect(same.body.summary.whatIf.rollback).toBe(0);
    expect(same.body.summary.changed).toBe(false);
    expect(same.body.actual.decisions, JSON.stringify(same.body, null, 1)).toEqual(
      same.body.actual.recorded,
    );
    expect(same.body.actual.matchesRecord).toBe(true);

    const stricter = await whatIf('ws-1', {
      from: iso(T0),
      settings: { thresholds: { minSuccessRate: 0.9901 } },
    });
    expect(stricter.status).toBe(200);
    expect(stricter.body.summary.actual.rollback).toBe(0);
    expect(stricter.body.summary.whatIf.rollback).toBe(1);
    const [rollback] = stricter.body.whatIf.decisions.filter((d: any) => d.kind === 'rollback');
    // The first heartbeat already brings 100 operations at 99.0 %: below 99.01 %.
    expect(rollback).toMatchObject({
      trigger: 'auto-threshold',
      evidence: { successRate: 0.99, sampleSize: 100 },
    });
    // After the migration's two entries, which both runs share.
    expect(stricter.body.summary.firstDifference).toMatchObject({ index: 2, actual: null });
    expect(stricter.body.whatIf.finalState).toBe('http.cooldown');
    expect(stricter.body.actual.finalState).toBe('acp');
    expect(stricter.body.settings.candidate.thresholds.minSuccessRate).toBe(0.9901);
    expect(stricter.body.settings.recorded.thresholds.minSuccessRate).toBe(0.99);
  });

  it('reproduces exactly the decisions that were made (holds, rollback, migrations, timers), and a lower threshold removes the rollback', async () => {
    await acpWorkspace('ws-2', ['c3', 'c4']);
    await beats([
      ['c3', 5, 5], // 50 % over 10 operations: held, not rolled back
      ['c4', 500, 0], // 505 / 510: healthy
      ['c3', 0, 10], // 505 / 520 = 97.1 %: a rollback
    ]);
    expect((await ok('GET', '/v1/workspaces/ws-2')).state).toBe('http.cooldown');
    await elapse(31 * MIN); // the cooldown timer fires
    expect((await ok('GET', '/v1/workspaces/ws-2')).state).toBe('http.idle');
    await ok(
      'POST',
      '/v1/workspaces/ws-2/migrations',
      { toProtocol: 'acp', initiatedBy: 'operator' },
      201,
    );
    await elapse(11 * MIN); // its connections stay rolled back: the migration times out

    const rollbacks = await auditOf('ws-2', 'rollbacks');
    const migrations = await auditOf('ws-2', 'migrations');
    const decisions = await auditOf('ws-2', 'decisions');
    expect(rollbacks).toHaveLength(1);
    expect(decisions.map((d) => d.decision)).toEqual(['rollback-held']);
    expect(migrations.map((m) => m.status).reverse()).toEqual([
      'in-progress',
      'succeeded',
      'rolled-back',
      'in-progress',
      'failed',
    ]);

    const res = await whatIf('ws-2', {
      from: iso(T0),
      to: iso(service.clock.now()),
      settings: {},
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const { actual } = res.body;
    expect(actual.matchesRecord).toBe(true);
    expect(actual.decisions).toEqual(actual.recorded);
    expect(kinds(actual.decisions)).toEqual([
      'migration-started',
      'migration-succeeded',
      'hold',
      'rollback',
      'migration-rolled-back',
      'migration-started',
      'migration-failed',
    ]);
    // The same RollbackEvent, at the same time, with the same evidence as the real one.
    const replayed = actual.decisions.find((d: any) => d.kind === 'rollback');
    expect(replayed).toMatchObject({
      id: rollbacks[0].eventId,
      at: rollbacks[0].initiatedAt,
      evidence: rollbacks[0].metricsSnapshot,
    });
    const failed = actual.decisions.find((d: any) => d.kind === 'migration-failed');
    expect(failed.at).toBe(migrations[0].completedAt);
    expect(res.body.summary.changed).toBe(false);
    expect(res.body.actual.finalState).toBe('http.idle');
    expect(res.body.coverage).toMatchObject({ complete: true, eventsBefore: 0 });

    // With 95 %, 97.1 % is no breach: no rollback, and the workspace stays on ACP.
    const lenient = await whatIf('ws-2', {
      from: iso(T0),
      settings: { thresholds: { minSuccessRate: 0.95 } },
    });
    expect(lenient.status).toBe(200);
    expect(lenient.body.summary.whatIf.rollback).toBe(0);
    expect(lenient.body.summary.actual.rollback).toBe(1);
    expect(lenient.body.whatIf.finalState).toBe('acp');
    // 50 % over 10 operations is held under either threshold; the rollback is what differs.
    expect(kinds(lenient.body.whatIf.decisions)).toEqual([
      'migration-started',
      'migration-succeeded',
      'hold',
    ]);
    expect(lenient.body.summary.firstDifference).toMatchObject({
      index: 3,
      actual: { kind: 'rollback', id: rollbacks[0].eventId },
      whatIf: null,
    });
  });

  it('reproduces a timer its chart started in a step the poller fired late (a scheduled migration, then its timeout)', async () => {
    await ok(
      'POST',
      '/v1/connections',
      { connectionId: 'c10', installationId: 'inst-a', workspaceId: 'ws-7' },
      201,
    );
    await ok(
      'POST',
      '/v1/workspaces/ws-7/migrations',
      { toProtocol: 'acp', initiatedBy: 'operator', scheduledAt: iso(T0 + MIN) },
      201,
    );
    // The poller runs 700 ms after the scheduled time: the migration starts then, and its
    // timeout is counted from that step (c10 never handshakes, so the migration times out).
    await elapse(MIN + 700);
    expect((await ok('GET', '/v1/workspaces/ws-7')).state).toBe('migrating');
    await elapse(11 * MIN);
    const [failed] = await auditOf('ws-7', 'migrations');
    expect(failed.status).toBe('failed');

    const res = await whatIf('ws-7', { from: iso(T0), settings: {} });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(kinds(res.body.actual.recorded)).toEqual(['migration-started', 'migration-failed']);
    expect(res.body.actual.decisions, JSON.stringify(res.body, null, 1)).toEqual(
      res.body.actual.recorded,
    );
    expect(res.body.actual.matchesRecord).toBe(true);
    expect(res.body.summary.changed).toBe(false);
    // A longer timeout, counted from the same step, moves the failure by the difference.
    const longer = await whatIf('ws-7', {
      from: iso(T0),
      to: iso(T0 + 13 * MIN),
      settings: { thresholds: { migrationTimeoutMinutes: 11 } },
    });
    expect(longer.body.whatIf.decisions.find((d: any) => d.kind === 'migration-failed')?.at).toBe(
      iso(Date.parse(failed.completedAt) + MIN),
    );
  });

  it('journals the reports that decided nothing compact, and the decisions whole with their ids', async () => {
    await acpWorkspace('ws-6', ['c8']);
    await beats([
      ['c8', 200, 0], // healthy: nothing decided
      ['c8', 0, 10], // 200 / 210 = 95.2 %: the rollback
    ]);
    const [rollback] = await auditOf('ws-6', 'rollbacks');
    const entries = (
      await service.engine.store.journal(
        { kind: 'workspace', installationId: 'inst-a', id: 'ws-6' },
        100,
      )
    ).map((text) => ({ text, entry: JSON.parse(text) }));
    // A compact report is an array with its version first: `[<version>,"R",...]`.
    const reports = entries.filter(({ entry }) => Array.isArray(entry));
    expect(reports.length).toBeGreaterThan(0);
    for (const { text } of reports) expect(text.length).toBeLessThan(105);
    const whole = entries.map(({ entry }) => entry.event).filter((e) => e && !Array.isArray(e));
    expect(whole.map((e) => e.type)).toContain('REQUEST_MIGRATION');
    expect(whole).toContainEqual(
      expect.objectContaining({ type: 'CONNECTION_REPORT', eventId: rollback.eventId }),
    );
    const res = await whatIf('ws-6', { from: iso(T0), settings: {} });
    expect(res.body.actual.matchesRecord).toBe(true);
  });

  it('starts a range inside the recording from the recorded state: only the decisions in the range', async () => {
    await acpWorkspace('ws-3', ['c5']);
    await beats([['c5', 200, 0]]);
    const from = service.clock.now() + 1;
    await beats([['c5', 0, 10]]);
    const res = await whatIf('ws-3', { from: iso(from), settings: {} });
    expect(res.status).toBe(200);
    expect(kinds(res.body.actual.decisions)).toEqual(['rollback', 'migration-rolled-back']);
    expect(res.body.actual.matchesRecord).toBe(true);
    expect(res.body.coverage.eventsBefore).toBeGreaterThan(0);
    expect(res.body.coverage.eventsInRange).toBeGreaterThan(0);
  });

  it('writes nothing', async () => {
    await acpWorkspace('ws-4', ['c6']);
    await beats([
      ['c6', 100, 0],
      ['c6', 0, 50],
    ]);
    const before = await dumpKeys();
    const res = await whatIf('ws-4', {
      from: iso(T0),
      settings: { thresholds: { minSuccessRate: 0.5, cooldownMinutes: 5, flapLimit: 1 } },
    });
    expect(res.status).toBe(200);
    expect(res.body.summary.whatIf.rollback).toBe(0);
    expect(await dumpKeys()).toEqual(before);
  });

  it('answers 400 naming the field for bad input, and 404 for an unknown or foreign workspace', async () => {
    await acpWorkspace('ws-5', ['c7']);
    const good = { from: iso(T0), settings: {} };
    expectError(
      await whatIf('ws-5', { ...good, from: 'yesterday' }),
      400,
      'validation-failed',
      'from',
    );
    expectError(await whatIf('ws-5', { settings: {} }), 400, 'validation-failed', 'from');
    expectError(
      await whatIf('ws-5', { ...good, to: iso(T0 - MIN) }),
      400,
      'validation-failed',
      'to',
    );
    expectError(
      await whatIf('ws-5', { ...good, settings: { thresholds: { minSuccessRate: 1.5 } } }),
      400,
      'validation-failed',
      'settings.thresholds.minSuccessRate',
    );
    expectError(
      await whatIf('ws-5', { ...good, settings: { thresholds: { minSucessRate: 0.9 } } }),
      400,
      'validation-failed',
      'settings.thresholds.minSucessRate',
    );
    expectError(
      await whatIf('ws-5', { ...good, settings: { thresholds: { windowMinutes: 0 } } }),
      400,
      'validation-failed',
      'settings.thresholds.windowMinutes',
    );
    expectError(await whatIf('ws-5', { ...good, extra: 1 }), 400, 'validation-failed', 'extra');
    // Without `to` the range ends now: a `from` after now is an empty range, named as such.
    expectError(
      await whatIf('ws-5', { from: iso(service.clock.now() + MIN), settings: {} }),
      400,
      'validation-failed',
      'from',
    );
    expectError(await whatIf('ws-nope', good), 404, 'not-found');
    expectError(await whatIf('ws-5', good, TOKEN_B), 404, 'not-found');
    expect((await whatIf('ws-5', good, TOKEN_A)).status).toBe(200);
  });
});

/** Every key of the service's prefix with its serialized value (DUMP), sorted. */
async function dumpKeys(): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const node of dataNodes(service.redis)) {
    const keys = await node.keys(`${service.prefix}:*`);
    for (const key of keys) {
      const dump = await service.redis.dumpBuffer(key);
      out.push([key, dump ? dump.toString('hex') : '']);
    }
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}
