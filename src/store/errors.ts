/**
 * Turns what ioredis throws into the engine's typed errors. ioredis raises plain `Error`s for
 * timeouts and closed connections, so this is the one place in the code base that recognises a
 * third-party error by its message: the list below is ioredis' own wording, kept in one table.
 */
import { ReplyError } from 'ioredis';
import { StoreUnavailableError } from '../errors.ts';

/**
 * Server error codes (the first word of a Redis error reply) that mean "not now", not "never".
 * `MOVED` and `ASK` reach the caller on a Cluster whose slots are moving (a failover, a
 * resharding): ioredis follows them for a lone command, but in a pipeline (auto-pipelining
 * included) whose other commands were answered it hands them back. The command did not run.
 */
const TRANSIENT_REPLY_CODES = new Set([
  'MOVED',
  'ASK',
  'LOADING',
  'BUSY',
  'MASTERDOWN',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'READONLY',
  'NOREPLICAS',
]);

/** ioredis' messages for a command that never got an answer. */
const IOREDIS_UNAVAILABLE = [
  'Command timed out',
  "Stream isn't writeable",
  'Connection is closed',
  "Cluster isn't ready",
  'None of startup nodes is available',
  'Failed to refresh slots cache',
  'Reached the max retries per request limit',
  'Too many Cluster redirections',
  'Node is disconnected',
  'Cluster is disconnected',
  'connect ETIMEDOUT',
  'Ready check failed',
  'Socket timeout',
  // Auto-pipelining grouped commands by node, and the slots moved before the group was sent:
  // ioredis refuses the group without sending it.
  'All keys in the pipeline should belong to the same slots allocation group',
];

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** An error reply from the server (as opposed to no reply at all). */
const isReplyError = (error: Error): boolean => error instanceof (ReplyError as ErrorConstructor);

/** Returns a StoreUnavailableError when `error` says Redis did not (or could not) answer. */
export function storeUnavailable(error: unknown): StoreUnavailableError | null {
  if (error instanceof StoreUnavailableError) return error;
  if (!(error instanceof Error)) return null;
  let cause: string | null = null;
  if (isReplyError(error)) {
    const code = error.message.split(' ', 1)[0] ?? '';
    if (TRANSIENT_REPLY_CODES.has(code)) cause = code;
  } else if (SOCKET_CODES.has((error as { code?: string }).code ?? '')) {
    cause = (error as { code?: string }).code!;
  } else if (IOREDIS_UNAVAILABLE.some((m) => error.message.startsWith(m))) {
    cause = error.message;
  }
  if (cause === null) return null;
  return new StoreUnavailableError(
    'the store (Redis) did not answer; retry with the same request id',
    {
      cause,
    },
  );
}
