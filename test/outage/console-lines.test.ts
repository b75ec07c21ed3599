/**
 * Every line the service writes is JSON, also what a library writes to the console itself:
 * ioredis' own `console.warn` lines (a Redis user without INFO, a password given to a Redis that
 * has none) come out as log lines, without the password, on real processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskUrlCredentials } from '../../src/logger.ts';
import { OPERATOR } from '../helpers.ts';
import { OwnRedis, ServiceProcess, freePort } from './support.ts';

const PASSWORD = 'svc-secret-password-7f3a';

let redis: OwnRedis;

beforeAll(async () => {
  // The default user has no password; `svc` may run everything but INFO.
  redis = new OwnRedis(await freePort(), [
    '--user',
    'svc',
    'on',
    `>${PASSWORD}`,
    '~*',
    '&*',
    '+@all',
    '-info',
  ]);
  await redis.start();
});

afterAll(async () => {
  await redis.destroy();
});

interface Line {
  level: string;
  message: string;
  source?: string;
}

/** Starts the service on `redisUrl`, stops it once it listens; returns its lines, parsed. */
async function linesOf(redisUrl: string): Promise<{ lines: Line[]; raw: string }> {
  const p = new ServiceProcess({
    PORT: String(await freePort()),
    OPERATOR_TOKENS: OPERATOR,
    KEY_PREFIX: 'console-lines',
    REDIS_URL: redisUrl,
  });
  try {
    await p.listening();
    p.proc.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  } finally {
    p.kill();
  }
  expect(p.stderr).toBe('');
  const lines = p.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
  return { lines, raw: p.stdout };
}

describe("ioredis' console lines", () => {
  it('logs the skipped ready check of a Redis user without INFO as JSON, without the password', async () => {
    const port = redis.port;
    const { lines, raw } = await linesOf(`redis://svc:${PASSWORD}@127.0.0.1:${port}`);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        source: 'console',
        message: expect.stringContaining(
          'Skipping the ready check because INFO command fails',
        ) as string,
      }),
    );
    expect(raw).not.toContain(PASSWORD);
  });

  it('logs a password given to a Redis that has none as JSON, without the password', async () => {
    const { lines, raw } = await linesOf(`redis://:${PASSWORD}@127.0.0.1:${redis.port}`);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        source: 'console',
        message: expect.stringContaining('does not require a password') as string,
      }),
    );
    expect(raw).not.toContain(PASSWORD);
  });
});

describe('maskUrlCredentials', () => {
  it('masks what is between :// and @ of every URL in a text', () => {
    expect(
      maskUrlCredentials(
        'cannot reach redis://svc:pw@cache:6379/0 nor rediss://:pw2@other and smtp://u@mail',
      ),
    ).toBe('cannot reach redis://***@cache:6379/0 nor rediss://***@other and smtp://***@mail');
    expect(maskUrlCredentials('no URL here: a@b.example')).toBe('no URL here: a@b.example');
  });
});
