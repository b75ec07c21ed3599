/**
 * Structured JSON-lines logs through pino. Every line has `level` (a label: `info`), `time`
 * (ISO 8601 UTC) and `message`, then the fields. Never pass secrets in fields: they are written
 * as given (tokens are never handed to the logger).
 */
import { format } from 'node:util';
import { type DestinationStream, type Logger as Pino, pino } from 'pino';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** The pino instance behind this logger (for pino-http and child loggers). */
  readonly pino: Pino;
  /**
   * Writes out every line logged so far, in order (a write in flight first), then stops: lines
   * logged afterwards are dropped. Resolves when they are written, or after `withinMs` (a stdout
   * nobody reads). Before the process exits.
   */
  close(withinMs?: number): Promise<void>;
}

/** What close() uses of pino's stdout destination (a SonicBoom). */
interface Endable {
  end(): void;
  once(event: 'close', listener: () => void): unknown;
  destroyed: boolean;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/**
 * A logger at `level`, writing to stdout, or to `write` (one call per line, without the newline).
 *
 * @example
 * const logger = createLogger('info');
 * logger.info('listening', { url: 'http://127.0.0.1:3000' });
 */
export function createLogger(level: LogLevel = 'info', write?: (line: string) => void): Logger {
  const destination: DestinationStream = write
    ? { write: (chunk: string) => write(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk) }
    : pino.destination({ dest: 1, sync: false, minLength: 0 });
  const instance = pino(
    {
      level,
      base: undefined,
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
  return wrap(instance, destination);
}

function wrap(instance: Pino, destination: DestinationStream): Logger {
  return {
    pino: instance,
    debug: (message, fields) => instance.debug(fields ?? {}, message),
    info: (message, fields) => instance.info(fields ?? {}, message),
    warn: (message, fields) => instance.warn(fields ?? {}, message),
    error: (message, fields) => instance.error(fields ?? {}, message),
    close: (withinMs = 2_000) => {
      // Not flushSync(): it writes what is buffered at once, overtaking a write in flight (a
      // later line came out before an earlier one, which could also be lost at exit). end()
      // waits for that write, then writes the rest in order.
      const stream = destination as Partial<Endable>;
      const silence = () => (instance.level = 'silent');
      if (!stream.end || !stream.once || stream.destroyed) {
        silence();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, withinMs);
        stream.once!('close', () => {
          clearTimeout(timer);
          resolve();
        });
        stream.end!();
        silence();
      });
    },
  };
}

export const silentLogger: Logger = createLogger('silent');

/** `scheme://user:password@` with what is between `//` and `@` masked: `scheme://***@`. */
export function maskUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, '$1***@');
}

const CONSOLE_LEVELS = {
  debug: 'debug',
  log: 'info',
  info: 'info',
  warn: 'warn',
  error: 'error',
  trace: 'error',
} as const;

/**
 * Routes what libraries write to the console (ioredis writes its own `console.warn` lines, e.g.
 * "Skipping the ready check because INFO command fails" for a Redis user without INFO, or a
 * password given to a Redis that has none) and Node's process warnings through `logger`, so
 * every line the service writes is JSON: the text as `message` (URL credentials masked) and
 * `source: "console"` or `"process"`. For the service process only (src/main.ts); returns a
 * function that puts the console back.
 */
export function routeConsoleTo(logger: Logger): () => void {
  // Put back as they were (bound or not): the same function objects.
  const originals: Record<string, unknown> = Object.fromEntries(
    Object.keys(CONSOLE_LEVELS).map((method) => [method, Reflect.get(console, method)]),
  );
  for (const [method, level] of Object.entries(CONSOLE_LEVELS) as [
    keyof typeof CONSOLE_LEVELS,
    Exclude<LogLevel, 'silent'>,
  ][]) {
    console[method] = (...args: unknown[]) =>
      logger[level](maskUrlCredentials(format(...args)), { source: 'console' });
  }
  // Node's own handler writes `(node:123) Warning: …` as text; it is a listener like this one.
  const nodeWarningListeners = process.listeners('warning');
  process.removeAllListeners('warning');
  const onWarning = (warning: Error & { code?: string }) =>
    logger.warn(maskUrlCredentials(warning.message), {
      source: 'process',
      warning: warning.name,
      ...(warning.code ? { code: warning.code } : {}),
    });
  process.on('warning', onWarning);
  return () => {
    Object.assign(console, originals);
    process.off('warning', onWarning);
    for (const l of nodeWarningListeners) process.on('warning', l);
  };
}
