/**
 * GitHub automation summaries and session transcripts end to end: the real app on port 0 with
 * the automation module (and fake notifications/metrics modules), real Redis under a per-test
 * key prefix, a manual clock at T0. Every response is checked for the house invariants (no
 * bearer token in a body, one error shape).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OPERATOR, T0, TOKEN_A, TOKEN_B } from '../helpers.ts';
import { FAKE } from './fixtures.ts';
import {
  type Harness,
  dumpKeys,
  expectError,
  skipped,
  startAutomation,
  summary,
} from './support.ts';
import { AUTOMATION_SERVICES } from '../../src/automation/types.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SEED_FIELDS = [
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

let h: Harness;
const others: Harness[] = [];

beforeEach(async () => {
  h = await startAutomation();
});

afterEach(async () => {
  await h.service.close();
  for (const o of others.splice(0)) await o.service.close();
});

const post = (sessionId: string, body: unknown, token: string | null = OPERATOR) =>
  h.call('POST', `/v1/sessions/${sessionId}/automation`, body, token);

async function record(sessionId: string, body: unknown, token: string = OPERATOR) {
  const res = await post(sessionId, body, token);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function list(sessionId: string, query = '', token: string = OPERATOR) {
  const res = await h.call('GET', `/v1/sessions/${sessionId}/automation${query}`, undefined, token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function transcript(sessionId: string, query = '', token: string = OPERATOR) {
  const res = await h.call('GET', `/v1/sessions/${sessionId}/transcript${query}`, undefined, token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

describe('POST /v1/sessions/:sessionId/automation', () => {
  it('records a success summary with every seed field, wire values and an automation transcript entry', async () => {
    const res = await post('s1', summary({ runId: 'run-1' }));
    expect(res.status).toBe(201);
    for (const field of SEED_FIELDS) expect(res.body).toHaveProperty(field);
    expect(res.body).toMatchObject({
      sessionId: 's1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      runId: 'run-1',
      status: 'success',
      issue: { id: 9001, number: 42, title: 'Fix login' },
      pullRequest: { number: 43, branch: 'lumi/fix-42' },
      skipReason: null,
      error: null,
      durationMs: 1234,
      logs: [
        {
          at: null,
          level: 'info',
          message: 'opened pull request',
          step: 'pr',
          code: null,
          data: null,
        },
      ],
      source: 'api',
      createdAt: new Date(T0).toISOString(),
    });
    expect(res.body.summaryId).toMatch(UUID);
    expect(await list('s1')).toEqual({ items: [res.body], nextCursor: null });

    const { items } = await transcript('s1');
    expect(items).toEqual([
      {
        entryId: `automation-${res.body.summaryId}`,
        sessionId: 's1',
        installationId: 'inst-a',
        workspaceId: 'ws-1',
        eventType: 'automation',
        message:
          'GitHub automation succeeded: pull request #43 on lumi/fix-42, issue #42, commit a1b2c3d.',
        context: expect.objectContaining({
          summaryId: res.body.summaryId,
          runId: 'run-1',
          status: 'success',
          pullRequest: res.body.pullRequest,
        }),
        createdAt: new Date(T0).toISOString(),
      },
    ]);
    // A success sends no toast and counts no skip.
    expect(h.notifier.calls).toEqual([]);
    expect(h.metrics.counts).toEqual([]);
  });

  it('normalises log timestamps to ISO UTC and keeps structured data', async () => {
    const body = await record(
      's1',
      summary({
        logs: [
          {
            at: '2026-11-25T11:59:00Z',
            level: 'warn',
            message: 'retrying',
            code: 'E1',
            data: { n: 2 },
          },
        ],
      }),
    );
    expect(body.logs).toEqual([
      {
        at: '2026-11-25T11:59:00.000Z',
        level: 'warn',
        message: 'retrying',
        step: null,
        code: 'E1',
        data: { n: 2 },
      },
    ]);
  });

  it('answers 400 naming skipReason, toastMessage and transcriptNote for a skipped run without them, and writes nothing', async () => {
    const res = await post('s1', {
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      status: 'skipped',
    });
    expectError(res, 400, 'validation-failed', 'skipReason', 'toastMessage', 'transcriptNote');
    for (const field of ['skipReason', 'toastMessage', 'transcriptNote']) {
      const { toastMessage: _t, transcriptNote: _n, skipReason: _r, ...rest } = skipped();
      const partial = {
        ...rest,
        ...Object.fromEntries(
          (['skipReason', 'toastMessage', 'transcriptNote'] as const)
            .filter((f) => f !== field)
            .map((f) => [f, skipped()[f]]),
        ),
      };
      const one = await post('s1', partial);
      expectError(one, 400, 'validation-failed', field);
      expect(one.body.error.details.fields).toHaveLength(1);
    }
    expect((await dumpKeys(h.service)).keys).toEqual([]);
  });

  it('answers 400 naming error for an error run without it, and error.code/message/retryable when they are missing', async () => {
    const base = { installationId: 'inst-a', workspaceId: 'ws-1', status: 'error' };
    expectError(await post('s1', base), 400, 'validation-failed', 'error');
    expectError(
      await post('s1', { ...base, error: {} }),
      400,
      'validation-failed',
      'error.code',
      'error.message',
      'error.retryable',
    );
    expectError(
      await post('s1', { ...base, error: { code: 'x', message: 'y', retryable: 'yes' } }),
      400,
      'validation-failed',
      'error.retryable',
    );
    expect((await dumpKeys(h.service)).keys).toEqual([]);
  });

  it('answers 400 for skipReason or error on a run whose status does not allow them', async () => {
    expectError(
      await post('s1', summary({ skipReason: 'other' })),
      400,
      'validation-failed',
      'skipReason',
    );
    expectError(
      await post('s1', summary({ error: { code: 'x', message: 'y', retryable: false } })),
      400,
      'validation-failed',
      'error',
    );
  });

  it('answers 400 naming toastMessage at 141 characters and accepts exactly 140', async () => {
    expectError(
      await post('s1', skipped({ toastMessage: 'x'.repeat(141) })),
      400,
      'validation-failed',
      'toastMessage',
    );
    // Characters, not UTF-16 units: 140 emoji are 140 characters.
    const ok = await record('s1', skipped({ toastMessage: '🚀'.repeat(140) }));
    expect([...ok.toastMessage]).toHaveLength(140);
    expect(
      (await record('s2', skipped({ toastMessage: 'y'.repeat(140) }))).toastMessage,
    ).toHaveLength(140);
  });

  it.each([
    ['repo-blocked', 'repo-blocked'],
    ['repoBlocked', 'repo-blocked'],
    ['missing-credential', 'missing-credential'],
    ['missingCredential', 'missing-credential'],
    ['automation-disabled', 'automation-disabled'],
    ['automationDisabled', 'automation-disabled'],
    ['rate-limited', 'rate-limited'],
    ['rateLimited', 'rate-limited'],
    ['workspace-rollback', 'workspace-rollback'],
    ['workspaceRollback', 'workspace-rollback'],
    ['other', 'other'],
  ])('accepts skipReason %s and stores %s', async (input, stored) => {
    const body = await record('s1', skipped({ skipReason: input }));
    expect(body.skipReason).toBe(stored);
    expect(h.metrics.counts).toEqual([{ name: 'skips', labels: { reason: stored } }]);
  });

  it.each(['repo_blocked', 'RepoBlocked', 'repoblocked', 'blocked', ''])(
    'answers 400 naming skipReason for %j',
    async (reason) => {
      expectError(
        await post('s1', skipped({ skipReason: reason })),
        400,
        'validation-failed',
        'skipReason',
      );
    },
  );

  it('answers 400 naming unknown fields at any depth', async () => {
    expectError(await post('s1', summary({ colour: 'blue' })), 400, 'validation-failed', 'colour');
    expectError(
      await post(
        's1',
        summary({
          issue: { id: 1, number: 1, url: 'https://x.test/1', title: 't', state: 'open' },
        }),
      ),
      400,
      'validation-failed',
      'issue.state',
    );
    expectError(
      await post('s1', summary({ logs: [{ message: 'm', extra: 1 }] })),
      400,
      'validation-failed',
      'logs.0.extra',
    );
    expectError(
      await post('s1', { ...skipped(), error: undefined, category: 'connection' }),
      400,
      'validation-failed',
      'category',
    );
  });

  it('answers 400 naming the field for bad values', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [summary({ durationMs: -1 }), 'durationMs'],
      [summary({ durationMs: 1.5 }), 'durationMs'],
      [summary({ status: 'done' }), 'status'],
      [summary({ installationId: 'a b' }), 'installationId'],
      [summary({ workspaceId: undefined }), 'workspaceId'],
      [summary({ runId: 'has space' }), 'runId'],
      [summary({ issue: { id: 1, number: 0, url: 'https://x.test', title: 't' } }), 'issue.number'],
      [
        summary({ issue: { id: 1, number: 1, url: 'javascript:alert(1)', title: 't' } }),
        'issue.url',
      ],
      [summary({ commit: { sha: 'not-a-sha', message: 'm' } }), 'commit.sha'],
      [summary({ logs: Array.from({ length: 101 }, () => ({ message: 'm' })) }), 'logs'],
      [summary({ logs: [{ message: 'm', level: 'fatal' }] }), 'logs.0.level'],
      [
        summary({
          logs: [
            {
              message: 'm',
              data: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } },
            },
          ],
        }),
        'logs.0.data',
      ],
    ];
    for (const [body, field] of cases)
      expectError(await post('s1', body), 400, 'validation-failed', field);
    expect((await dumpKeys(h.service)).keys).toEqual([]);
  });

  it('answers 413 for a body over 32 KB and writes nothing', async () => {
    const res = await post('s1', summary({ transcriptNote: 'x'.repeat(33 * 1024) }));
    expectError(res, 413, 'payload-too-large');
    expect((await dumpKeys(h.service)).keys).toEqual([]);
  });
});

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

describe('pagination', () => {
  it('pages summaries oldest first with a cursor, and newest first on request', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await record('s1', summary({ runId: `r${i}` }))).summaryId);
      h.service.clock.advance(i % 2 ? 0 : 1000); // several within the same millisecond
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    const sizes: number[] = [];
    do {
      const page: any = await list('s1', `?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      sizes.push(page.items.length);
      seen.push(...page.items.map((s: any) => s.summaryId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(sizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(ids);

    const newest: string[] = [];
    cursor = null;
    do {
      const page: any = await list(
        's1',
        `?limit=2&order=newest-first${cursor ? `&cursor=${cursor}` : ''}`,
      );
      newest.push(...page.items.map((s: any) => s.summaryId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(newest).toEqual([...ids].reverse());

    const exact = await list('s1', '?limit=7');
    expect(exact.items).toHaveLength(7);
    expect(exact.nextCursor).toBeNull();
  });

  it('pages the transcript the same way', async () => {
    for (let i = 0; i < 3; i++) await record('s1', skipped({ runId: `r${i}` }));
    const all = (await transcript('s1', '?limit=200')).items.map((e: any) => e.eventType);
    expect(all).toEqual(['automation', 'toast', 'automation', 'toast', 'automation', 'toast']);
    const first = await transcript('s1', '?limit=4');
    expect(first.items).toHaveLength(4);
    const rest = await transcript('s1', `?limit=4&cursor=${first.nextCursor}`);
    expect(rest.items).toHaveLength(2);
    expect(rest.nextCursor).toBeNull();
    const newest = await transcript('s1', '?limit=1&order=newest-first');
    expect(newest.items[0].eventType).toBe('toast');
  });

  it('answers 400 naming limit, cursor, order or an unknown parameter', async () => {
    await record('s1', summary());
    for (const route of ['automation', 'transcript']) {
      for (const [query, field] of [
        ['?limit=0', 'limit'],
        ['?limit=201', 'limit'],
        ['?limit=many', 'limit'],
        ['?cursor=abc', 'cursor'],
        ['?order=sideways', 'order'],
        ['?colour=blue', 'colour'],
      ] as const) {
        expectError(
          await h.call('GET', `/v1/sessions/s1/${route}${query}`),
          400,
          'validation-failed',
          field,
        );
      }
    }
  });
});

describe('tenancy', () => {
  it('answers TOKEN_B 404 for an inst-a session on every route, as for an unknown session, and writes nothing', async () => {
    await record('s-a', summary({ workspaceId: 'ws-a-secret' }), TOKEN_A);
    const before = await dumpKeys(h.service);
    const attempts: [string, string, unknown][] = [
      ['GET', '/v1/sessions/s-a/automation', undefined],
      ['GET', '/v1/sessions/s-a/transcript', undefined],
      [
        'POST',
        '/v1/sessions/s-a/automation',
        summary({ installationId: 'inst-b', workspaceId: 'ws-b' }),
      ],
    ];
    for (const [method, path, body] of attempts) {
      const res = await h.call(method, path, body, TOKEN_B);
      expectError(res, 404, 'not-found');
      expect(res.body.error.details.field).toBe('sessionId');
      expect(JSON.stringify(res.body)).not.toContain('inst-a');
      expect(JSON.stringify(res.body)).not.toContain('ws-a-secret');
      const unknown = await h.call(method, path.replace('s-a', 'zz'), undefined, TOKEN_B);
      if (method === 'GET')
        expect(res.body.error.message.replace('s-a', 'zz')).toBe(unknown.body.error.message);
    }
    expect((await dumpKeys(h.service)).text).toBe(before.text);
  });

  it('answers TOKEN_A 403 for recording under inst-b and claims nothing', async () => {
    const res = await post('s-x', summary({ installationId: 'inst-b' }), TOKEN_A);
    expectError(res, 403, 'forbidden');
    expect(res.body.error.details.field).toBe('installationId');
    expect((await dumpKeys(h.service)).keys).toEqual([]);
    // The session was not claimed: inst-b can still take it.
    await record('s-x', summary({ installationId: 'inst-b' }), TOKEN_B);
    expect((await list('s-x', '', TOKEN_B)).items).toHaveLength(1);
  });

  it('answers 409 to the operator for a session recorded under another installation, without naming it', async () => {
    await record('s-a', summary({ workspaceId: 'ws-a-secret' }), TOKEN_A);
    const res = await post('s-a', summary({ installationId: 'inst-b' }));
    expectError(res, 409, 'already-exists');
    expect(res.body.error.details.field).toBe('installationId');
    expect(JSON.stringify(res.body)).not.toContain('inst-a');
    expect((await list('s-a')).items).toHaveLength(1);
  });

  it('lets TOKEN_A and the operator read an inst-a session, and 404s an unknown one', async () => {
    await record('s-a', summary(), TOKEN_A);
    expect((await list('s-a', '', TOKEN_A)).items).toHaveLength(1);
    expect((await transcript('s-a', '', TOKEN_A)).items).toHaveLength(1);
    expect((await list('s-a')).items).toHaveLength(1);
    expectError(await h.call('GET', '/v1/sessions/nope/automation'), 404, 'not-found');
    expectError(await h.call('GET', '/v1/sessions/nope/transcript'), 404, 'not-found');
  });

  it('answers 401 without a token on every route', async () => {
    await record('s-a', summary());
    for (const [method, path] of [
      ['GET', '/v1/sessions/s-a/automation'],
      ['GET', '/v1/sessions/s-a/transcript'],
      ['POST', '/v1/sessions/s-a/automation'],
    ] as const) {
      expectError(
        await h.call(method, path, method === 'POST' ? summary() : undefined, null),
        401,
        'unauthorized',
      );
    }
  });
});

describe('services for other modules', () => {
  it('sessions.owner answers the installation of a recorded session, or null', async () => {
    const sessions = h.service.modules.services.require(AUTOMATION_SERVICES.sessions);
    expect(await sessions.owner('s1')).toBeNull();
    await record('s1', summary());
    expect(await sessions.owner('s1')).toBe('inst-a');
  });

  it('transcripts.append stores once per entryId, redacts secrets and refuses another installation', async () => {
    const transcripts = h.service.modules.services.require(AUTOMATION_SERVICES.transcripts);
    const entry = {
      entryId: 'toast-1',
      sessionId: 's1',
      installationId: 'inst-a',
      workspaceId: 'ws-1',
      eventType: 'info' as const,
      message: `delivered with ${FAKE.ghp}`,
      context: { url: FAKE.urlPassword, n: 1 },
    };
    const first = await transcripts.append(entry);
    expect(first).toMatchObject({
      entryId: 'toast-1',
      eventType: 'info',
      message: 'delivered with [redacted github-token]',
      context: { url: '[redacted url-password]git.example.com/acme/app.git', n: 1 },
      createdAt: new Date(T0).toISOString(),
    });
    h.service.clock.advance(1000);
    expect(await transcripts.append({ ...entry, message: 'other' })).toEqual(first);
    expect((await transcript('s1')).items).toEqual([first]);
    await expect(transcripts.append({ ...entry, installationId: 'inst-b' })).rejects.toThrow(
      /another installation/,
    );
    const dump = await dumpKeys(h.service);
    expect(dump.text).not.toContain(FAKE.ghp);
    expect(dump.text).not.toContain('hunter2Secret');
  });
});
