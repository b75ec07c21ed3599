/**
 * Classifies a recorded automation error so users see what kind of failure it was and what to
 * do about it. Rules are tried against the error code first (structured, reliable), then the
 * message; within each text the first matching rule wins, in the order of RULES.
 *
 * @example
 * classifyError('ETIMEDOUT', 'connect timed out');
 * // { category: 'connection', recoveryMessage: 'The connection timed out...' }
 */

export type ErrorCategory = 'connection' | 'protocol' | 'application' | 'system';

export interface ErrorClassification {
  category: ErrorCategory;
  recoveryMessage: string;
}

interface Rule {
  category: ErrorCategory;
  test: RegExp;
  recoveryMessage: string;
}

const RULES: readonly Rule[] = [
  // Connection: the transport between LumiLink, the container and GitHub.
  {
    category: 'connection',
    test: /time[d\s_-]*out|timeout|etimedout|esockettimedout|deadline exceeded/i,
    recoveryMessage:
      'The connection timed out. Check the network between LumiLink, the container and GitHub, then retry; the run is safe to retry.',
  },
  {
    category: 'connection',
    test: /econnreset|econnrefused|econnaborted|epipe|socket hang ?up|connection (?:reset|refused|closed|lost|dropped)|disconnected/i,
    recoveryMessage:
      'The connection was reset or refused. Check that the container is running and reachable, then retry.',
  },
  {
    category: 'connection',
    test: /enotfound|eai_again|dns|getaddrinfo|ehostunreach|enetunreach|network (?:error|unreachable)|unreachable|tls|certificate|ssl/i,
    recoveryMessage:
      'The host could not be reached (DNS, network or TLS). Check the host name, network and certificates, then retry.',
  },
  // Protocol: ACP framing, versions and handshakes.
  {
    category: 'protocol',
    test: /(?:protocol|acp)[\s_-]*version|version[\s_-]*(?:mismatch|unsupported|not supported)|unsupported[\s_-]*version|incompatible/i,
    recoveryMessage:
      'The container speaks an ACP version this workspace does not support. Update the container agent to a supported ACP version, or switch the workspace to HTTP.',
  },
  {
    category: 'protocol',
    test: /handshake|negotiat|capabilit/i,
    recoveryMessage:
      'The ACP handshake failed. Restart the session; if it keeps failing, switch the workspace to HTTP and report the session id.',
  },
  {
    category: 'protocol',
    test: /\bacp\b|acp[\s_-]|protocol|json-?rpc|malformed (?:frame|message|response)|unexpected (?:frame|message)/i,
    recoveryMessage:
      'The container sent a message LumiLink could not process over ACP. Retry the session; if it recurs, switch the workspace to HTTP and report the session id.',
  },
  // System: our side or the container's resources.
  {
    category: 'system',
    test: /out[\s_-]*of[\s_-]*memory|\boom\b|enomem|heap|memory limit/i,
    recoveryMessage:
      'The automation ran out of memory. Retry; if it happens again, split the task into smaller changes or raise the container memory limit.',
  },
  {
    category: 'system',
    test: /enospc|no space left|disk (?:full|quota)/i,
    recoveryMessage:
      'The container ran out of disk space. Free space in the workspace (or raise its quota) and retry.',
  },
  // Application: GitHub refused the request (4xx), or the request itself was wrong.
  {
    category: 'application',
    test: /rate[\s_-]*limit|secondary limit|abuse|too many requests|\b429\b/i,
    recoveryMessage:
      'GitHub rate limit reached. Automation works again once the limit resets; retry later or reduce how often automation runs.',
  },
  {
    category: 'application',
    test: /bad credentials|unauthori[sz]ed|authenticat|invalid[\s_-]*token|token[\s_-]*expired|credential|\b401\b/i,
    recoveryMessage:
      'GitHub rejected the credentials. Reconnect the GitHub App or refresh the token in the installation settings, then retry.',
  },
  {
    category: 'application',
    test: /permission|forbidden|not allowed|access denied|resource not accessible|blocked|\b403\b/i,
    recoveryMessage:
      'The GitHub App lacks permission for this repository. Grant it access (contents, issues and pull requests: read and write), check branch protection, then retry.',
  },
  {
    category: 'application',
    test: /not[\s_-]*found|no such|does not exist|\b404\b/i,
    recoveryMessage:
      'The repository, issue or branch was not found. Check that it still exists and that the GitHub App can see it.',
  },
  {
    category: 'application',
    test: /conflict|already exists|merge conflict|not fast-forward|\b409\b/i,
    recoveryMessage:
      'GitHub reported a conflict (the branch or pull request already exists, or the branch moved). Update or rename the branch and retry.',
  },
  {
    category: 'application',
    test: /validation|invalid|unprocessable|bad request|malformed|\b4(?:00|22)\b/i,
    recoveryMessage:
      'GitHub rejected the request as invalid. Check the issue, branch and pull request details in the logs, fix them and retry.',
  },
  {
    category: 'application',
    test: /(?:http|status|github)[\s:-]*4\d\d\b|^4\d\d$/i,
    recoveryMessage:
      'GitHub refused the request. Check the repository settings and the GitHub App installation, then retry.',
  },
  // An upstream outage (502/503/504) is transient, like a dropped connection.
  {
    category: 'connection',
    test: /bad gateway|service unavailable|gateway timeout|(?:http|status|github)[\s:-]*50[234]\b|^50[234]$/i,
    recoveryMessage:
      'GitHub or an upstream service is temporarily unavailable. Retry in a few minutes; the run is safe to retry.',
  },
  // System: anything internal, 5xx or unexplained.
  {
    category: 'system',
    test: /internal|panic|crash|segfault|unexpected|unknown|bug|assert|(?:http|status)[\s:-]*5\d\d\b|^5\d\d$/i,
    recoveryMessage:
      'An internal error stopped the automation. Retry; if it persists, contact support with the session id.',
  },
  // Anything else GitHub said no to is about the request or the repository.
  {
    category: 'application',
    test: /github/i,
    recoveryMessage:
      'GitHub refused the request. Check the repository settings and the GitHub App installation, then retry.',
  },
];

const FALLBACK: ErrorClassification = {
  category: 'system',
  recoveryMessage:
    'The automation failed for an unrecognised reason. Retry; if it persists, contact support with the session id.',
};

function match(raw: string): ErrorClassification | null {
  // `acp_version_mismatch`, `HTTP_404`: underscores separate words like spaces do.
  const text = raw.replace(/_/g, ' ').trim();
  if (!text) return null;
  for (const r of RULES) {
    if (r.test.test(text)) return { category: r.category, recoveryMessage: r.recoveryMessage };
  }
  return null;
}

/** The category and recovery advice for an automation error (code first, then message). */
export function classifyError(code: string, message: string): ErrorClassification {
  return match(code) ?? match(message) ?? FALLBACK;
}
