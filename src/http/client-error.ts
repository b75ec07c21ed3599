/**
 * Requests Node's HTTP parser refuses before Express sees them (an unknown method, a malformed
 * request line, headers or a URL over Node's limit, a request that took too long to arrive):
 * Node answers them with a bare status line, no body and no request id. They get the one error
 * shape here instead, like every other refusal.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

interface Refusal {
  status: number;
  reason: string;
  code: string;
  message: string;
}

/** The answer to a parser refusal, by Node's error code; anything else is a malformed request. */
const REFUSALS: Record<string, Refusal> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: 'request-refused',
    message: 'the request line or headers are too large',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Request Timeout',
    code: 'request-refused',
    message: 'the request did not arrive in time',
  },
};
const MALFORMED: Refusal = {
  status: 400,
  reason: 'Bad Request',
  code: 'validation-failed',
  message: 'malformed HTTP request (method, request line or headers)',
};

/** A `clientError` listener for an HTTP server: answers in the one error shape and closes. */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // As Node's own handler: nothing is written on a socket that is gone, or after an answer that
  // has begun on it (data after a request the app answered early is not a new request to
  // answer).
  const answering = (socket as { _httpMessage?: ServerResponse })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || answering?.headersSent) {
    socket.destroy();
    return;
  }
  const { status, reason, code, message } = REFUSALS[error.code ?? ''] ?? MALFORMED;
  if (answering) {
    // The app already has this request (its headers arrived; its body did not, in time): the
    // answer goes through its response, so that the access log records this status under the
    // request id the client gets, and the app's own handling finds it answered.
    const given = answering.getHeader('x-request-id');
    const requestId = typeof given === 'string' ? given : randomUUID();
    const text = JSON.stringify({
      error: { code, message, details: { in: 'request' }, requestId },
    });
    answering.statusCode = status;
    answering.setHeader('x-request-id', requestId);
    answering.setHeader('content-type', 'application/json; charset=utf-8');
    answering.setHeader('connection', 'close');
    answering.end(text);
    return;
  }
  const requestId = randomUUID();
  const text = JSON.stringify({ error: { code, message, details: { in: 'request' }, requestId } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(text)}\r\n` +
      `X-Request-Id: ${requestId}\r\n` +
      'Connection: close\r\n\r\n' +
      text,
  );
}
