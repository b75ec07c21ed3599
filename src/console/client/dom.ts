/** A few DOM helpers: elements from a tag, attributes and children; formatting. */
export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown> | null;

function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v as EventListener);
    } else {
      const text = v === true ? '' : typeof v === 'string' ? v : JSON.stringify(v);
      if (k === 'value' && el instanceof HTMLInputElement) el.value = text;
      else el.setAttribute(k, text);
    }
  }
}

/** An HTML element. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs ?? null);
  append(el, children);
  return el;
}

/** An SVG element. */
export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs?: Attrs,
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(el, attrs ?? null);
  append(el, children);
  return el;
}

/** Replaces the children of `el`. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export const pct = (r: number | null | undefined, digits = 2): string =>
  r === null || r === undefined ? '–' : `${(r * 100).toFixed(digits)} %`;

export const num = (n: number | null | undefined): string =>
  n === null || n === undefined ? '–' : n.toLocaleString('en-US');

export const when = (iso: string | null | undefined): string =>
  iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–';

/** "in 4m 12s" / "3s overdue". */
export function countdown(dueIso: string, now = Date.now()): string {
  const ms = Date.parse(dueIso) - now;
  const abs = Math.abs(ms);
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const sec = Math.floor((abs % 60_000) / 1000);
  const text = `${h > 0 ? `${h}h ` : ''}${h > 0 || m > 0 ? `${m}m ` : ''}${sec}s`;
  return ms >= 0 ? `in ${text}` : `${text} overdue`;
}

export const link = (href: string, text: string) => h('a', { href }, text);

export const json = (v: unknown) => h('pre', null, JSON.stringify(v, null, 2));

export function badge(text: string, kind = ''): HTMLElement {
  return h('span', { class: `badge ${kind}` }, text);
}

/** The badge kind of a connection or workspace state. */
export function stateKind(state: string): string {
  if (/rolled-back|error|critical|breach/.test(state)) return 'bad';
  if (/degraded|reconnecting|warning|cooldown|held|migrating|connecting|resolving/.test(state))
    return 'warn';
  return 'ok';
}

/** A definition list from pairs. */
export function dl(pairs: [string, Child][]): HTMLElement {
  return h(
    'dl',
    null,
    pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
  );
}

/**
 * A table from column headers and rows of cells, in a box that scrolls sideways when the table
 * is wider than the page (a narrow window, many columns): the page itself never does.
 */
export function table(headers: string[], rows: Child[][], empty = 'none'): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          headers.map((x) => h('th', null, x)),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((r) =>
          h(
            'tr',
            null,
            r.map((c) => h('td', null, c)),
          ),
        ),
      ),
    ),
  );
}

/** A collapsed block of JSON; `key` lets a redraw keep it open (see keepOpen). */
export function more(key: string, label: string, value: unknown): HTMLElement {
  return h('details', { 'data-key': key }, h('summary', null, label), json(value));
}

const FOCUSABLE = 'a[href], button, input, select, textarea, summary, [tabindex]';

/** What names a focusable element across redraws: its kind, target, action, block and text. */
function focusName(e: Element): string {
  const details = e.closest<HTMLElement>('details[data-key]')?.dataset.key ?? '';
  const action = e instanceof HTMLElement ? (e.dataset.action ?? '') : '';
  return [e.tagName, e.getAttribute('href') ?? '', action, details, e.textContent?.trim()].join(
    '\u0000',
  );
}

/**
 * Redraws `el` with `draw`, reopening the blocks (by `data-key`) the operator had opened and
 * giving the focus back to the element that had it (the same link, button or block, drawn
 * anew): a page that redraws every few seconds must not send a keyboard user back to the top.
 */
export function keepOpen(el: Element, draw: () => void): void {
  const open = new Set(
    [...el.querySelectorAll<HTMLDetailsElement>('details[data-key][open]')].map(
      (d) => d.dataset.key,
    ),
  );
  const active = document.activeElement;
  let focused: { name: string; nth: number } | null = null;
  if (active && active !== el && el.contains(active)) {
    const name = focusName(active);
    const same = [...el.querySelectorAll(FOCUSABLE)].filter((e) => focusName(e) === name);
    focused = { name, nth: same.indexOf(active) };
  }
  draw();
  for (const d of el.querySelectorAll<HTMLDetailsElement>('details[data-key]')) {
    if (open.has(d.dataset.key)) d.open = true;
  }
  if (focused && !el.contains(document.activeElement)) {
    const same = [...el.querySelectorAll<HTMLElement>(FOCUSABLE)].filter(
      (e) => focusName(e) === focused.name,
    );
    const target = same[focused.nth] ?? same[0];
    target?.focus();
    // A button disabled now (Next on the last page, Previous on the first) cannot hold the
    // focus: the enabled button beside it takes it, so the keyboard keeps its place.
    if (target && document.activeElement !== target) {
      target.parentElement?.querySelector<HTMLElement>('button:not([disabled])')?.focus();
    }
  }
}
