/**
 * Secret detection for anything a client (or another module) asks us to store or show: GitHub
 * tokens, bearer tokens, private key blocks, AWS keys and passwords embedded in URLs.
 *
 * A finding names where the secret is (`logs.2.message`) and which pattern matched, never the
 * value, so it is safe to put in an error message or a log line.
 *
 * @example
 * findSecret({ logs: [{ message: 'ok' }, { message: 'token ghp_...' }] });
 * // { path: 'logs.1.message', kind: 'github-token' }
 */

export type SecretKind =
  | 'github-token'
  | 'github-pat'
  | 'bearer-token'
  | 'private-key'
  | 'aws-access-key-id'
  | 'aws-secret-access-key'
  | 'url-password';

export interface SecretFinding {
  /** Dotted path of the offending value (`(root)` for a bare string). */
  path: string;
  kind: SecretKind;
}

interface Pattern {
  kind: SecretKind;
  /** Global flag so `redactSecrets` can replace every occurrence. */
  re: RegExp;
  /** Further check on the match (e.g. to tell a token from the word "token"). */
  accept?: (match: string) => boolean;
}

const PATTERNS: readonly Pattern[] = [
  // Classic and app tokens: ghp_ (personal), gho_ (OAuth), ghu_ (user-to-server),
  // ghs_ (server-to-server), ghr_ (refresh), followed by 36 base62 characters.
  { kind: 'github-token', re: /gh[pousr]_[A-Za-z0-9]{36,}/g },
  // Fine-grained personal access tokens: github_pat_<22>_<59>.
  { kind: 'github-pat', re: /github_pat_[A-Za-z0-9_]{20,}/g },
  {
    kind: 'private-key',
    re: /-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----/g,
  },
  { kind: 'aws-access-key-id', re: /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/g },
  {
    kind: 'aws-secret-access-key',
    re: /aws_secret_access_key["']?\s*[=:]\s*["']?[A-Za-z0-9/+=]{16,}/gi,
  },
  // scheme://user:password@host (the user may be empty: https://:token@host).
  {
    kind: 'url-password',
    re: /[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/:@]*:[^\s/@]+@/g,
  },
  // `Bearer <token>`: the token must look like one (a digit, or long), so that prose such as
  // "missing Bearer token" or "Bearer authentication" is not mistaken for a credential.
  {
    kind: 'bearer-token',
    re: /\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*/gi,
    accept: (m) => {
      const token = m.replace(/^bearer\s+/i, '');
      return /\d/.test(token) || token.length >= 20;
    },
  },
];

/** The kind of the first secret found in `text`, or null. */
export function secretKindIn(text: string): SecretKind | null {
  for (const p of PATTERNS) {
    p.re.lastIndex = 0;
    for (const m of text.matchAll(p.re)) {
      if (!p.accept || p.accept(m[0])) return p.kind;
    }
  }
  return null;
}

/** `text` with every secret replaced by `[redacted <kind>]` (for text we cannot refuse). */
export function redactSecrets(text: string): string {
  let out = text;
  for (const p of PATTERNS) {
    out = out.replace(p.re, (m) => (!p.accept || p.accept(m) ? `[redacted ${p.kind}]` : m));
  }
  return out;
}

const join = (path: string, key: string | number) => (path ? `${path}.${key}` : String(key));

/**
 * Walks any JSON-like value (strings, arrays, objects; keys included) and returns the first
 * string that looks like a secret. Iterative, so a deeply nested body cannot exhaust the stack.
 * A secret in an object key is reported at the object's path (the key itself is never named).
 */
export function findSecret(value: unknown, basePath = ''): SecretFinding | null {
  const stack: { value: unknown; path: string }[] = [{ value, path: basePath }];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const kind = secretKindIn(v);
      if (kind) return { path: path || '(root)', kind };
    } else if (Array.isArray(v)) {
      if (seen.has(v)) continue;
      seen.add(v);
      // Pushed in reverse so the first element is examined first.
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: join(path, i) });
    } else if (v !== null && typeof v === 'object') {
      if (seen.has(v)) continue;
      seen.add(v);
      const entries = Object.entries(v as Record<string, unknown>);
      for (const [key] of entries) {
        const kind = secretKindIn(key);
        if (kind) return { path: path || '(root)', kind };
      }
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        stack.push({ value: child, path: join(path, key) });
      }
    }
  }
  return null;
}

/** A copy of a JSON-like value with every secret in strings (and keys) redacted. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      out[redactSecrets(k)] = redactDeep(v);
    return out as T;
  }
  return value;
}

/** The human description of a kind, for error messages. */
export const SECRET_DESCRIPTIONS: Record<SecretKind, string> = {
  'github-token': 'a GitHub token (ghp_/gho_/ghu_/ghs_/ghr_)',
  'github-pat': 'a GitHub fine-grained personal access token (github_pat_)',
  'bearer-token': 'a bearer token',
  'private-key': 'a private key block',
  'aws-access-key-id': 'an AWS access key id',
  'aws-secret-access-key': 'an AWS secret access key',
  'url-password': 'a password in a URL',
};
