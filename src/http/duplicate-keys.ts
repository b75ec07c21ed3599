/**
 * Refuses a JSON body in which one object names a key twice (`{"status":"connected",
 * "status":"error"}`). `JSON.parse` keeps the last one without a word, so a body could say one
 * thing to a reader (a log line, a proxy, a person) and another to the engine. `JSON.parse` (and
 * its reviver) cannot see the repeat: the raw bytes are kept by the parser's `verify` hook and
 * scanned once, after `JSON.parse` has accepted them, so the scanner may take the text as valid
 * JSON and only follow strings and brackets.
 *
 * A key is compared as JSON reads it: `"a"` and `"\u0061"` are the same key (JSON.parse would
 * keep one of them), and so are two keys whose invalid UTF-8 both decode to U+FFFD.
 */
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { redactSecrets } from '../automation/secrets.ts';
import { type FieldIssue, MAX_REPORTED_KEYS, invalidFields } from '../errors.ts';

/** The raw bytes of each parsed JSON body, until refuseDuplicateKeys has scanned them. */
const rawBodies = new WeakMap<IncomingMessage, Buffer>();

/**
 * The body parser's `verify` hook: keeps a reference to the bytes (no copy) for
 * refuseDuplicateKeys.
 *
 * @example
 * express.json({ verify: keepRawBody });
 */
export function keepRawBody(req: IncomingMessage, _res: unknown, buf: Buffer): void {
  rawBodies.set(req, buf);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
/** Bytes from here up are parts of multi-byte UTF-8 characters. */
const NON_ASCII = 0x80;

/**
 * Up to this many keys an object's plain keys are compared byte for byte where they lie in the
 * body (nearly every object of a request): no string is made for them.
 */
const SMALL_OBJECT = 16;

/** An object or array being read. */
interface Frame {
  /** Array only: the index of the value being read. */
  index: number;
  /** Object only: where the key of the value being read lies (between its quotes). */
  keyStart: number;
  keyEnd: number;
  keyPlain: boolean;
  /** Object only: the next string is a key. */
  expectKey: boolean;
  /** Object only: where each key's bytes start and end (between its quotes). */
  starts: number[] | null;
  ends: number[] | null;
  /**
   * An object's keys as strings, once it holds a key with an escape or a non-ASCII byte (whose
   * bytes do not say which string it is) or more than SMALL_OBJECT keys.
   */
  names: Set<string> | null;
}

/** One shape for both kinds, so the scanner's property reads stay monomorphic. */
const frame = (object: boolean): Frame => ({
  index: 0,
  keyStart: 0,
  keyEnd: 0,
  keyPlain: true,
  expectKey: object,
  starts: object ? [] : null,
  ends: object ? [] : null,
  names: null,
});

const decodeKey = (buf: Buffer, start: number, end: number, plain: boolean): string =>
  plain
    ? buf.toString('latin1', start, end)
    : // From the opening to the closing quote: JSON.parse reads escapes and UTF-8 as the body
      // parser did.
      (JSON.parse(buf.toString('utf8', start - 1, end + 1)) as string);

/** Whether bytes [a, a + n) and [b, b + n) are the same. */
function sameBytes(buf: Buffer, a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (buf[a + k] !== buf[b + k]) return false;
  return true;
}

/** Records a key in an object's frame; false when the object already holds it. */
function addKey(buf: Buffer, frame: Frame, start: number, end: number, plain: boolean): boolean {
  const starts = frame.starts!;
  const ends = frame.ends!;
  if (frame.names === null && (!plain || starts.length >= SMALL_OBJECT)) {
    // Plain keys were all ASCII without escapes: their bytes are their characters.
    frame.names = new Set(starts.map((s, k) => buf.toString('latin1', s, ends[k])));
  }
  if (frame.names !== null) {
    const name = decodeKey(buf, start, end, plain);
    if (frame.names.has(name)) return false;
    frame.names.add(name);
    return true;
  }
  const n = end - start;
  for (let k = 0; k < starts.length; k++) {
    if (ends[k]! - starts[k]! === n && sameBytes(buf, starts[k]!, start, n)) return false;
  }
  starts.push(start);
  ends.push(end);
  return true;
}

/** The dotted path of the value being read at the top of `stack`. */
const pathOf = (buf: Buffer, stack: readonly Frame[]) =>
  stack
    .map((f) =>
      f.starts === null ? String(f.index) : decodeKey(buf, f.keyStart, f.keyEnd, f.keyPlain),
    )
    .join('.');

/**
 * Dotted paths (as the API names fields: `items.0.connectionId`) of every key repeated within
 * one object of `json`, which JSON.parse has accepted, in document order, at most
 * MAX_REPORTED_KEYS. One linear pass over the bytes, which makes no string for a plain key (all
 * ASCII, no escape) of an object of up to SMALL_OBJECT keys; iterative, so any depth is fine.
 *
 * @example
 * duplicateKeyPaths(Buffer.from('{"items":[{"connectionId":"a","connectionId":"b"}]}'));
 * // ['items.0.connectionId']
 */
export function duplicateKeyPaths(json: Buffer): string[] {
  const found: string[] = [];
  const stack: Frame[] = [];
  let top: Frame | undefined;
  const end = json.length;
  for (let i = 0; i < end; i++) {
    const c = json[i];
    if (c === QUOTE) {
      // The text is valid JSON: the string ends at the first quote no backslash escapes.
      const start = i + 1;
      let plain = true;
      let j = start;
      for (;;) {
        const d = json[j]!;
        if (d === QUOTE) break;
        if (d === BACKSLASH) {
          plain = false;
          j += 2;
        } else {
          if (d >= NON_ASCII) plain = false;
          j++;
        }
      }
      if (top?.expectKey) {
        top.expectKey = false;
        // A path is made only for a repeat; until then the frame says where its key lies.
        top.keyStart = start;
        top.keyEnd = j;
        top.keyPlain = plain;
        if (!addKey(json, top, start, j, plain)) {
          // A key given three times is named once.
          const path = pathOf(json, stack);
          if (!found.includes(path)) found.push(path);
          if (found.length >= MAX_REPORTED_KEYS) return found;
        }
      }
      i = j;
    } else if (c === OPEN_OBJECT) {
      top = frame(true);
      stack.push(top);
    } else if (c === OPEN_ARRAY) {
      top = frame(false);
      stack.push(top);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
      top = stack[stack.length - 1];
    } else if (c === COMMA && top) {
      if (top.starts === null) top.index++;
      else top.expectKey = true;
    }
  }
  return found;
}

/**
 * Refuses a JSON body that repeats a key within one object with a 400 naming each path, before
 * any route runs (so nothing is written). Paths are made of the client's keys: one that looks
 * like a secret is redacted rather than echoed.
 */
export const refuseDuplicateKeys: RequestHandler = (req, _res, next) => {
  const raw = rawBodies.get(req);
  if (raw === undefined) return next();
  rawBodies.delete(req);
  const paths = duplicateKeyPaths(raw);
  if (paths.length > 0) {
    const fields: FieldIssue[] = paths.map((path) => ({
      field: redactSecrets(path),
      message: 'duplicate key: this object names it more than once; send each key once',
    }));
    throw invalidFields('body', fields);
  }
  next();
};
