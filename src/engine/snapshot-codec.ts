/**
 * How an actor's snapshot is kept in Redis (the actor hash's `s`, ChartBinding.snapshotCodec).
 * JSON of `{value, context}` by default. A chart with many actors (a connection per agent) can
 * declare the shape of its context instead: the snapshot is then stored as a JSON array of the
 * values in that order, `[value, c1, c2, ...]`, nested records and arrays of records likewise,
 * without the key names, which were about half of a connection's snapshot.
 *
 * Exact or not at all: a context that does not match its shape (a key missing, undefined or
 * extra, a nested record that is not one) is stored as plain JSON, and both forms are read back
 * (a compact snapshot starts with `[`, JSON with `{`). So `decode(encode(s))` always equals
 * `JSON.parse(JSON.stringify(s))` (test/engine/snapshot-codec.test.ts, with a fast-check property).
 *
 * Shapes are append-only: a key is only ever added at the end of its record. A snapshot of an
 * older, shorter shape reads back without the later keys (as a JSON snapshot written before a key
 * existed does); one with more values than the shape (written by a newer process) is refused
 * with an error rather than read with values dropped.
 *
 * Both codecs that write compact or memoized text remember the text of values a step keeps (a
 * long list's items, a workspace's members) by identity: they are for charts whose actions never
 * modify a context value in place, which the tests hold the connection and workspace charts to.
 *
 * @example
 * const codec = positionalCodec(['id', { key: 'window', fields: ['head', 'ok'] }]);
 * codec.encode({ value: 'a', context: { id: 'c1', window: { head: 3, ok: [1] } } }); // '["a","c1",[3,[1]]]'
 */
import type { PersistedState } from './step.ts';

/** A record's keys in order: a plain key, a nested record, or an array of records. */
export type Field = string | { key: string; fields: Shape } | { key: string; each: Shape };
export type Shape = readonly Field[];

export interface SnapshotCodec {
  /** The text stored for a persisted state. */
  encode(state: PersistedState): string;
  /** The persisted state a stored text holds (either form). */
  decode(text: string): PersistedState;
}

/** `{value, context}` as JSON: what every chart without a declared shape stores. */
export const jsonSnapshots: SnapshotCodec = {
  encode: (state) => JSON.stringify(state),
  decode: (text) => JSON.parse(text) as PersistedState,
};

/**
 * The text remembered for `value` in `texts`, else `write(value)` remembered (when it is not
 * undefined, which means "does not match": nothing is remembered then). Only for values never
 * modified in place, as the codecs below require.
 */
function rememberedText<T extends object>(
  texts: WeakMap<object, string>,
  value: T,
  write: (value: T) => string | undefined,
): string | undefined {
  let text = texts.get(value);
  if (text === undefined) {
    text = write(value);
    if (text !== undefined) texts.set(value, text);
  }
  return text;
}

/**
 * `{value, context}` as JSON, exactly as {@link jsonSnapshots} writes it, with the text of some
 * context values remembered by their identity: a chart's context is immutable (every `assign`
 * builds new objects and keeps the unchanged ones), so a value a step did not replace has the
 * text it had. `whole` names fields remembered as one text, `each` fields whose array items are
 * remembered one by one (a rolling window whose newest entry alone changes). A workspace's
 * members, their counts and its policy are replaced only when a status or the policy changes, and
 * its window keeps every entry but the newest, while its snapshot is written at every commit.
 *
 * Only for charts whose actions never modify a context value in place (a modified object would
 * keep its old text): test/engine/snapshot-codec.test.ts steps the workspace chart on deeply
 * frozen contexts to hold it to that.
 *
 * @example
 * const codec = memoizedJson({ whole: ['members', 'policy'], each: ['window'] });
 * codec.encode(state) === JSON.stringify(state); // always
 */
export function memoizedJson(fields: {
  whole?: readonly string[];
  each?: readonly string[];
}): SnapshotCodec {
  const whole = new Set(fields.whole);
  const each = new Set(fields.each);
  const texts = new WeakMap<object, string>();
  const remembered = (v: object): string => rememberedText(texts, v, (o) => JSON.stringify(o))!;
  return {
    encode(state) {
      const { context } = state;
      let out = `{"value":${JSON.stringify(state.value)},"context":{`;
      let first = true;
      for (const key of Object.keys(context)) {
        const v = context[key];
        let text: string | undefined;
        if (typeof v !== 'object' || v === null) {
          // undefined for what JSON leaves out (undefined, functions), as JSON.stringify does.
          text = JSON.stringify(v);
        } else if (whole.has(key)) {
          text = remembered(v);
        } else if (each.has(key) && Array.isArray(v)) {
          text = '[';
          for (let i = 0; i < v.length; i++) {
            const item: unknown = v[i];
            text += i === 0 ? '' : ',';
            // In an array, JSON writes null for what it leaves out.
            text +=
              typeof item === 'object' && item !== null
                ? remembered(item)
                : (JSON.stringify(item) ?? 'null');
          }
          text += ']';
        } else {
          text = JSON.stringify(v);
        }
        if (text === undefined) continue;
        out += `${first ? '' : ','}${JSON.stringify(key)}:${text}`;
        first = false;
      }
      return `${out}}}`;
    },
    decode: (text) => jsonSnapshots.decode(text),
  };
}

/** The record's own key count if it is a plain record (not null, not an array), else -1. */
function recordKeys(record: unknown): number {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return -1;
  let keys = 0;
  for (const _ in record) keys++;
  return keys;
}

