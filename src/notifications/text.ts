/**
 * What notifications say, bounded: toasts fitted to the seed's limits, error text kept short
 * and free of URL queries (where secrets travel), all in linear time.
 */
/** Toast title + body, in characters (code points), per the seed's notification rules. */
export const TOAST_MAX_CHARS = 140;
/** A title longer than this is shortened first when the toast is too long. */
const TOAST_TITLE_MAX_CHARS = 60;
/** JSON size of `details` (the seed keeps payloads under 32 KB; the envelope needs room too). */
export const DETAILS_MAX_BYTES = 16 * 1024;

const ELLIPSIS = '…';

/** A delivery error is stored with at most this many characters. */
const ERROR_MAX_CHARS = 500;
/** Longer error messages are cut before they are scanned, so every scan has a bounded input. */
const ERROR_SCAN_MAX_CHARS = 4096;

/**
 * An error message as stored on a delivery: secrets redacted by `redact`, URL queries and
 * fragments dropped (they may carry tokens), `user:password@` in URLs replaced, at most 500
 * characters. Linear time: the input is bounded first, and URLs are found with one scan per
 * whitespace-separated token (a regular expression that tried every `http://` as a start
 * rescanned the rest of the token each time: 288 ms on `'http://'.repeat(4571)`).
 *
 * @example
 * errorText('POST https://u:pw@hook.example/x?token=abc failed: 500');
 * // 'POST https://[redacted]@hook.example/x failed: 500'
 */
export function errorText(message: string, redact: (s: string) => string = (s) => s): string {
  const text = scrubUrls(redact(bounded(message)));
  return text.length > ERROR_MAX_CHARS ? `${text.slice(0, ERROR_MAX_CHARS - 1)}${ELLIPSIS}` : text;
}

/**
 * `text` without URL queries and fragments, and with `//user:password@` replaced, in time linear
 * in its length (each pattern starts only where the previous match or token ended).
 */
export function scrubUrls(text: string): string {
  return text.replace(/\S+/g, dropUrlQuery).replace(/\/\/[^/\s:@]+:[^/\s@]+@/g, '//[redacted]@');
}

function bounded(message: string): string {
  if (message.length <= ERROR_SCAN_MAX_CHARS) return message;
  // A token cut in two could hide a URL or a secret from the scans: it is dropped whole.
  let end = ERROR_SCAN_MAX_CHARS;
  while (end > 0 && !/\s/.test(message[end]!)) end--;
  return `${message.slice(0, end)} ${ELLIPSIS}`;
}

/**
 * `token` (no whitespace) without the query or fragment of its first `http(s)://` URL, and
 * everything after it, in one pass: what the pattern `(https?://[^\s?#]+)[?#]\S*` replaced.
 */
function dropUrlQuery(token: string): string {
  for (let from = 0; ;) {
    const at = token.indexOf('://', from);
    if (at < 0) return token;
    const scheme = token.startsWith('http', at - 4) || token.startsWith('https', at - 5);
    const host = at + 3;
    if (scheme && host < token.length && token[host] !== '?' && token[host] !== '#') {
      const q = token.indexOf('?', host);
      const h = token.indexOf('#', host);
      const cut = q < 0 ? h : h < 0 ? q : Math.min(q, h);
      return cut < 0 ? token : token.slice(0, cut);
    }
    from = host;
  }
}

/**
 * Shortens a toast so that title + body fit in TOAST_MAX_CHARS: a long title is cut to
 * TOAST_TITLE_MAX_CHARS first, then the body takes the room left; each cut ends with an ellipsis.
 * Notifiers run from at-least-once effects, so a long toast is truncated rather than rejected
 * (a rejection would make the effect retry forever).
 *
 * @example
 * fitToast('Switched to HTTP', 'x'.repeat(200)).body.length; // 124
 */
export function fitToast(title: string, body: string): { title: string; body: string } {
  const t = [...title.trim()];
  const b = [...body.trim()];
  if (t.length + b.length <= TOAST_MAX_CHARS) return { title: t.join(''), body: b.join('') };
  const cut = (chars: string[], max: number) =>
    chars.length <= max ? chars : [...chars.slice(0, max - 1), ELLIPSIS];
  const t2 = cut(t, TOAST_TITLE_MAX_CHARS);
  const b2 = cut(b, TOAST_MAX_CHARS - t2.length);
  return { title: t2.join(''), body: b2.join('') };
}

/**
 * A duration as a toast says it: whole seconds under a minute, otherwise minutes with at most
 * one decimal (a configured `CAPACITY_RESOLVE_AFTER_MS` need not be a whole number of minutes);
 * milliseconds under a second.
 *
 * @example
 * durationText(5_000); // '5 s'
 * durationText(90_000); // '1.5 min'
 * durationText(300_000); // '5 min'
 */
export function durationText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  return `${Math.round(ms / 6000) / 10} min`;
}

/** Request and source ids: printable ASCII without spaces (they appear in SSE `id:` lines). */
