/** The secret scanner on its own: every pattern, paths, keys, redaction and false positives. */
import { describe, expect, it } from 'vitest';
import {
  findSecret,
  redactDeep,
  redactSecrets,
  secretKindIn,
} from '../../src/automation/secrets.ts';
import { CASES, FAKE } from './fixtures.ts';

describe('findSecret', () => {
  it.each(CASES)('finds $name at its path as $kind', ({ secret, kind, place }) => {
    const { body, path } = place(secret);
    expect(findSecret(body)).toEqual({ path, kind });
  });

  it.each([
    ['ghp_', FAKE.ghp, 'github-token'],
    ['gho_', FAKE.gho, 'github-token'],
    ['ghu_', FAKE.ghu, 'github-token'],
    ['ghs_', FAKE.ghs, 'github-token'],
    ['ghr_', FAKE.ghr, 'github-token'],
    ['github_pat_', FAKE.pat, 'github-pat'],
    ['Bearer', FAKE.bearer, 'bearer-token'],
    ['lower-case bearer', FAKE.bearer.toLowerCase(), 'bearer-token'],
    ['RSA private key', FAKE.privateKey, 'private-key'],
    ['OpenSSH private key', FAKE.opensshKey, 'private-key'],
    ['EC private key header', '-----BEGIN EC PRIVATE KEY-----', 'private-key'],
    ['PGP private key block', '-----BEGIN PGP PRIVATE KEY BLOCK-----', 'private-key'],
    ['AKIA', FAKE.akia, 'aws-access-key-id'],
    ['ASIA', FAKE.asia, 'aws-access-key-id'],
    ['aws_secret_access_key=', FAKE.awsSecret, 'aws-secret-access-key'],
    [
      'AWS_SECRET_ACCESS_KEY: "..."',
      FAKE.awsSecret.toUpperCase().replace('=', ': "'),
      'aws-secret-access-key',
    ],
    ['https://user:pass@host', FAKE.urlPassword, 'url-password'],
    ['redis://:pass@host', 'redis://:s3cretpass@cache.internal:6379/0', 'url-password'],
  ])('detects %s', (_label, text, kind) => {
    expect(secretKindIn(`before ${text} after`)).toBe(kind);
    expect(findSecret({ deep: [{ deeper: text }] })).toEqual({ path: 'deep.0.deeper', kind });
  });

  it('reports a bare string at (root) and a secret in an object key at the object, not the key', () => {
    expect(findSecret(FAKE.ghp)).toEqual({ path: '(root)', kind: 'github-token' });
    const found = findSecret({ logs: [{ data: { [FAKE.ghp]: 1 } }] });
    expect(found).toEqual({ path: 'logs.0.data', kind: 'github-token' });
    expect(JSON.stringify(found)).not.toContain(FAKE.ghp);
  });

  it('reports the first secret in document order', () => {
    expect(findSecret({ a: 'fine', b: [FAKE.akia, FAKE.ghp], c: FAKE.pat })).toEqual({
      path: 'b.0',
      kind: 'aws-access-key-id',
    });
  });

  it('survives a body nested far deeper than the call stack', () => {
    let deep: unknown = FAKE.ghp;
    for (let i = 0; i < 50_000; i++) deep = [deep];
    expect(findSecret(deep)?.kind).toBe('github-token');
  });

  it.each([
    'missing Bearer token',
    'Bearer authentication failed',
    'ghp_tooShort123',
    'https://github.com/acme/app/pull/43',
    'https://octocat@github.com/acme/app.git',
    'git@github.com:acme/app.git',
    'http://localhost:8080/path@v2',
    'commit a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0',
    '-----BEGIN PUBLIC KEY-----',
    'AKIA1234',
    'the aws_secret_access_key is missing',
    'lumi/fix-42',
  ])('does not flag %j', (text) => {
    expect(secretKindIn(text)).toBeNull();
    expect(findSecret({ text, n: 1, ok: true, nothing: null })).toBeNull();
  });
});

describe('redaction (for text the service cannot refuse)', () => {
  it('replaces every secret with its kind and leaves the rest', () => {
    const text = `rolled back by ops (${FAKE.ghp}); see ${FAKE.urlPassword}`;
    const out = redactSecrets(text);
    expect(out).toContain('rolled back by ops ([redacted github-token])');
    expect(out).toContain('[redacted url-password]');
    expect(out).not.toContain(FAKE.ghp);
    expect(secretKindIn(out)).toBeNull();
  });

  it('redacts inside nested values', () => {
    const out = redactDeep({ a: [{ b: FAKE.akia }], c: 3 });
    expect(out).toEqual({ a: [{ b: '[redacted aws-access-key-id]' }], c: 3 });
  });
});
