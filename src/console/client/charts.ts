/** Inline SVG drawings: the capacity gauge, the success-rate chart and the statechart. */
import { h, pct, s } from './dom.ts';

/** A horizontal gauge of `value` (0-1) with marks at the alert ratios. */
export function gauge(value: number, marks: { at: number; label: string }[]): SVGSVGElement {
  const W = 320;
  const H = 34;
  const v = Math.max(0, Math.min(1, value));
  const color = marks.some((m) => m.label === 'critical' && v >= m.at)
    ? 'var(--bad)'
    : marks.some((m) => m.label === 'warning' && v >= m.at)
      ? 'var(--warn)'
      : 'var(--ok)';
  return s(
    'svg',
    {
      class: 'chart',
      width: W + 60,
      height: H + 14,
      viewBox: `0 0 ${W + 60} ${H + 14}`,
      role: 'img',
      'aria-label': `capacity ${pct(value, 1)}`,
    },
    s('rect', { x: 0, y: 4, width: W, height: H - 8, rx: 4, fill: '#e8ebf0' }),
    s('rect', { x: 0, y: 4, width: W * v, height: H - 8, rx: 4, fill: color }),
    marks.map((m) => [
      s('line', {
        x1: W * m.at,
        x2: W * m.at,
        y1: 0,
        y2: H,
        stroke: '#1d2330',
        'stroke-dasharray': '3 2',
      }),
      s(
        'text',
        { x: W * m.at, y: H + 11, 'font-size': 10, 'text-anchor': 'middle', fill: '#667085' },
        `${Math.round(m.at * 100)}%`,
      ),
    ]),
    // The figure beside the bar, where no fill colour runs under it.
    s(
      'text',
      { x: W + 6, y: H / 2 + 4, 'font-size': 12, 'font-weight': 600, fill: '#1d2330' },
      pct(value, 1),
    ),
  );
}

export interface Point {
  t: number;
  v: number;
}

/** Success rate over time against the threshold (a dashed line). */
export function rateChart(points: Point[], threshold: number): SVGSVGElement {
  const W = 520;
  const H = 150;
  const P = { l: 48, r: 10, t: 10, b: 22 };
  const lo = Math.max(0, Math.min(threshold, ...points.map((p) => p.v)) - 0.01);
  const hi = 1;
  const t0 = points[0]?.t ?? Date.now();
  const t1 = Math.max(points[points.length - 1]?.t ?? t0, t0 + 1);
  const x = (t: number) => P.l + ((t - t0) / (t1 - t0)) * (W - P.l - P.r);
  const y = (v: number) => P.t + (1 - (v - lo) / (hi - lo || 1)) * (H - P.t - P.b);
  const line = points
    .map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
    .join(' ');
  return s(
    'svg',
    {
      class: 'chart',
      width: W,
      height: H,
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      'aria-label': 'success rate over time',
      'data-points': points.length,
    },
    s('rect', {
      x: P.l,
      y: P.t,
      width: W - P.l - P.r,
      height: H - P.t - P.b,
      fill: '#fafbfc',
      stroke: '#d9dde5',
    }),
    [hi, threshold, lo].map((v) =>
      s(
        'text',
        { x: P.l - 4, y: y(v) + 4, 'font-size': 10, 'text-anchor': 'end', fill: '#667085' },
        pct(v, 1),
      ),
    ),
    s('line', {
      x1: P.l,
      x2: W - P.r,
      y1: y(threshold),
      y2: y(threshold),
      stroke: 'var(--bad)',
      'stroke-dasharray': '5 3',
    }),
    points.length > 1
      ? s('path', { d: line, fill: 'none', stroke: 'var(--acp)', 'stroke-width': 2 })
      : null,
    points.map((p) =>
      s('circle', {
        cx: x(p.t),
        cy: y(p.v),
        r: 2.5,
        fill: p.v < threshold ? 'var(--bad)' : 'var(--acp)',
      }),
    ),
    s(
      'text',
      { x: P.l, y: H - 6, 'font-size': 10, fill: '#667085' },
      new Date(t0).toISOString().slice(11, 19),
    ),
    s(
      'text',
      { x: W - P.r, y: H - 6, 'font-size': 10, 'text-anchor': 'end', fill: '#667085' },
      new Date(t1).toISOString().slice(11, 19),
    ),
  );
}

interface StateDef {
  type?: string;
  states?: Record<string, StateDef>;
}

interface Box {
  path: string;
  label: string;
  type: string;
  x: number;
  y: number;
  w: number;
  h: number;
  children: Box[];
}

/** Room between boxes for the arrows and their labels. */
const GAP_X = 96;
const GAP_Y = 72;
const PAD = 14;
const HEAD = 24;

function measure(def: StateDef, path: string, label: string, cols: number): Box {
  const entries = Object.entries(def.states ?? {});
  const type = def.type ?? (entries.length ? 'compound' : 'atomic');
  if (entries.length === 0) {
    return {
      path,
      label,
      type,
      x: 0,
      y: 0,
      w: Math.max(84, label.length * 7.4 + 22),
      h: 34,
      children: [],
    };
  }
  const children = entries.map(([k, d]) => measure(d, path ? `${path}.${k}` : k, k, 2));
  // Rows of at most `cols` children, laid out left to right.
  let y = HEAD + 8;
  let width = 0;
  for (let i = 0; i < children.length; i += cols) {
    const row = children.slice(i, i + cols);
    let x = PAD;
    for (const c of row) {
      c.x = x;
      c.y = y;
      x += c.w + GAP_X;
    }
    width = Math.max(width, x - GAP_X + PAD);
    y += Math.max(...row.map((c) => c.h)) + GAP_Y;
  }
  return {
    path,
    label,
    type,
    x: 0,
    y: 0,
    w: Math.max(width, label.length * 7.4 + 2 * PAD),
    h: y - GAP_Y + PAD,
    children,
  };
}

