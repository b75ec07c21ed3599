/**
 * Configuration as operators write it: a bad value stops the process with a message naming the
 * variable, an empty one counts as unset, and no value is silently changed (a number Node's
 * timers cannot take, a number in another notation, a URL of another scheme).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

/** The message loadConfig refuses `env` with. */
function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('configuration', () => {
  it('takes an empty variable as unset: its default', () => {
    const c = loadConfig({
      PORT: '',
      SHUTDOWN_GRACE_MS: '',
      KEY_PREFIX: '',
      SNAPSHOT_CACHE_SIZE: '',
    });
    expect(c.port).toBe(3000);
    expect(c.shutdownGraceMs).toBe(10_000);
    expect(c.keyPrefix).toBe('lumi');
    expect(c.snapshotCacheSize).toBe(loadConfig({}).snapshotCacheSize);
  });

  it('refuses a KEY_PREFIX with other characters, saying which it takes', () => {
    // A brace would make the prefix a hash tag of its own on Redis Cluster; a space or a dot,
    // a key layout no tool of the README expects.
    for (const value of ['a{b}', 'lumi prod', 'lumi.prod', 'lümi']) {
      expect(refusal({ KEY_PREFIX: value })).toBe(
        'invalid configuration:\n  KEY_PREFIX: must be letters, digits or : _ - only, such as lumi:prod',
      );
    }
    expect(loadConfig({ KEY_PREFIX: 'lumi:prod_2-a' }).keyPrefix).toBe('lumi:prod_2-a');
  });

  it('refuses numbers in any notation but decimal digits, naming the variable', () => {
    for (const value of ['0x0E76', '1e3', '5.0', '-1', ' 80', 'eighty']) {
      const message = refusal({ PORT: value });
      expect(message).toContain('PORT');
      expect(message).toContain('must be a whole number in decimal digits');
    }
  });

  it("refuses a delay Node's timers cannot take instead of letting it become 1 ms", () => {
    expect(loadConfig({ TIMER_POLL_MS: String(2 ** 31 - 1) }).timerPollMs).toBe(2 ** 31 - 1);
    expect(refusal({ TIMER_POLL_MS: '3000000000' })).toContain('TIMER_POLL_MS');
    expect(refusal({ REDIS_COMMAND_TIMEOUT_MS: '3000000000' })).toContain(
      'REDIS_COMMAND_TIMEOUT_MS',
    );
    // A chart's delay is a durable timer in Redis, not a Node timer: a year is fine.
    const year = String(365 * 24 * 3_600_000);
    expect(loadConfig({ HEARTBEAT_TIMEOUT_MS: year }).connection.heartbeatTimeoutMs).toBe(
      Number(year),
    );
  });

  it('keeps notification records 30 days unless NOTIFY_RETENTION_MS says otherwise, at least a minute', () => {
    expect(loadConfig({}).notifications.retentionMs).toBe(30 * 86_400_000);
    expect(loadConfig({ NOTIFY_RETENTION_MS: '86400000' }).notifications.retentionMs).toBe(
      86_400_000,
    );
    for (const value of ['30d', '1e9', '-1']) {
      const message = refusal({ NOTIFY_RETENTION_MS: value });
      expect(message).toContain('NOTIFY_RETENTION_MS');
      expect(message).toContain('must be a whole number in decimal digits');
    }
    expect(refusal({ NOTIFY_RETENTION_MS: '59999' })).toMatch(/NOTIFY_RETENTION_MS: .*60000/);
  });

  it('names what is wrong in API_TOKENS in its own words, field by field', () => {
    const token = 'a'.repeat(20);
    const cases: [unknown, string[]][] = [
      [{ token, installations: ['a'] }, ['API_TOKENS: must be a JSON list: [{"token":']],
      [[5], ['API_TOKENS.0: must be an object: {"token":']],
      [
        [{ token: 1 }],
        [
          'API_TOKENS.0.token: must be a string of at least 16 characters',
          'API_TOKENS.0.installations: must be a list of installation ids, such as ["inst-a"]',
        ],
      ],
      [[{ token, installations: [] }], ['API_TOKENS.0.installations: must name at least one']],
      [[{ token, installations: [''] }], ['API_TOKENS.0.installations.0: must not be empty']],
      [
        [{ token, installations: ['a'], extra: 1, x: 2 }],
        ['API_TOKENS.0: unknown fields "extra", "x" (a token has token, installations and name)'],
      ],
      [[{ token, installations: ['a'], name: '' }], ['API_TOKENS.0.name: must be a string of 1']],
    ];
    for (const [value, lines] of cases) {
      const message = refusal({ API_TOKENS: JSON.stringify(value) });
      for (const line of lines) expect(message, JSON.stringify(value)).toContain(line);
      expect(message).not.toContain('Invalid input');
      expect(message).not.toContain(token);
    }
  });

  it('names a number too large to read exactly once, on one line', () => {
    for (const value of ['99999999999999999999', '9007199254740992', '1'.padEnd(400, '0')]) {
      const message = refusal({ NOTIFY_RETENTION_MS: value });
      expect(message).toBe(
        'invalid configuration:\n  NOTIFY_RETENTION_MS: Too big: expected number to be <=9007199254740991',
      );
    }
    expect(loadConfig({ NOTIFY_RETENTION_MS: '9007199254740991' }).notifications.retentionMs).toBe(
      Number.MAX_SAFE_INTEGER,
    );
  });

  it('names every bad value at one start, those bad together included', () => {
    expect(
      refusal({
        PORT: 'eighty',
        CAPACITY_WARNING_RATIO: '0.99',
        ERROR_SUCCESS_RATE: '0.999',
        RECONNECT_BASE_DELAY_MS: '70000',
      }).split('\n'),
    ).toEqual([
      'invalid configuration:',
      '  PORT: must be a whole number in decimal digits',
      '  CAPACITY_WARNING_RATIO: must not exceed CAPACITY_CRITICAL_RATIO',
      '  ERROR_SUCCESS_RATE: must not exceed DEGRADED_SUCCESS_RATE',
      '  RECONNECT_BASE_DELAY_MS: must not exceed RECONNECT_MAX_DELAY_MS',
    ]);
    expect(
      refusal({
        NODE_ENV: 'production',
        REDIS_WAIT_REPLICAS: '1',
        CAPACITY_RESOLVE_RATIO: '0.9',
      }).split('\n'),
    ).toEqual([
      'invalid configuration:',
      '  OPERATOR_TOKENS/API_TOKENS: at least one token is required in production',
      '  REDIS_WAIT_REPLICAS: needs REDIS_URL or REDIS_CLUSTER_NODES (the embedded store has no replicas)',
      '  CAPACITY_RESOLVE_RATIO: must not exceed CAPACITY_WARNING_RATIO',
    ]);
    // A value bad alone is not compared as well: its own line says what is wrong with it.
    expect(refusal({ CAPACITY_WARNING_RATIO: '2', CAPACITY_CRITICAL_RATIO: '0.9' })).toBe(
      'invalid configuration:\n  CAPACITY_WARNING_RATIO: Too big: expected number to be <=1',
    );
  });

  it('refuses a port beyond 65535', () => {
    expect(loadConfig({ PORT: '65535' }).port).toBe(65_535);
    expect(refusal({ PORT: '70000' })).toContain('PORT');
  });

  it('refuses URLs of another scheme for Redis and SMTP', () => {
    expect(loadConfig({ REDIS_URL: 'rediss://cache.internal:6380' }).redisUrl).toBe(
      'rediss://cache.internal:6380',
    );
    expect(refusal({ REDIS_URL: 'http://127.0.0.1:6379' })).toMatch(
      /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/,
    );
    // Without a host nodemailer would send to localhost.
    for (const value of ['smtp://', 'smtps://', 'smtp:///path']) {
      expect(refusal({ SMTP_URL: value })).toBe(
        'invalid configuration:\n  SMTP_URL: must name a host: smtp://user:pass@host:port',
      );
    }
    expect(loadConfig({ SMTP_URL: 'smtp://mail.internal:587' }).notifications.smtpUrl).toBe(
      'smtp://mail.internal:587',
    );
    expect(refusal({ SMTP_URL: 'http://x' })).toMatch(
      /SMTP_URL: must be a smtp:\/\/ or smtps:\/\/ URL/,
    );
  });
  it('refuses a rate that is blank or in another notation instead of reading it as a number', () => {
    expect(loadConfig({ CAPACITY_CRITICAL_RATIO: '1' }).capacity.critical).toBe(1);
    expect(loadConfig({ CAPACITY_CRITICAL_RATIO: '0.97' }).capacity.critical).toBe(0.97);
    expect(loadConfig({ DEGRADED_SUCCESS_RATE: '.999' }).connection.degradedSuccessRate).toBe(
      0.999,
    );
    // Number(' ') is 0: a blank critical ratio would shed every new connection.
    for (const value of [' ', '\t', '0x1', '0b1', '1e-1', '+0.5', '-0', ' 0.5', 'Infinity']) {
      const message = refusal({ CAPACITY_CRITICAL_RATIO: value });
      expect(message).toContain('CAPACITY_CRITICAL_RATIO: must be a decimal from 0 to 1');
    }
    expect(refusal({ ERROR_SUCCESS_RATE: '1.5' })).toContain('ERROR_SUCCESS_RATE');
  });
  it('refuses REDIS_WAIT_REPLICAS on the embedded store, which has no replicas to wait for', () => {
    expect(refusal({ REDIS_WAIT_REPLICAS: '1' })).toContain(
      'REDIS_WAIT_REPLICAS: needs REDIS_URL or REDIS_CLUSTER_NODES',
    );
    expect(loadConfig({ REDIS_WAIT_REPLICAS: '0' }).redisWait.replicas).toBe(0);
    const url = { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_WAIT_REPLICAS: '1' };
    expect(loadConfig(url).redisWait.replicas).toBe(1);
    const cluster = { REDIS_CLUSTER_NODES: '127.0.0.1:7100', REDIS_WAIT_REPLICAS: '1' };
    expect(loadConfig(cluster).redisWait.replicas).toBe(1);
  });
  it('refuses a Redis URL without a host or with a database that is not a number', () => {
    expect(loadConfig({ REDIS_URL: 'redis://cache.internal:6379/3' }).redisUrl).toBe(
      'redis://cache.internal:6379/3',
    );
    expect(loadConfig({ REDIS_URL: 'redis://cache.internal:6379/' }).redisUrl).toBeDefined();
    // ioredis takes `redis://` as 127.0.0.1:6379, and sends `/abc` to SELECT, then goes on in 0.
    for (const value of ['redis://', 'redis://cache.internal/abc', 'redis://cache.internal/1/2']) {
      expect(refusal({ REDIS_URL: value })).toContain(
        'REDIS_URL: must name a host, and a database only as a number',
      );
    }
    expect(refusal({ REDIS_URL: 'not a url' })).toContain('REDIS_URL: must be a redis://');
  });
  it('refuses capacity ratios out of order: resolve <= warning <= critical', () => {
    const ok = loadConfig({
      CAPACITY_RESOLVE_RATIO: '0.8',
      CAPACITY_WARNING_RATIO: '0.8',
      CAPACITY_CRITICAL_RATIO: '0.8',
    });
    expect(ok.capacity).toMatchObject({ resolve: 0.8, warning: 0.8, critical: 0.8 });
    // Above the warning ratio, an alert would resolve at the usage that opened it.
    expect(refusal({ CAPACITY_RESOLVE_RATIO: '0.9' })).toContain(
      'CAPACITY_RESOLVE_RATIO: must not exceed CAPACITY_WARNING_RATIO',
    );
    expect(refusal({ CAPACITY_WARNING_RATIO: '0.99' })).toContain(
      'CAPACITY_WARNING_RATIO: must not exceed CAPACITY_CRITICAL_RATIO',
    );
  });
  it('refuses a cluster seed node whose port no server can have', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:7000, b:65535' }).redisClusterNodes).toEqual([
      'a:7000',
      'b:65535',
    ]);
    for (const nodes of ['a:7000,b:99999', 'a:0', 'a']) {
      expect(refusal({ REDIS_CLUSTER_NODES: nodes })).toMatch(
        /REDIS_CLUSTER_NODES\.\d: each node must be host:port/,
      );
    }
  });
  it('refuses NODE_ENV other than development, test or production in lower case', () => {
    // `Production` read as development would leave the development operator token active.
    for (const value of ['Production', 'PRODUCTION', 'prod', 'staging', ' production']) {
      expect(refusal({ NODE_ENV: value })).toContain(
        'NODE_ENV: must be development, test or production, in lower case',
      );
    }
    expect(refusal({ NODE_ENV: 'production' })).toContain(
      'OPERATOR_TOKENS/API_TOKENS: at least one token is required in production',
    );
    expect(loadConfig({ NODE_ENV: 'test' }).devToken).toBe(true);
    expect(loadConfig({}).env).toBe('development');
  });
  it('refuses OPERATOR_TOKENS given as a JSON list, and a token with a space, saying the form', () => {
    const token = 'operator-token-0123456789';
    // Taken before as one token, brackets and quotes included, which no client ever sends.
    expect(refusal({ OPERATOR_TOKENS: `["${token}"]` })).toContain(
      'OPERATOR_TOKENS: is a comma-separated list (token-one,token-two), not a JSON list',
    );
    expect(refusal({ OPERATOR_TOKENS: `${token}, operator token two` })).toMatch(
      /OPERATOR_TOKENS\.1: a token must not contain spaces/,
    );
    const { tokens } = loadConfig({ OPERATOR_TOKENS: ` ${token} ,${token}-2` });
    expect([...tokens.keys()]).toEqual([token, `${token}-2`]);
  });
  it('refuses a protocol range no version satisfies, which would fail every handshake', () => {
    for (const range of ['<0.0.0', '>=2.0.0 <1.0.0', '>=1.0.0-rc.1 <1.0.0-rc.0']) {
      expect(refusal({ SUPPORTED_PROTOCOL_VERSIONS: range })).toContain(
        'SUPPORTED_PROTOCOL_VERSIONS: no version satisfies this range',
      );
    }
    expect(refusal({ SUPPORTED_PROTOCOL_VERSIONS: 'one' })).toContain(
      'SUPPORTED_PROTOCOL_VERSIONS: must be a semver range',
    );
    // One satisfiable alternative is enough; so is a range only prereleases satisfy.
    for (const range of ['^1.0.0', '<0.0.0 || ^2.1.0', '>=1.0.0-alpha <1.0.0']) {
      expect(loadConfig({ SUPPORTED_PROTOCOL_VERSIONS: range }).connection.supportedRange).toBe(
        range,
      );
    }
  });
  it('refuses an EMAIL_FROM that is not an email address', () => {
    for (const from of [
      'abc',
      'LumiLink',
      'LumiLink <abc>',
      'a@b',
      'LumiLink noreply@example.com',
      'Lumi\r\nBcc: x@example.com <noreply@example.com>',
      '<noreply@example.com> extra',
    ]) {
      expect(refusal({ EMAIL_FROM: from })).toContain('EMAIL_FROM: must be an email address');
    }
    for (const from of [
      'noreply@example.com',
      'LumiLink <noreply@example.com>',
      'LumiLink Alerts<alerts@lumilink.example>',
    ]) {
      expect(loadConfig({ EMAIL_FROM: from }).notifications.emailFrom).toBe(from);
    }
    expect(loadConfig({}).notifications.emailFrom).toBe('LumiLink <noreply@lumilink.local>');
  });
  it('refuses a reconnect base delay above the max delay, naming both', () => {
    expect(
      refusal({ RECONNECT_BASE_DELAY_MS: '120000', RECONNECT_MAX_DELAY_MS: '60000' }),
    ).toContain('RECONNECT_BASE_DELAY_MS: must not exceed RECONNECT_MAX_DELAY_MS');
    expect(refusal({ RECONNECT_BASE_DELAY_MS: '60001' })).toContain('RECONNECT_BASE_DELAY_MS');
    const equal = loadConfig({ RECONNECT_BASE_DELAY_MS: '5000', RECONNECT_MAX_DELAY_MS: '5000' });
    expect(equal.connection).toMatchObject({
      reconnectBaseDelayMs: 5000,
      reconnectMaxDelayMs: 5000,
    });
  });

  it('refuses a what-if journal too short to keep the checkpoint a replay starts from', () => {
    for (const value of ['1', '500', '999']) {
      expect(refusal({ WHAT_IF_JOURNAL_EVENTS: value })).toContain(
        'WHAT_IF_JOURNAL_EVENTS: must be 0 (no journal) or at least 1000: a replay starts from a checkpoint, written every 500 events',
      );
    }
    expect(loadConfig({ WHAT_IF_JOURNAL_EVENTS: '0' }).whatIfJournalEvents).toBe(0);
    expect(loadConfig({ WHAT_IF_JOURNAL_EVENTS: '1000' }).whatIfJournalEvents).toBe(1000);
    expect(loadConfig({}).whatIfJournalEvents).toBe(20_000);
  });
});
