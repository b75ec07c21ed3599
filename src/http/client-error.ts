/**
 * Requests Node's HTTP parser refuses before Express sees them (an unknown method, a malformed
 * request line, headers or a URL over Node's limit, a request that took too long to arrive):
 * Node answers them with a bare status line, no body and no request id. They get the one error
 * shape here instead, like every other refusal.
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';

/** The status and error of a parser refusal, by Node's error code. */
function refusalOf(code: string | undefined): {
  status: number;
  reason: string;
  error: { code: string; message: string; details: Record<string, unknown> };
} {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      reason: 'Request Header Fields Too Large',
      error: {
        code: 'request-refused',
        message: 'the request line or headers are too large',
        details: { in: 'request' },
      },
    };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      reason: 'Request Timeout',
      error: {
        code: 'request-refused',
        message: 'the request did not arrive in time',
        details: { in: 'request' },
      },
    };
  }
  return {
    status: 400,
    reason: 'Bad Request',
    error: {
      code: 'validation-failed',
      message: 'malformed HTTP request (method, request line or headers)',
      details: { in: 'request' },
    },
  };
}

/** A `clientError` listener for an HTTP server: answers in the one error shape and closes. */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // As Node's own handler: nothing is written on a socket that is gone, or after an answer that
  // has begun on it (data after a request the app answered early is not a new request to
  // answer).
  const answering = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || answering?.headersSent) {
    socket.destroy();
    return;
  }
  const requestId = randomUUID();
  const { status, reason, error: body } = refusalOf(error.code);
  const text = JSON.stringify({ error: { ...body, requestId } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      `X-Request-Id: ${requestId}\r\n` +
      'Connection: close\r\n\r\n' +
      text,
  );
}
