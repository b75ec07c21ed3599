/**
 * Free text a client writes (a reason, who asked, a summary's title, a commit message, a webhook
 * URL) is stored in records and audit entries, logged and shown in the console, toasts and
 * transcripts. Control characters (NUL, the ESC of terminal escape sequences, CR/LF that forge a
 * log line) and bidirectional overrides are refused with a 400 naming the field, and the request
 * writes nothing. Tab is accepted; text with line breaks (a commit message, a note, a log
 * message) accepts LF and CRLF, never a bare CR.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipped, summary } from '../automation/support.ts';
import { type TestService, namedFields, startWithConnection } from '../helpers.ts';
import { sendJsonAndDiff } from './support.ts';

let s: TestService;

beforeAll(async () => {
  s = await startWithConnection();
});

afterAll(async () => {
  await s.close();
});

const call = (method: string, path: string, body: unknown) =>
  sendJsonAndDiff(s, method, path, JSON.stringify(body));

const FORGED = 'done\r\n{"level":"info","msg":"operator approved"}';
const ESC = 'all good\u001b[2K\u001b[1Gcompromised';
const NUL = 'cut\u0000here';
const BIDI = 'rollback \u202eelbat\u202c';

const automation = '/v1/sessions/s1/automation';
const notify = '/v1/installations/inst-a/notifications/settings';

describe('control characters in free text', () => {
  it.each([
    ['POST', '/v1/connections/c1/rollback', { reason: FORGED }, 'reason'],
    ['POST', '/v1/connections/c1/dropped', { reason: NUL }, 'reason'],
    ['POST', '/v1/workspaces/ws-1/rollback', { reason: ESC }, 'reason'],
    ['POST', '/v1/workspaces/ws-1/rollback', { reason: 'flaky', requestedBy: BIDI }, 'requestedBy'],
    [
      'POST',
      '/v1/workspaces/ws-1/migrations',
      { toProtocol: 'acp', initiatedBy: 'operator', requestedBy: 'ops\nadmin' },
      'requestedBy',
    ],
    [
      'POST',
      automation,
      summary({ issue: { id: 1, number: 1, url: 'https://x.example/1', title: ESC } }),
      'issue.title',
    ],
    [
      'POST',
      automation,
      summary({ issue: { id: BIDI, number: 1, url: 'https://x.example/1', title: 't' } }),
      'issue.id',
    ],
    [
      'POST',
      automation,
      summary({ issue: { id: 1, number: 1, url: 'https://x.example/\n1', title: 't' } }),
      'issue.url',
    ],
    [
      'POST',
      automation,
      summary({ pullRequest: { number: 2, url: 'https://x.example/2', branch: `b${NUL}` } }),
      'pullRequest.branch',
    ],
    [
      'POST',
      automation,
      summary({ commit: { sha: 'a1b2c3d', message: `fix\n\n${ESC}` } }),
      'commit.message',
    ],
    ['POST', automation, summary({ logs: [{ message: `m${NUL}` }] }), 'logs.0.message'],
    ['POST', automation, summary({ logs: [{ message: 'm', step: FORGED }] }), 'logs.0.step'],
    ['POST', automation, summary({ logs: [{ message: 'm', code: BIDI }] }), 'logs.0.code'],
    [
      'POST',
      automation,
      summary({ logs: [{ message: 'm', data: { step: { out: ['ok', ESC] } } }] }),
      'logs.0.data.step.out.1',
    ],
    [
      'POST',
      automation,
      summary({ logs: [{ message: 'm', data: { [`k${NUL}`]: 1 } }] }),
      `logs.0.data.k${NUL}`,
    ],
    ['POST', automation, skipped({ toastMessage: `paused${FORGED}` }), 'toastMessage'],
    // A bare CR (no LF after it) rewrites the line it is printed on.
    ['POST', automation, skipped({ transcriptNote: 'ok\rFAKE' }), 'transcriptNote'],
    [
      'POST',
      automation,
      summary({ status: 'error', error: { code: `E${ESC}`, message: 'm', retryable: false } }),
      'error.code',
    ],
    [
      'POST',
      automation,
      summary({ status: 'error', error: { code: 'E', message: BIDI, retryable: false } }),
      'error.message',
    ],
    ['PUT', notify, { webhookUrls: ['https://hooks.example.com/a\nb'] }, 'webhookUrls.0'],
  ])(
    '%s %s is refused naming the field (case %#), and writes nothing',
    async (method, path, body, field) => {
      const res = await call(method, path, body);
      expect(res.status, res.text).toBe(400);
      expect(res.body.error.code).toBe('validation-failed');
      expect(namedFields(res.body.error)).toEqual([field]);
      expect(res.body.error.message).toMatch(
        /control characters .* \(U\+[0-9A-F]{4} at character \d+\)/,
      );
      expect(res.written).toEqual([]);
    },
  );

  it.each([
    ['NUL', '\u0000', 'U+0000'],
    ['ESC', '\u001b', 'U+001B'],
    ['CR', '\r', 'U+000D'],
    ['LF', '\n', 'U+000A'],
    ['DEL', '\u007f', 'U+007F'],
    ['the C1 next-line', '\u0085', 'U+0085'],
    ['the line separator', '\u2028', 'U+2028'],
    ['a right-to-left override', '\u202e', 'U+202E'],
    ['a left-to-right isolate', '\u2066', 'U+2066'],
  ])('refuses %s in a rollback reason, saying which character and where', async (_, char, code) => {
    const res = await call('POST', '/v1/workspaces/ws-1/rollback', { reason: `abc${char}def` });
    expect(res.status, res.text).toBe(400);
    expect(namedFields(res.body.error)).toEqual(['reason']);
    expect(res.body.error.message).toContain(`(${code} at character 4)`);
    expect(res.written).toEqual([]);
  });

  it.each([
    ['a tab', 'https://hooks.example.com/a\tb', 'U+0009'],
    ['a space', 'https://hooks.example.com/a b', 'U+0020'],
  ])('refuses %s in a URL (URL() would drop or encode it unseen)', async (_, url, code) => {
    for (const [method, path, body, field] of [
      ['PUT', notify, { webhookUrls: [url] }, 'webhookUrls.0'],
      ['POST', automation, summary({ issue: { id: 1, number: 1, url, title: 't' } }), 'issue.url'],
    ] as const) {
      const res = await call(method, path, body);
      expect(res.status, res.text).toBe(400);
      expect(namedFields(res.body.error)).toEqual([field]);
      expect(res.body.error.message).toContain('must not contain whitespace');
      expect(res.body.error.message).toContain(`(${code} at character 28)`);
      expect(res.written).toEqual([]);
    }
  });

  it('refuses a bidirectional override or a line separator in a negotiated capability', async () => {
    for (const flag of [BIDI, 'fs\u2028terminal']) {
      const res = await call('POST', '/v1/connections/c1/handshake', {
        protocolVersion: '1.2.0',
        negotiatedCapabilities: ['fs', flag],
      });
      expect(res.status, res.text).toBe(400);
      expect(namedFields(res.body.error)).toEqual(['negotiatedCapabilities.1']);
      expect(res.body.error.message).toContain('bidirectional overrides');
      expect(res.written).toEqual([]);
    }
  });

  it('accepts a tab and any printable script in a reason', async () => {
    const res = await call('POST', '/v1/connections/c1/dropped', {
      reason: 'agent\tcrashed: ошибка 接続 \u200fخطأ 🎉',
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe('error');
  });

  it('accepts LF and CRLF line breaks in a commit message and a log message', async () => {
    const res = await call(
      'POST',
      '/v1/sessions/s9/automation',
      summary({
        commit: { sha: 'a1b2c3d', message: 'Fix login\r\n\r\nThe redirect\tlost its state.\n' },
        logs: [{ message: 'step 1\nstep 2', data: { trace: 'at a\r\n  at b\tc', n: [1, null] } }],
      }),
    );
    expect(res.status, res.text).toBe(201);
    expect(res.written.length).toBeGreaterThan(0);
  });
});
