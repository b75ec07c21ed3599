/**
 * Every regular expression that sees client input finishes in linear time: 32 KB texts built
 * to make a backtracking engine work hardest (test/hostile/regex-cases.ts) each take well under
 * 50 ms. The bound is generous for a loaded CI machine; the quadratic url-password pattern this
 * replaced took 529 ms (2.3 s on the CI machine) on 32,000 letters.
 */
import { describe, expect, it } from 'vitest';
import { SECRET_PATTERNS, redactSecrets, secretKindIn } from '../../src/automation/secrets.ts';
import { summary } from '../automation/support.ts';
import { OPERATOR, checkInvariants, expectError, startService } from '../helpers.ts';
import { ADVERSARIAL, SIZE, SUBJECTS, fastestMs } from './regex-cases.ts';
import { send } from './support.ts';

const BOUND_MS = 50;

describe('regular expressions over client input', () => {
  it.each(SUBJECTS.map((s) => [s.name, s] as const))(
    '%s finishes every adversarial 32 KB text within 50 ms',
    (_name, subject) => {
      const slow = Object.entries(ADVERSARIAL)
        .map(([text, input]) => ({ text, ms: fastestMs(subject, input) }))
        .filter((r) => r.ms >= BOUND_MS);
      expect(slow).toEqual([]);
    },
  );

  it('feeds texts of the size the issue measured with', () => {
    for (const text of Object.values(ADVERSARIAL)) expect(text.length).toBeGreaterThanOrEqual(SIZE);
  });

  it('still finds each kind of secret after the rewrite', () => {
    const u = '_';
    const samples: Record<string, string> = {
      'github-token': `gh${'p'}${u}${'a1'.repeat(18)}`,
      'github-pat': `github${u}pat${u}${'A1'.repeat(12)}`,
      'private-key': `-----BEGIN OPENSSH PRIVATE ${'KEY'}-----`,
      'aws-access-key-id': `AK${'IA'}${'Z9'.repeat(8)}`,
      'aws-secret-access-key': `aws${u}secret${u}access${u}key = ${'k/'.repeat(10)}`,
      'url-password': `see:.redis://:${'pw'.repeat(4)}@cache:6379`,
      'bearer-token': `Bearer ${'t0'.repeat(6)}`,
    };
    expect(Object.keys(samples).sort()).toEqual(SECRET_PATTERNS.map((p) => p.kind).sort());
    for (const [kind, text] of Object.entries(samples)) expect(secretKindIn(text), kind).toBe(kind);
  });
});

describe('redaction after the rewrite', () => {
  it('redacts a URL password together with its scheme, which the match itself leaves out', () => {
    const pw = 'pw'.repeat(4);
    expect(redactSecrets(`see:.redis://:${pw}@cache:6379 and ftp://u:${pw}@h`)).toBe(
      'see:.[redacted url-password]cache:6379 and [redacted url-password]h',
    );
  });
});

describe('POST /v1/sessions/:sessionId/automation with one 32,000-letter field', () => {
  it('answers 400 without holding the event loop', async () => {
    const s = await startService();
    try {
      const body = JSON.stringify(summary({ transcriptNote: 'a'.repeat(32_000) }));
      // Warm the route once so the measurement is of the request, not of first-call compiling.
      await s.api('POST', '/v1/sessions/s1/automation', summary({ durationMs: -1 }));
      const started = performance.now();
      const res = await send(s.url, {
        method: 'POST',
        path: '/v1/sessions/s1/automation',
        headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
        body,
      });
      const ms = performance.now() - started;
      checkInvariants(res);
      expectError(res, 400, 'validation-failed', 'transcriptNote');
      expect(ms).toBeLessThan(250);
    } finally {
      await s.close();
    }
  });
});
