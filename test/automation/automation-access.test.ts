/**
 * GitHub automation summaries end to end: pagination, tenancy and the services other modules use
 * (shared set-up and helpers: automation.helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import { OPERATOR, T0, TOKEN_A, TOKEN_B } from '../helpers.ts';
import { FAKE } from './fixtures.ts';
import { dumpKeys, expectError, skipped, summary } from './support.ts';
import { AUTOMATION_SERVICES } from '../../src/automation/types.ts';
import { h, post, record, list, transcript, useAutomation } from './automation.helpers.ts';

useAutomation();

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
    // camelCase, as every enum of the API accepts on input.
    expect(await transcript('s1', '?limit=1&order=newestFirst')).toEqual(newest);
    expect((await transcript('s1', '?limit=1&order=oldestFirst')).items[0].eventType).toBe(
      'automation',
    );
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
    expect(res.body.error.message).toBe(
      'session s-a already exists; later summaries must name the installation of the first',
    );
    expect(JSON.stringify(res.body)).not.toContain('inst-a');
    expect(JSON.stringify(res.body)).not.toContain('another installation');
    expect((await list('s-a')).items).toHaveLength(1);
  });

  it("refuses a summary naming another installation's workspace as registration does (409 naming workspaceId, not whose), and writes nothing", async () => {
    const register = (token: string, body: Record<string, string>) =>
      h.call('POST', '/v1/connections', body, token);
    expect(
      (
        await register(TOKEN_B, {
          connectionId: 'c-b',
          installationId: 'inst-b',
          workspaceId: 'ws-b',
        })
      ).status,
    ).toBe(201);
    // What registering a connection of inst-a in ws-b answers: the house words for a taken id.
    const taken = await register(TOKEN_A, {
      connectionId: 'c-a',
      installationId: 'inst-a',
      workspaceId: 'ws-b',
    });
    expectError(taken, 409, 'already-exists');
    expect(taken.body.error.details.field).toBe('workspaceId');

    const before = await dumpKeys(h.service);
    for (const token of [TOKEN_A, OPERATOR]) {
      const res = await post(
        's-a',
        summary({ installationId: 'inst-a', workspaceId: 'ws-b' }),
        token,
      );
      // The same answer, field `workspaceId` included.
      expect(res.status, JSON.stringify(res.body)).toBe(409);
      expect(res.body.error).toEqual(taken.body.error);
      expect(JSON.stringify(res.body)).not.toContain('inst-b');
    }
    // Nothing written: the session is not claimed, no summary, transcript or toast.
    expect((await dumpKeys(h.service)).text).toBe(before.text);
    expect(h.notifier.calls).toEqual([]);
    expectError(
      await h.call('GET', '/v1/sessions/s-a/automation', undefined, TOKEN_A),
      404,
      'not-found',
    );

    // inst-a's own workspaces, and one no installation holds yet, are accepted.
    expect(
      (
        await register(TOKEN_A, {
          connectionId: 'c-a',
          installationId: 'inst-a',
          workspaceId: 'ws-a',
        })
      ).status,
    ).toBe(201);
    await record('s-a', summary({ installationId: 'inst-a', workspaceId: 'ws-a' }), TOKEN_A);
    await record('s-a', summary({ installationId: 'inst-a', workspaceId: 'ws-new' }), TOKEN_A);
    // The summary claims no workspace: inst-b can still register ws-new.
    expect(
      (
        await register(TOKEN_B, {
          connectionId: 'c-b2',
          installationId: 'inst-b',
          workspaceId: 'ws-new',
        })
      ).status,
    ).toBe(201);
  });

  it('answers a session another installation holds before the workspace: TOKEN_B gets 404 naming sessionId even with a taken workspace', async () => {
    expect(
      (
        await h.call(
          'POST',
          '/v1/connections',
          { connectionId: 'c-a', installationId: 'inst-a', workspaceId: 'ws-a' },
          TOKEN_A,
        )
      ).status,
    ).toBe(201);
    await record('s-a', summary({ workspaceId: 'ws-a' }), TOKEN_A);
    const res = await post(
      's-a',
      summary({ installationId: 'inst-b', workspaceId: 'ws-a' }),
      TOKEN_B,
    );
    expectError(res, 404, 'not-found');
    expect(res.body.error.details.field).toBe('sessionId');
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
      'session s1 already exists; its entries must name the installation of its first summary',
    );
    const dump = await dumpKeys(h.service);
    expect(dump.text).not.toContain(FAKE.ghp);
    expect(dump.text).not.toContain('hunter2Secret');
  });
});