function place(b: Box, dx: number, dy: number, out: Map<string, Box>): void {
  b.x += dx;
  b.y += dy;
  out.set(b.path, b);
  for (const c of b.children) place(c, b.x, b.y, out);
}

/** The point where the segment from the centre of `b` towards (tx, ty) leaves the box. */
function edge(b: Box, tx: number, ty: number): [number, number] {
  const cx = b.x + b.w / 2;
  const cy = b.y + b.h / 2;
  const dx = tx - cx;
  const dy = ty - cy;
  if (dx === 0 && dy === 0) return [cx, cy];
  const k = Math.min(Math.abs(b.w / 2 / (dx || 1e-9)), Math.abs(b.h / 2 / (dy || 1e-9)));
  return [cx + dx * k, cy + dy * k];
}

export interface ChartTransition {
  source: string;
  targets: string[];
  event: string;
}

/**
 * The chart drawn from its definition: states as boxes (compound states contain their
 * children), transitions as arrows, the current state and its ancestors highlighted.
 */
export function statechart(
  id: string,
  definition: StateDef,
  transitions: ChartTransition[],
  current: string,
): HTMLElement {
  const root = measure(definition, '', id, 3);
  const boxes = new Map<string, Box>();
  place(root, 8, 8, boxes);
  const active = (p: string) => p !== '' && (current === p || current.startsWith(`${p}.`));
  const pairs = new Map<string, { from: Box; to: Box; events: Set<string> }>();
  for (const t of transitions) {
    for (const target of t.targets) {
      const from = boxes.get(t.source === '(root)' ? '' : t.source);
      const to = boxes.get(target);
      if (!from || !to || from === to || from.path === '') continue;
      const key = `${from.path}>${to.path}`;
      const pair = pairs.get(key) ?? { from, to, events: new Set<string>() };
      pair.events.add(t.event);
      pairs.set(key, pair);
    }
  }
  const drawBox = (b: Box): SVGElement => {
    const on = active(b.path);
    const exact = b.path === current;
    const compound = b.children.length > 0;
    return s(
      'g',
      { 'data-state': b.path || '(root)', 'data-active': on ? 'true' : 'false' },
      s('title', null, b.path || id),
      s('rect', {
        x: b.x,
        y: b.y,
        width: b.w,
        height: b.h,
        rx: compound ? 8 : 6,
        fill: exact ? '#dce8fd' : compound ? (b.path === '' ? '#fff' : '#f7f8fb') : '#fff',
        stroke: on ? 'var(--acp)' : '#9aa3b5',
        'stroke-width': exact ? 3 : on ? 2 : 1,
        'stroke-dasharray': b.type === 'final' ? '4 2' : undefined,
      }),
      s(
        'text',
        {
          x: compound ? b.x + 8 : b.x + b.w / 2,
          y: compound ? b.y + 16 : b.y + b.h / 2 + 4,
          'font-size': 12,
          'font-weight': on ? 700 : 400,
          'text-anchor': compound ? 'start' : 'middle',
          fill: '#1d2330',
        },
        b.label,
      ),
    );
  };
  const all = [...boxes.values()];
  // Containers first, then the arrows, then the atomic states on top (lines pass under them).
  const containers = all.filter((b) => b.children.length > 0).map(drawBox);
  const leaves = all.filter((b) => b.children.length === 0).map(drawBox);
  const arrows = [...pairs.values()].map(({ from, to, events }) => {
    const [x1, y1] = edge(from, to.x + to.w / 2, to.y + to.h / 2);
    const [x2, y2] = edge(to, from.x + from.w / 2, from.y + from.h / 2);
    // A curve bent to the right of its direction: A -> B and B -> A do not overlap.
    const len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const cx = (x1 + x2) / 2 + ((y2 - y1) / len) * 16;
    const cy = (y1 + y2) / 2 - ((x2 - x1) / len) * 16;
    const lx = (x1 + 2 * cx + x2) / 4;
    const ly = (y1 + 2 * cy + y2) / 4;
    const label = [...events].join(', ');
    return s(
      'g',
      { class: 'transition' },
      s('title', null, `${from.path} → ${to.path}: ${label}`),
      s('path', {
        d: `M${x1},${y1} Q${cx},${cy} ${x2},${y2}`,
        fill: 'none',
        stroke: '#7b8499',
        'stroke-width': 1.2,
        'marker-end': 'url(#arrow)',
      }),
      s(
        'text',
        {
          x: lx,
          y: ly + 3,
          'font-size': 9,
          'text-anchor': 'middle',
          fill: '#4a5264',
          stroke: '#fff',
          'stroke-width': 3,
          'paint-order': 'stroke',
        },
        label.length > 24 ? `${label.slice(0, 23)}…` : label,
      ),
    );
  });
  const W = root.w + 16;
  const H = root.h + 16;
  return h(
    'div',
    { class: 'statechart' },
    s(
      'svg',
      {
        width: W,
        height: H,
        viewBox: `0 0 ${W} ${H}`,
        role: 'img',
        'aria-label': `statechart ${id}, current state ${current}`,
      },
      s(
        'defs',
        null,
        s(
          'marker',
          {
            id: 'arrow',
            viewBox: '0 0 10 10',
            refX: 10,
            refY: 5,
            markerWidth: 7,
            markerHeight: 7,
            orient: 'auto-start-reverse',
          },
          s('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#7b8499' }),
        ),
      ),
      containers,
      arrows,
      leaves,
    ),
  );
}
