/**
 * Timestamps a client sends are accepted only within a documented window (issue #10, defect 2):
 * a heartbeat `timestamp` no older than HEARTBEAT_MAX_AGE_MS (the 1 h rolling window plus 5
 * minutes of grace, relative to the engine clock) and no more than 5 minutes ahead of it. A
 * first heartbeat dated 1969 with 10,000,000 successes used to poison the connection's window
 * for good; now it is a 400 naming `timestamp` that writes nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  OPERATOR,
  T0,
  type TestService,
  checkInvariants,
  expectError,
  hb,
  startService,
} from '../helpers.ts';
import { connectInstA, sendAndDiff } from './support.ts';

const MIN = 60_000;
const MAX_AGE = 65 * MIN;

let s: TestService;

beforeEach(async () => {
  s = await startService();
});

afterEach(async () => {
  await s.close();
});

/** A JSON request with the operator token; the answer and the keys it changed. */
async function call(method: string, path: string, body?: unknown) {
  const res = await sendAndDiff(s, {
    method,
    path,
    headers: {
      authorization: `Bearer ${OPERATOR}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  checkInvariants(res);
  return res;
}

const connect = (connectionId: string) => connectInstA(s, connectionId);

const heartbeat = (body: unknown) => call('POST', '/v1/connections/c1/heartbeats', body);

describe('POST /v1/connections/:connectionId/heartbeats timestamp window', () => {
  it.each([
    ['1969-12-31T23:58:00Z (before the epoch)', '1969-12-31T23:58:00Z'],
    ['0001-01-01T00:00:00Z (year 0001)', '0001-01-01T00:00:00Z'],
    ['1970-01-01T00:00:00Z (the epoch)', '1970-01-01T00:00:00Z'],
    ['one day before the clock', new Date(T0 - 24 * 60 * MIN).toISOString()],
    ['1 ms older than 65 minutes before the clock', new Date(T0 - MAX_AGE - 1).toISOString()],
  ])('answers 400 naming timestamp for %s and writes nothing', async (_label, timestamp) => {
    await connect('c1');
    const res = await heartbeat({ timestamp, succeeded: 10_000_000, failed: 0 });
    expectError(res, 400, 'validation-failed', 'timestamp');
    expect(res.body.error.message).toContain('in the past');
    expect(res.written).toEqual([]);
  });

  it('accepts a heartbeat exactly 65 minutes old, and one exactly 5 minutes ahead', async () => {
    await connect('c1');
    const oldest = await heartbeat(hb(T0 - MAX_AGE, 3));
    expect(oldest.status, JSON.stringify(oldest.body)).toBe(200);
    expect(oldest.body.sampleSize).toBe(3);
    const newest = await heartbeat(hb(T0 + 5 * MIN, 4));
    expect(newest.status, JSON.stringify(newest.body)).toBe(200);
    // The window is by event time: 70 minutes before the newest heartbeat, the oldest left it.
    expect(newest.body.sampleSize).toBe(4);
  });

  it('records a heartbeat from a clock running ahead as received now, never as a later lastHeartbeat', async () => {
    await connect('c1');
    const ahead = await heartbeat(hb(T0 + 4 * MIN, 7));
    expect(ahead.status, JSON.stringify(ahead.body)).toBe(200);
    // Accepted and counted, but shown at the engine's time of receipt.
    expect(ahead.body.sampleSize).toBe(7);
    const record = (await s.api('GET', '/v1/connections/c1')).body;
    expect(record.lastHeartbeat).toBe(new Date(T0).toISOString());

    // A minute later a heartbeat timestamped in the past (still after the receipt above) moves
    // it on; one dated before the last recorded time does not move it back.
    s.clock.advance(MIN);
    await heartbeat(hb(T0 + 30_000, 1));
    expect((await s.api('GET', '/v1/connections/c1')).body.lastHeartbeat).toBe(
      new Date(T0 + 30_000).toISOString(),
    );
    await heartbeat(hb(T0 + 10_000, 1));
    expect((await s.api('GET', '/v1/connections/c1')).body.lastHeartbeat).toBe(
      new Date(T0 + 30_000).toISOString(),
    );
  });

  it('records the receipt time for a future item of a batch, and the timestamp for a past one', async () => {
    await connect('c1');
    await connect('c2');
    s.clock.advance(MIN);
    const res = await call('POST', '/v1/heartbeats', {
      items: [
        { connectionId: 'c1', ...hb(T0 + MIN + 5 * MIN, 2) },
        { connectionId: 'c2', ...hb(T0, 2) },
      ],
    });
    expect(res.body).toMatchObject({ accepted: 2, rejected: 0 });
    const last = async (id: string) =>
      (await s.api('GET', `/v1/connections/${id}`)).body.lastHeartbeat as string;
    expect(await last('c1')).toBe(new Date(T0 + MIN).toISOString());
    expect(await last('c2')).toBe(new Date(T0).toISOString());
  });

  it('measures the window against the engine clock, not the wall clock', async () => {
    await connect('c1');
    s.clock.advance(2 * 60 * MIN);
    // Still "in the future" for the wall clock (T0 is in 2026), but 2 h behind the engine's.
    expectError(await heartbeat(hb(T0, 1)), 400, 'validation-failed', 'timestamp');
    expect((await heartbeat(hb(T0 + 2 * 60 * MIN - MAX_AGE, 1))).status).toBe(200);
  });

  it('takes HEARTBEAT_MAX_AGE_MS as the bound', async () => {
    const strict = await startService({ HEARTBEAT_MAX_AGE_MS: String(10 * MIN) });
    try {
      await strict.api('POST', '/v1/connections', {
        connectionId: 'c1',
        installationId: 'inst-a',
        workspaceId: 'ws-1',
      });
      await strict.api('POST', '/v1/connections/c1/handshake', {
        protocolVersion: '1.2.0',
        negotiatedCapabilities: [],
      });
      const late = await strict.api('POST', '/v1/connections/c1/heartbeats', hb(T0 - 11 * MIN, 1));
      expectError(late, 400, 'validation-failed', 'timestamp');
      expect(late.body.error.message).toContain('10 minutes');
      const ok = await strict.api('POST', '/v1/connections/c1/heartbeats', hb(T0 - 10 * MIN, 1));
      expect(ok.status).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it('no longer lets a first heartbeat dated 1969 with 10,000,000 successes hide later failures', async () => {
    await connect('c1');
    const poison = await heartbeat({
      timestamp: '1969-12-31T23:58:00Z',
      succeeded: 10_000_000,
      failed: 0,
    });
    expect(poison.status).toBe(400);
    // The scenario: failures keep coming; the window counts only them.
    let last: any;
    for (let minute = 0; minute < 3; minute++) {
      last = await heartbeat(hb(T0 + minute * MIN, 0, 100));
      expect(last.status).toBe(200);
    }
    expect(last.body).toMatchObject({ sampleSize: 300, successRate: 0 });
    expect(last.body.status).not.toBe('connected');
  });
});

describe('POST /v1/heartbeats timestamp window', () => {
  it('answers a per-item 400 naming timestamp for items dated 1969 and year 0001, applies the rest, and writes nothing for a refused-only batch', async () => {
    await connect('c1');
    const mixed = await call('POST', '/v1/heartbeats', {
      items: [
        { connectionId: 'c1', timestamp: '1969-12-31T23:58:00Z', succeeded: 10_000_000, failed: 0 },
        { connectionId: 'c1', ...hb(T0, 5) },
        { connectionId: 'c1', timestamp: '0001-01-01T00:00:00Z', succeeded: 1, failed: 0 },
      ],
    });
    expect(mixed.status).toBe(200);
    expect(mixed.body).toMatchObject({ accepted: 1, rejected: 2 });
    for (const i of [0, 2]) {
      const item = mixed.body.results[i];
      expect(item).toMatchObject({ ok: false, status: 400 });
      expect(item.error.code).toBe('validation-failed');
      expect(item.error.details).toMatchObject({
        in: 'body',
        fields: [{ field: 'timestamp', message: expect.stringContaining('minutes in the past') }],
      });
      expect(item.error.message).toContain('timestamp');
    }
    expect(mixed.body.results[1]).toMatchObject({ ok: true, result: { sampleSize: 5 } });

    const refused = await call('POST', '/v1/heartbeats', {
      items: [{ connectionId: 'c1', timestamp: '1969-12-31T23:58:00Z', succeeded: 1, failed: 0 }],
    });
    expect(refused.body).toMatchObject({ accepted: 0, rejected: 1 });
    expect(refused.written).toEqual([]);
  });
});

describe('other timestamps', () => {
  it('answers 400 naming scheduledAt for a migration scheduled in year 0001, and writes nothing', async () => {
    await connect('c1');
    const res = await call('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
      scheduledAt: '0001-01-01T00:00:00Z',
    });
    expectError(res, 400, 'validation-failed', 'scheduledAt');
    expect(res.written).toEqual([]);
  });

  it('answers 400 naming scheduledAt for a migration scheduled more than a year ahead, and writes nothing', async () => {
    await connect('c1');
    const res = await call('POST', '/v1/workspaces/ws-1/migrations', {
      toProtocol: 'acp',
      initiatedBy: 'operator',
      scheduledAt: '9999-12-31T00:00:00Z',
    });
    expectError(res, 400, 'validation-failed', 'scheduledAt');
    expect(res.written).toEqual([]);
  });

  it('takes any valid date as an audit filter: from year 0001 to 9999 is the whole log', async () => {
    await connect('c1');
    const res = await call(
      'GET',
      '/v1/workspaces/ws-1/migrations?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z',
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.written).toEqual([]);
  });
});
