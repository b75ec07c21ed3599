/**
 * Structured JSON-lines logs through pino. Every line has `level` (a label: `info`), `time`
 * (ISO 8601 UTC) and `message`, then the fields. Never pass secrets in fields: they are written
 * as given (tokens are never handed to the logger).
 */
import { type DestinationStream, type Logger as Pino, pino } from 'pino';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** The pino instance behind this logger (for pino-http and child loggers). */
  readonly pino: Pino;
  /** Writes out what is buffered (before the process exits). */
  flush(): void;
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
    flush: () => {
      const sync = (destination as { flushSync?: () => void }).flushSync;
      if (sync) sync.call(destination);
    },
  };
}

export const silentLogger: Logger = createLogger('silent');
