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
      width: W,
      height: H + 14,
      viewBox: `0 0 ${W} ${H + 14}`,
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
        `${m.label} ${Math.round(m.at * 100)}%`,
      ),
    ]),
    s('text', { x: 6, y: H / 2 + 4, 'font-size': 12, fill: '#1d2330' }, pct(value, 1)),
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

const GAP = 22;
const PAD = 12;
const HEAD = 22;

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
  const children = entries.map(([k, d]) => measure(d, path ? `${path}.${k}` : k, k, 3));
  // Rows of at most `cols` children, laid out left to right.
  let y = HEAD;
  let width = 0;
  for (let i = 0; i < children.length; i += cols) {
    const row = children.slice(i, i + cols);
    let x = PAD;
    for (const c of row) {
      c.x = x;
      c.y = y;
      x += c.w + GAP;
    }
    width = Math.max(width, x - GAP + PAD);
    y += Math.max(...row.map((c) => c.h)) + GAP;
  }
  return {
    path,
    label,
    type,
    x: 0,
    y: 0,
    w: Math.max(width, label.length * 7.4 + 2 * PAD),
    h: y - GAP + PAD,
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
  const root = measure(definition, '', id, 4);
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
  const drawBox = (b: Box): SVGElement[] => {
    const on = active(b.path);
    const exact = b.path === current;
    const compound = b.children.length > 0;
    return [
      s(
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
            y: compound ? b.y + 15 : b.y + b.h / 2 + 4,
            'font-size': compound ? 12 : 12,
            'font-weight': on ? 700 : 400,
            'text-anchor': compound ? 'start' : 'middle',
            fill: '#1d2330',
          },
          b.label,
        ),
      ),
      ...b.children.flatMap(drawBox),
    ];
  };
  const arrows = [...pairs.values()].map(({ from, to, events }) => {
    const [x1, y1] = edge(from, to.x + to.w / 2, to.y + to.h / 2);
    const [x2, y2] = edge(to, from.x + from.w / 2, from.y + from.h / 2);
    const label = [...events].join(', ');
    return s(
      'g',
      { class: 'transition' },
      s('title', null, `${from.path} → ${to.path}: ${label}`),
      s('line', {
        x1,
        y1,
        x2,
        y2,
        stroke: '#7b8499',
        'stroke-width': 1.2,
        'marker-end': 'url(#arrow)',
      }),
      s(
        'text',
        {
          x: (x1 + x2) / 2,
          y: (y1 + y2) / 2 - 3,
          'font-size': 9,
          'text-anchor': 'middle',
          fill: '#667085',
        },
        label.length > 28 ? `${label.slice(0, 27)}…` : label,
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
      drawBox(root),
      arrows,
    ),
  );
}
