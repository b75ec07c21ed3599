/**
 * Every regular expression that sees client input, and 32 KB texts built to make a backtracking
 * engine work hardest on each: long runs of the characters a pattern repeats, with and without
 * the character that would end the match, and each pattern's literal prefix repeated. Shared by
 * test/hostile/regex.test.ts (a bound) and bench/regex-worst-case.ts (the figures).
 */
import { classifyError } from '../../src/automation/errors.ts';
import { pageQuery, summaryBody } from '../../src/automation/schemas.ts';
import { SECRET_PATTERNS, findSecret, redactSecrets } from '../../src/automation/secrets.ts';
import { bearerToken, isBatchPath, isStreamRoute } from '../../src/http/request-guards.ts';
import { handshakeBody, listConnectionsQuery } from '../../src/http/schemas.ts';
import { errorText, scrubUrls } from '../../src/notifications/text.ts';
import { notificationSettingsBody } from '../../src/notifications/settings.ts';
import { identifier, utcTimestamp } from '../../src/wire.ts';

/** The size the issue measured with (one 32,000-letter field), rounded up. */
export const SIZE = 32 * 1024;

/** `unit` repeated to exactly `size` characters. */
export const fill = (unit: string, size = SIZE) =>
  unit.repeat(Math.ceil(size / unit.length)).slice(0, size);

/** `head` followed by `unit` repeated, `size` characters in all. */
const after = (head: string, unit: string, size = SIZE) => head + fill(unit, size - head.length);

export const ADVERSARIAL: Record<string, string> = {
  // Runs of single classes, then the same run ended by a character no pattern expects.
  letters: fill('a'),
  'letters then !': after('', 'a', SIZE - 1) + '!',
  'upper case and digits': fill('A0'),
  digits: fill('1'),
  spaces: fill(' '),
  'spaces then x': after('', ' ', SIZE - 1) + 'x',
  newlines: fill('\n'),
  dots: fill('.'),
  'letter-dot pairs': fill('a.'),
  colons: fill(':'),
  'slashes then x': after('', '/', SIZE - 1) + 'x',
  underscores: fill('_'),
  dashes: fill('-'),
  'at signs': fill('@'),
  'two-byte letters': fill('é'),
  'astral letters': fill('😀'),
  // github-token and github-pat: the prefix repeated, the prefix with a run one too short.
  'ghp_ repeated': fill('ghp_'),
  'ghp_ and 35 letters, repeated': fill(`ghp_${'a'.repeat(35)} `),
  'github_pat_ repeated': fill('github_pat_'),
  'github_pat_ then underscores': after('github_pat_', '_'),
  // private-key: the header's run class swallows the literal that must follow it.
  '-----BEGIN then letters': after('-----BEGIN', 'A'),
  '-----BEGIN then PRIVATE KEY repeated': after('-----BEGIN ', 'PRIVATE KEY '),
  '-----BEGIN repeated': fill('-----BEGIN '),
  // aws keys.
  'AKIA repeated': fill('AKIA'),
  'aws_secret_access_key then spaces': after('aws_secret_access_key', ' '),
  'aws_secret_access_key= repeated': fill('aws_secret_access_key='),
  'aws_secret_access_key: "15 chars, repeated': fill('aws_secret_access_key: "abcdefghijklmno '),
  // url-password: long schemes, users without `:`, passwords without `@`.
  'scheme of 31 letters, ://, a user without a colon': after(`${'a'.repeat(31)}://`, 'b'),
  'a:// then colons without @': after('a://', ':'),
  'a:// repeated': fill('a://'),
  'a://b: repeated': fill('a://b:'),
  'http:// repeated': fill('http://'),
  // notification error text: URLs whose query never comes, user:password without @.
  'https://a repeated': fill('https://a'),
  'http://a? repeated': fill('http://a?'),
  '//a:b repeated': fill('//a:b'),
  'schemes of 31 letters then :, repeated': fill(`${'a'.repeat(31)}:`),
  // bearer-token: spaces without a token, tokens one character short.
  'bearer then spaces': after('bearer', ' '),
  'bearer repeated': fill('bearer '),
  'bearer and 7 characters, repeated': fill('bearer abcdefg '),
  // Other client-facing patterns: timestamps, semver, error classification, e-mail, ids.
  'a timestamp with endless fractional digits': after('2026-01-01T00:00:00.', '1'),
  'a prerelease of endless dotted parts': after('1.2.3-', 'a.'),
  'time then separators': after('time', '-'),
  'status repeated': fill('status '),
  'http status then spaces': after('http', ' '),
  'an e-mail local part of dots': after('a', '.a') + '@',
  'an e-mail domain of labels without a TLD': after('a@', 'a-'),
  'a cursor of digits then x': after('', '1', SIZE - 1) + 'x',
};

