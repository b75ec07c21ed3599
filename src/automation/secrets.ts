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
  | 'url-password'
  | 'webhook-url';

export interface SecretFinding {
  /** Dotted path of the offending value (`(root)` for a bare string). */
  path: string;
  kind: SecretKind;
}

export interface SecretPattern {
  kind: SecretKind;
  /** Global flag so `redactSecrets` can replace every occurrence. */
  re: RegExp;
  /** Further check on the match (e.g. to tell a token from the word "token"). */
  accept?: (match: string) => boolean;
  /**
   * Where the secret starts when the pattern matches from inside it (for redaction): at most
   * `index`, never before `floor` (the end of the previous match).
   */
  startOf?: (text: string, index: number, floor: number) => number;
}

const isSchemeChar = (c: string) => /[A-Za-z0-9+.-]/.test(c);
const isLetter = (c: string) => /[A-Za-z]/.test(c);

/** The start of the URL scheme that ends at `index` (`https` in `https://`). */
function schemeStart(text: string, index: number, floor: number): number {
  let start = index;
  while (start > floor && isSchemeChar(text[start - 1]!)) start--;
  while (start < index && !isLetter(text[start]!)) start++;
  return start;
}

/**
 * Every pattern runs on client input before any other validation, so each must take time
 * linear in the text, whatever the text. V8 backtracks; a search is quadratic when the
 * positions where a match may start overlap with unbounded runs that can fail late (a run of
 * 32,000 letters tried as a URL scheme from each of its letters). The rules kept here:
 *
 * - an unbounded run either starts right after a literal that cannot occur inside the run (so
 *   the runs tried from different starts do not overlap), or is bounded to a small length;
 * - two adjacent quantified parts match disjoint characters, so there is one way to split;
 * - no quantifier inside a quantified group.
 *
 * test/hostile/regex.test.ts holds each pattern to this with 32 KB adversarial texts, and
 * bench/regex-worst-case.ts prints the worst case of each.
 */
export const SECRET_PATTERNS: readonly SecretPattern[] = [
  // Classic and app tokens: ghp_ (personal), gho_ (OAuth), ghu_ (user-to-server),
  // ghs_ (server-to-server), ghr_ (refresh), followed by 36 base62 characters.
  // The run cannot hold `_`, so it cannot hold another start.
  { kind: 'github-token', re: /gh[pousr]_[A-Za-z0-9]{36,}/g },
  // Fine-grained personal access tokens: github_pat_<22>_<59>. A start inside the run of an
  // earlier start only scans the rest of that run, and fails within 20 characters or matches.
  { kind: 'github-pat', re: /github_pat_[A-Za-z0-9_]{20,}/g },
  {
    kind: 'private-key',
    // Key types are short (RSA, OPENSSH, ENCRYPTED, PGP ... BLOCK): the run is bounded.
    re: /-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g,
  },
  { kind: 'aws-access-key-id', re: /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/g },
  {
    kind: 'aws-secret-access-key',
    re: /aws_secret_access_key["']?\s*[=:]\s*["']?[A-Za-z0-9/+=]{16,}/gi,
  },
  // scheme://user:password@host (the user may be empty: https://:token@host). The match starts
  // at `://`, a literal the engine finds without backtracking, and looks back for a scheme of at
  // most 32 characters (RFC 3986 sets no bound; real schemes are short). Starting at the scheme
  // instead made every letter of a long word a start that scanned to the word's end: 529 ms for
  // 32,000 letters. The user part cannot hold `:`, and both parts stop at `/`, so what is
  // scanned after one `://` never reaches the next. Redaction takes the scheme too.
  {
    kind: 'url-password',
    re: /:\/\/(?<=[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/)[^\s/:@]*:[^\s/@]+@/g,
    startOf: schemeStart,
  },
  // A chat service's incoming-webhook URL, whose path is its secret (anyone who has it can post
  // to the channel): Slack (hooks.slack.com/services|workflows|triggers/…), Discord
  // (discord[app].com/api/webhooks/<id>/<token>) and Microsoft Teams (….webhook.office.com/
  // webhookb2/…). Every start holds a `.` and the run cannot: runs from two starts never overlap.
  {
    kind: 'webhook-url',
    re: /(?:hooks\.slack\.com\/(?:services|workflows|triggers)\/|discord(?:app)?\.com\/api\/webhooks\/|\.webhook\.office\.com\/webhookb2\/)[A-Za-z0-9@/_-]{16,}/gi,
  },
  // `Bearer <token>`: the token must look like one (a digit, or long), so that prose such as
  // "missing Bearer token" or "Bearer authentication" is not mistaken for a credential.
  {
    kind: 'bearer-token',
    re: /\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*/gi,
    accept: (m) => {
      const token = m.slice('bearer'.length).trimStart();
      return /\d/.test(token) || token.length >= 20;
    },
  },
];

/** The kind of the first secret found in `text`, or null. */
export function secretKindIn(text: string): SecretKind | null {
  for (const p of SECRET_PATTERNS) {
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
  for (const p of SECRET_PATTERNS) {
    let redacted = '';
    let last = 0;
    p.re.lastIndex = 0;
    for (const m of out.matchAll(p.re)) {
      if (p.accept && !p.accept(m[0])) continue;
      const start = p.startOf ? p.startOf(out, m.index, last) : m.index;
      redacted += `${out.slice(last, start)}[redacted ${p.kind}]`;
      last = m.index + m[0].length;
    }
    out = redacted + out.slice(last);
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
  'webhook-url': 'a chat incoming-webhook URL (Slack, Discord, Teams), whose path is its secret',
};

/**
 * The refusal of a field that holds a secret: names its kind, never the value.
 *
 * @example
 * secretRefusal('github-token'); // 'looks like a GitHub token (…) (github-token); never send secrets: …'
 */
export const secretRefusal = (kind: SecretKind): string =>
  `looks like ${SECRET_DESCRIPTIONS[kind]} (${kind}); never send secrets: remove it and send the request again`;
