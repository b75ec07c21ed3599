/** classifyError: each category from codes and from messages, and the precedence of the code. */
import { describe, expect, it } from 'vitest';
import { classifyError } from '../../src/automation/errors.ts';

describe('classifyError', () => {
  it.each([
    // connection: timeouts, resets, DNS, upstream outages
    ['ETIMEDOUT', 'connect ETIMEDOUT 140.82.112.3:443', 'connection', /timed out/],
    ['ECONNRESET', 'socket hang up', 'connection', /reset or refused/],
    ['ECONNREFUSED', 'connect refused', 'connection', /container is running/],
    ['request-timeout', 'GitHub did not answer within 30 s', 'connection', /timed out/],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND api.github.com', 'connection', /DNS/],
    ['github-503', 'Service Unavailable', 'connection', /temporarily unavailable/],
    // protocol: versions, handshakes, ACP framing
    ['acp_version_mismatch', 'container speaks 2.0.0', 'protocol', /ACP version/],
    ['protocol-version-unsupported', 'unsupported', 'protocol', /ACP version/],
    ['handshake-failed', 'capabilities could not be negotiated', 'protocol', /handshake/],
    ['acp-frame-invalid', 'malformed frame from container', 'protocol', /ACP/],
    // application: GitHub 4xx, validation, permissions
    ['github-401', 'Bad credentials', 'application', /credentials/],
    ['github-403', 'Resource not accessible by integration', 'application', /permission/],
    ['github-404', 'Not Found', 'application', /not found/],
    ['github-409', 'Reference already exists', 'application', /conflict/],
    ['github-422', 'Validation Failed', 'application', /invalid/],
    [
      'secondary_rate_limit',
      'You have exceeded a secondary rate limit',
      'application',
      /rate limit/,
    ],
    ['repo-blocked', 'repository is blocked by policy', 'application', /permission/],
    ['HTTP_418', "I'm a teapot", 'application', /refused/],
    // system: internal, out of memory, unknown
    ['internal', 'unexpected nil pointer', 'system', /internal error/],
    ['OOMKilled', 'container out of memory', 'system', /memory/],
    ['ENOSPC', 'no space left on device', 'system', /disk space/],
    ['unknown', 'something odd happened', 'system', /internal error/],
    ['E_WEIRD', 'zzz', 'system', /unrecognised/],
  ])('classifies %s / %j as %s', (code, message, category, recovery) => {
    const result = classifyError(code, message);
    expect(result.category).toBe(category);
    expect(result.recoveryMessage).toMatch(recovery);
    expect(result.recoveryMessage.length).toBeGreaterThan(20);
  });

  it.each([
    ['timeout', 'connection'],
    ['timed out waiting for the container', 'connection'],
    ['connection reset by peer', 'connection'],
    ['ACP handshake rejected', 'protocol'],
    ['unsupported protocol version 3.1.0', 'protocol'],
    ['HTTP 403 from GitHub', 'application'],
    ['GitHub API responded 404', 'application'],
    ['validation failed: head branch invalid', 'application'],
    ['permission denied to push to main', 'application'],
    ['JavaScript heap out of memory', 'system'],
    ['internal server error', 'system'],
  ])('classifies a generic code by its message %j as %s', (message, category) => {
    expect(classifyError('E_GENERIC', message).category).toBe(category);
  });

  it('trusts the code over the message', () => {
    expect(classifyError('ETIMEDOUT', 'GitHub validation failed').category).toBe('connection');
    expect(classifyError('github-422', 'request timed out').category).toBe('application');
  });

  it('falls back to system for empty or unrecognised input', () => {
    expect(classifyError('', '').category).toBe('system');
    expect(classifyError('x', 'y').category).toBe('system');
  });
});