/** Something that runs regular expressions over client text; `run` exercises all of them. */
export interface RegexSubject {
  name: string;
  run(text: string): unknown;
}

const parses =
  (schema: { safeParse(v: unknown): unknown }, wrap: (t: string) => unknown) => (t: string) =>
    schema.safeParse(wrap(t));

export const SUBJECTS: RegexSubject[] = [
  ...SECRET_PATTERNS.map((p) => ({
    name: `secret pattern ${p.kind}`,
    run: (t: string) => {
      p.re.lastIndex = 0;
      let n = 0;
      for (const m of t.matchAll(p.re)) n += !p.accept || p.accept(m[0]) ? 1 : 0;
      return n;
    },
  })),
  {
    name: 'findSecret over a body (value and key)',
    run: (t) => findSecret({ logs: [{ message: t, data: { [t]: 1 } }] }),
  },
  { name: 'redactSecrets', run: redactSecrets },
  { name: 'Authorization: Bearer header', run: (t) => bearerToken(`Bearer ${t}`) },
  { name: 'batch route path', run: (t) => isBatchPath(`/v1/heartbeats${t}`) },
  { name: 'stream route path', run: (t) => isStreamRoute(`/v1/installations/${t}/toasts/stream`) },
  { name: 'identifier (ids in paths and bodies)', run: (t) => identifier.safeParse(t) },
  { name: 'UTC timestamp', run: (t) => utcTimestamp.safeParse(t) },
  {
    name: 'connection list query (status enum, cursor)',
    run: parses(listConnectionsQuery, (t) => ({ status: t, cursor: t })),
  },
  {
    name: 'handshake protocolVersion (semver)',
    run: parses(handshakeBody, (t) => ({ protocolVersion: t, negotiatedCapabilities: [] })),
  },
  {
    name: 'automation summary (commit sha, skipReason, issue url)',
    run: parses(summaryBody, (t) => ({
      installationId: 'i',
      workspaceId: 'w',
      status: 'skipped',
      skipReason: t,
      commit: { sha: t, message: 'm' },
      issue: { id: 1, number: 1, url: t, title: 't' },
    })),
  },
  { name: 'automation page cursor', run: parses(pageQuery, (t) => ({ cursor: t })) },
  { name: 'automation error classification', run: (t) => classifyError(t, t) },
  { name: 'notification error text (bounded first)', run: (t) => errorText(t) },
  // The scans behind it over the whole 32 KB: linear without the bound too.
  { name: 'notification error text scans, unbounded', run: scrubUrls },
  {
    name: 'notification settings (e-mail, webhook URL)',
    run: parses(notificationSettingsBody, (t) => ({ emailTo: [t], webhookUrls: [t] })),
  },
];

/** The fastest of `repeats` runs, in ms: a quadratic case stays slow, a noisy neighbour does not. */
export function fastestMs(subject: RegexSubject, text: string, repeats = 3): number {
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const started = performance.now();
    subject.run(text);
    best = Math.min(best, performance.now() - started);
  }
  return best;
}
