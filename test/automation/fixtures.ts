/**
 * Fake secrets, assembled at run time so that no secret-looking literal sits in the repository
 * (and secret scanners on pushes have nothing to flag). None of them is a real credential.
 */
import type { SecretKind } from '../../src/automation/secrets.ts';

const u = '_';
const repeat = (s: string, n: number) => s.repeat(Math.ceil(n / s.length)).slice(0, n);

export const FAKE = {
  ghp: `ghp${u}${repeat('Fa1keTok3n', 36)}`,
  gho: `gho${u}${repeat('Zz9Oauth0', 36)}`,
  ghu: `ghu${u}${repeat('Us3rToSrv', 36)}`,
  ghs: `ghs${u}${repeat('S3rv3rSrv', 36)}`,
  ghr: `ghr${u}${repeat('R3fr3shT0k', 36)}`,
  pat: `github${u}pat${u}${repeat('11ABCDEFG0', 22)}${u}${repeat('fakeFineGrained9', 59)}`,
  bearer: `Bearer ${repeat('eyJhbGciOiJIUzI1NiJ9', 40)}`,
  privateKey: `-----BEGIN RSA PRIVATE ${'KEY'}-----\n${repeat('MIIEowIBAAKCAQEA', 64)}\n-----END RSA PRIVATE ${'KEY'}-----`,
  opensshKey: `-----BEGIN OPENSSH PRIVATE ${'KEY'}-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE ${'KEY'}-----`,
  akia: `AK${'IA'}${repeat('FAKE7EXAMPLE2Q4Z', 16)}`,
  asia: `AS${'IA'}${repeat('TEMP0RARYFAKE9KX', 16)}`,
  awsSecret: `aws${u}secret${u}access${u}key=${repeat('wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKEKEY', 40)}`,
  urlPassword: `https://deploy:${repeat('hunter2Secret', 16)}@git.example.com/acme/app.git`,
} as const;

/** One request per pattern: where the secret goes and what the error must name. */
export const CASES: {
  name: string;
  kind: SecretKind;
  secret: string;
  /** The body (built from the secret) and the field path the 400 must name. */
  place: (secret: string) => { body: Record<string, unknown>; path: string };
}[] = [
  {
    name: 'ghp_ token in logs.2.message',
    kind: 'github-token',
    secret: FAKE.ghp,
    place: (s) => ({
      body: {
        logs: [
          { message: 'cloning' },
          { message: 'pushing' },
          { message: `push failed with token ${s}`, level: 'error' },
        ],
      },
      path: 'logs.2.message',
    }),
  },
  {
    name: 'gho_ token in issue.title',
    kind: 'github-token',
    secret: FAKE.gho,
    place: (s) => ({
      body: {
        issue: { id: 1, number: 1, url: 'https://github.com/acme/app/issues/1', title: s },
      },
      path: 'issue.title',
    }),
  },
  {
    name: 'ghu_ token in commit.message',
    kind: 'github-token',
    secret: FAKE.ghu,
    place: (s) => ({
      body: { commit: { sha: 'abcdef1', message: `oops: ${s}` } },
      path: 'commit.message',
    }),
  },
  {
    name: 'ghs_ token in logs.0.data (nested object)',
    kind: 'github-token',
    secret: FAKE.ghs,
    place: (s) => ({
      body: { logs: [{ message: 'env', data: { env: { list: ['a', { GH_TOKEN: s }] } } }] },
      path: 'logs.0.data.env.list.1.GH_TOKEN',
    }),
  },
  {
    name: 'ghr_ token in toastMessage',
    kind: 'github-token',
    secret: FAKE.ghr,
    place: (s) => ({ body: { toastMessage: s }, path: 'toastMessage' }),
  },
  {
    name: 'github_pat_ token in transcriptNote',
    kind: 'github-pat',
    secret: FAKE.pat,
    place: (s) => ({ body: { transcriptNote: `used ${s} to push` }, path: 'transcriptNote' }),
  },
  {
    name: 'Bearer token in error.message',
    kind: 'bearer-token',
    secret: FAKE.bearer,
    place: (s) => ({
      body: {
        status: 'error',
        error: { code: 'github-401', message: `Authorization: ${s} rejected`, retryable: false },
      },
      path: 'error.message',
    }),
  },
  {
    name: 'RSA private key block in logs.1.data.key',
    kind: 'private-key',
    secret: FAKE.privateKey,
    place: (s) => ({
      body: { logs: [{ message: 'a' }, { message: 'deploy key', data: { key: s } }] },
      path: 'logs.1.data.key',
    }),
  },
  {
    name: 'OpenSSH private key block in pullRequest.branch',
    kind: 'private-key',
    secret: FAKE.opensshKey,
    place: (s) => ({
      body: { pullRequest: { number: 2, url: 'https://github.com/acme/app/pull/2', branch: s } },
      path: 'pullRequest.branch',
    }),
  },
  {
    name: 'AWS access key id (AKIA) in logs.0.message',
    kind: 'aws-access-key-id',
    secret: FAKE.akia,
    place: (s) => ({ body: { logs: [{ message: `using key ${s}` }] }, path: 'logs.0.message' }),
  },
  {
    name: 'AWS temporary access key id (ASIA) in error.code',
    kind: 'aws-access-key-id',
    secret: FAKE.asia,
    place: (s) => ({
      body: { status: 'error', error: { code: s, message: 'denied', retryable: true } },
      path: 'error.code',
    }),
  },
  {
    name: 'aws_secret_access_key=... in logs.0.data.config',
    kind: 'aws-secret-access-key',
    secret: FAKE.awsSecret,
    place: (s) => ({
      body: { logs: [{ message: 'config', data: { config: `[default]\n${s}\n` } }] },
      path: 'logs.0.data.config',
    }),
  },
  {
    name: 'password in a URL in pullRequest.url',
    kind: 'url-password',
    secret: FAKE.urlPassword,
    place: (s) => ({
      body: { pullRequest: { number: 3, url: s, branch: 'b' } },
      path: 'pullRequest.url',
    }),
  },
];
