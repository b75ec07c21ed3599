/**
 * GitHub automation summaries and session transcripts end to end: POST
 * /v1/sessions/:sessionId/automation (shared set-up and helpers: automation.helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import { T0 } from '../helpers.ts';
import { dumpKeys, expectError, skipped, summary } from './support.ts';
import {
  UUID,
  SEED_FIELDS,
  h,
  post,
  record,
  list,
  transcript,
  useAutomation,
} from './automation.helpers.ts';

useAutomation();

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
    // Exactly the record the README describes: the seed's fields and the engine's own.
    expect(Object.keys(res.body).sort()).toEqual(
      [
        ...SEED_FIELDS,
        'summaryId',
        'installationId',
        'workspaceId',
        'runId',
        'source',
        'rollbackEventId',
        'createdAt',
      ].sort(),
    );
    expect(res.body.rollbackEventId).toBeNull();
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

  it('says a missing status is required and a wrong one what it must be', async () => {
    const base = { installationId: 'inst-a', workspaceId: 'ws-1' };
    const missing = await post('s1', base);
    expect(missing.body.error.details.fields).toContainEqual({
      field: 'status',
      message: 'is required',
    });
    const wrong = await post('s1', { ...base, status: 'done' });
    expect(wrong.body.error.details.fields).toContainEqual({
      field: 'status',
      message: 'must be one of: success, skipped, error',
    });
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