/** Appends `record`'s values in `shape`'s order to `out`; false if it does not match the shape. */
function pack(record: unknown, shape: Shape, out: unknown[]): boolean {
  if (recordKeys(record) !== shape.length) return false;
  for (const field of shape)
    if (!packField(record as Record<string, unknown>, field, out)) return false;
  return true;
}

/** Appends the value of one field of `r` to `out`, packed; false if it does not match. */
function packField(r: Record<string, unknown>, field: Field, out: unknown[]): boolean {
  if (typeof field === 'string') {
    const v = r[field];
    if (v === undefined) return false;
    out.push(v);
    return true;
  }
  // undefined fails below: it is neither a record nor an array.
  const v = r[field.key];
  if (v === null) {
    out.push(null);
  } else if ('fields' in field) {
    const nested: unknown[] = [];
    if (!pack(v, field.fields, nested)) return false;
    out.push(nested);
  } else {
    if (!Array.isArray(v)) return false;
    const items: unknown[][] = [];
    for (const item of v as unknown[]) {
      const packed: unknown[] = [];
      if (!pack(item, field.each, packed)) return false;
      items.push(packed);
    }
    out.push(items);
  }
  return true;
}

/**
 * `JSON.stringify([value, ...packed record])`, with the text of each top-level list field
 * remembered in `texts` by identity: the list's (most steps keep it as it is) and each item's
 * (kept when the list is replaced by a longer one). A connection keeps up to 50 diagnostics
 * entries, appended on status changes and never modified; packing and writing them again at
 * every heartbeat cost ten times the rest of its snapshot. Undefined if the record does not
 * match its shape.
 */
function packedText(
  value: unknown,
  record: unknown,
  shape: Shape,
  texts: WeakMap<object, string>,
): string | undefined {
  if (recordKeys(record) !== shape.length) return undefined;
  const r = record as Record<string, unknown>;
  // The other fields are packed in runs, one JSON.stringify per run rather than per value.
  let out = '';
  let run: unknown[] = [value];
  for (const field of shape) {
    const list = typeof field === 'string' || 'fields' in field ? null : r[field.key];
    if (!Array.isArray(list)) {
      if (!packField(r, field, run)) return undefined;
      continue;
    }
    const text = listText(list as unknown[], (field as { each: Shape }).each, texts);
    if (text === undefined) return undefined;
    if (run.length > 0) out += `${out === '' ? '' : ','}${JSON.stringify(run).slice(1, -1)}`;
    out += `,${text}`;
    run = [];
  }
  if (run.length > 0) out += `${out === '' ? '' : ','}${JSON.stringify(run).slice(1, -1)}`;
  return `[${out}]`;
}

/** A list of records as the JSON of their packed values, remembered (see {@link packedText}). */
function listText(
  items: readonly unknown[],
  shape: Shape,
  texts: WeakMap<object, string>,
): string | undefined {
  const itemText = (item: unknown): string | undefined => {
    const values: unknown[] = [];
    return pack(item, shape, values) ? JSON.stringify(values) : undefined;
  };
  return rememberedText(texts, items, (list) => {
    let out = '[';
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      // A record of the shape is an object; anything else fails to pack (and is not remembered).
      const text =
        typeof item === 'object' && item !== null
          ? rememberedText(texts, item, itemText)
          : itemText(item);
      if (text === undefined) return undefined;
      out += i === 0 ? text : `,${text}`;
    }
    return `${out}]`;
  });
}

function unpack(values: unknown, shape: Shape, from: number): Record<string, unknown> {
  if (!Array.isArray(values)) throw new TypeError('compact snapshot: a record is not an array');
  if (values.length - from > shape.length) {
    throw new Error(
      `compact snapshot has ${values.length - from} values for a shape of ${shape.length}: ` +
        'written by a newer version of the chart',
    );
  }
  const record: Record<string, unknown> = {};
  for (let i = from; i < values.length; i++) {
    const field = shape[i - from]!;
    const v: unknown = values[i];
    if (typeof field === 'string') record[field] = v;
    else if (v === null) record[field.key] = null;
    else if ('fields' in field) record[field.key] = unpack(v, field.fields, 0);
    else record[field.key] = (v as unknown[]).map((item) => unpack(item, field.each, 0));
  }
  return record;
}

/**
 * Below this many items a list is packed with the rest of the record, in one JSON.stringify: its
 * remembered text, joined to the rest's, costs about as much as packing a short list again.
 */
const REMEMBERED_LIST_MIN = 8;

/** A codec that stores contexts of `shape` as arrays (see the module comment). */
export function positionalCodec(shape: Shape): SnapshotCodec {
  const texts = new WeakMap<object, string>();
  const lists = shape.flatMap((f) => (typeof f !== 'string' && 'each' in f ? [f.key] : []));
  /** Whether a list field is long enough for its remembered text to beat packing it again. */
  const longList = (context: Record<string, unknown>) => {
    for (const key of lists) {
      const v = context[key];
      if (Array.isArray(v) && v.length >= REMEMBERED_LIST_MIN) return true;
    }
    return false;
  };
  return {
    encode(state) {
      if (longList(state.context)) {
        return packedText(state.value, state.context, shape, texts) ?? JSON.stringify(state);
      }
      const out: unknown[] = [state.value];
      return pack(state.context, shape, out) ? JSON.stringify(out) : JSON.stringify(state);
    },
    decode(text) {
      if (text.charCodeAt(0) !== 91 /* [ */) return JSON.parse(text) as PersistedState;
      const values = JSON.parse(text) as unknown[];
      return { value: values[0] as PersistedState['value'], context: unpack(values, shape, 1) };
    },
  };
}
