/**
 * Reads a chart's structure (states, transitions, guards, delays, actions) from XState's state
 * nodes, for the generated visualizations, the inspection API and the coverage check of the
 * model-based tests. One description serves all three, so they cannot drift apart.
 */
import type { AnyStateMachine } from 'xstate';

export interface StateInfo {
  /** Dotted path below the root, e.g. `http.cooldown`. */
  path: string;
  type: string;
  initial: string | null;
  entry: string[];
  exit: string[];
}

export interface TransitionInfo {
  /** Stable identity, e.g. `connected --HEARTBEAT--> connected`. */
  id: string;
  source: string;
  /** `HEARTBEAT`, `after heartbeatTimeout`, or `always`. */
  event: string;
  /** The event type XState sees (`xstate.after.…` for delays, empty for `always`). */
  eventType: string;
  delay: string | null;
  guard: string | null;
  targets: string[];
  actions: string[];
  reenter: boolean;
}

export interface ChartDescription {
  id: string;
  initial: string | null;
  states: StateInfo[];
  transitions: TransitionInfo[];
  events: string[];
  guards: string[];
  delays: string[];
  actions: string[];
}

type Node = {
  id: string;
  key: string;
  type: string;
  states: Record<string, Node>;
  initial?: { target: { id: string }[] };
  transitions: Map<string, RawTransition[]>;
  always?: RawTransition[];
  entry: unknown[];
  exit: unknown[];
};
type RawTransition = {
  target?: { id: string }[];
  guard?: unknown;
  actions: unknown[];
  delay?: unknown;
  reenter?: boolean;
  eventType: string;
};

const nameOf = (x: unknown): string =>
  typeof x === 'string'
    ? x
    : typeof x === 'function'
      ? ((x as { type?: string }).type ?? (x.name || 'inline'))
      : ((x as { type?: string })?.type ?? 'inline');

/**
 * A guard's name. XState's higher-order guards are functions named `not`, `and` and `or` that
 * keep what they combine in `guards`: named by it, `not(autoMigrationEligible)`, not `not`.
 *
 * @example
 * guardName(not('autoMigrationEligible')); // 'not(autoMigrationEligible)'
 */
export function guardName(g: unknown): string {
  const combined = (g as { guards?: unknown } | null)?.guards;
  if (typeof g === 'function' && Array.isArray(combined) && ['not', 'and', 'or'].includes(g.name))
    return `${g.name}(${combined.map(guardName).join(', ')})`;
  return nameOf(g);
}

const delayName = (d: unknown): string =>
  typeof d === 'number' || typeof d === 'string' ? String(d) : nameOf(d);

/** Built-ins XState adds for `after` (raise/cancel) are implementation detail here. */
const visible = (actions: unknown[]) => actions.map(nameOf).filter((a) => !a.startsWith('xstate.'));

function pathOf(machineId: string, id: string): string {
  return id === machineId ? '(root)' : id.slice(machineId.length + 1);
}

/** Maps XState's transition objects to their TransitionInfo id (for coverage tracing). */
export function transitionIds(machine: AnyStateMachine): Map<object, string> {
  const ids = new Map<object, string>();
  describeChart(machine, ids);
  return ids;
}

export function describeChart(
  machine: AnyStateMachine,
  ids?: Map<object, string>,
): ChartDescription {
  const root = machine.root as unknown as Node;
  const states: StateInfo[] = [];
  const transitions: TransitionInfo[] = [];
  const walk = (node: Node) => {
    const path = pathOf(root.id, node.id);
    if (node !== root) {
      states.push({
        path,
        type: node.type,
        initial: node.initial?.target[0] ? pathOf(root.id, node.initial.target[0].id) : null,
        entry: visible(node.entry),
        exit: visible(node.exit),
      });
    }
    const all: RawTransition[] = [...node.transitions.values()].flat().concat(node.always ?? []);
    for (const t of all) {
      const isAlways = (node.always ?? []).includes(t);
      const delay = t.delay === undefined ? null : delayName(t.delay);
      const event = isAlways ? 'always' : delay !== null ? `after ${delay}` : t.eventType;
      const targets = (t.target ?? []).map((s) => pathOf(root.id, s.id));
      const guard = t.guard === undefined ? null : guardName(t.guard);
      const id = `${path} --${event}${guard ? ` [${guard}]` : ''}--> ${targets.join(',') || '(self)'}`;
      ids?.set(t, id);
      transitions.push({
        id,
        source: path,
        event,
        eventType: isAlways ? '' : t.eventType,
        delay,
        guard,
        targets,
        actions: visible(t.actions),
        reenter: t.reenter ?? false,
      });
    }
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(root);
  const uniq = (xs: (string | null)[]) => [...new Set(xs.filter((x): x is string => !!x))].sort();
  return {
    id: root.id,
    initial: root.initial?.target[0] ? pathOf(root.id, root.initial.target[0].id) : null,
    states,
    transitions,
    events: uniq(transitions.filter((t) => t.event !== 'always' && !t.delay).map((t) => t.event)),
    guards: uniq(transitions.map((t) => t.guard)),
    delays: uniq(transitions.map((t) => t.delay)),
    actions: uniq(
      transitions.flatMap((t) => t.actions).concat(states.flatMap((s) => [...s.entry, ...s.exit])),
    ),
  };
}

/** A machine config (JSON) that the Stately editor imports: states, transitions, names only. */
export function toStatelyConfig(machine: AnyStateMachine): Record<string, unknown> {
  const root = machine.root as unknown as Node;
  const target = (t: RawTransition) => (t.target ?? []).map((s) => `#${s.id}`);
  const transition = (t: RawTransition) => {
    const out: Record<string, unknown> = {};
    const tg = target(t);
    if (tg.length === 1) out.target = tg[0];
    else if (tg.length > 1) out.target = tg;
    if (t.guard !== undefined) out.guard = guardName(t.guard);
    const actions = visible(t.actions);
    if (actions.length) out.actions = actions;
    if (t.reenter) out.reenter = true;
    return out;
  };
  const config = (node: Node): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (node.type === 'final') out.type = 'final';
    if (node.initial?.target[0]) out.initial = node.initial.target[0].id.split('.').pop();
    const entry = visible(node.entry);
    const exit = visible(node.exit);
    if (entry.length) out.entry = entry;
    if (exit.length) out.exit = exit;
    const on: Record<string, unknown[]> = {};
    const after: Record<string, unknown[]> = {};
    for (const [, ts] of node.transitions) {
      for (const t of ts) {
        if (t.delay !== undefined) (after[delayName(t.delay)] ??= []).push(transition(t));
        else (on[t.eventType] ??= []).push(transition(t));
      }
    }
    if (Object.keys(on).length) out.on = on;
    if (Object.keys(after).length) out.after = after;
    if (node.always?.length) out.always = node.always.map(transition);
    const children = Object.entries(node.states);
    if (children.length) out.states = Object.fromEntries(children.map(([k, v]) => [k, config(v)]));
    return out;
  };
  return { id: root.id, ...config(root) };
}

/** Mermaid `stateDiagram-v2` source. */
export function toMermaid(d: ChartDescription): string {
  const id = (path: string) => path.replace(/\./g, '_');
  const lines = ['stateDiagram-v2'];
  const byParent = new Map<string, StateInfo[]>();
  for (const s of d.states) {
    const parent = s.path.includes('.') ? s.path.slice(0, s.path.lastIndexOf('.')) : '';
    byParent.set(parent, [...(byParent.get(parent) ?? []), s]);
  }
  const emit = (parent: string, indent: string) => {
    for (const s of byParent.get(parent) ?? []) {
      const children = byParent.get(s.path);
      if (children) {
        lines.push(`${indent}state ${id(s.path)} {`);
        if (s.initial) lines.push(`${indent}  [*] --> ${id(s.initial)}`);
        emit(s.path, `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}state "${s.path.split('.').pop()}" as ${id(s.path)}`);
        if (s.type === 'final') lines.push(`${indent}${id(s.path)} --> [*]`);
      }
    }
  };
  if (d.initial) lines.push(`  [*] --> ${id(d.initial)}`);
  emit('', '  ');
  for (const t of d.transitions) {
    const label = `${t.event}${t.guard ? ` [${t.guard}]` : ''}`.replace(/:/g, ' ');
    const from = t.source === '(root)' ? null : id(t.source);
    for (const target of t.targets.length ? t.targets : [t.source]) {
      if (from === null) {
        // A targetless root transition applies in every state without leaving it.
        lines.push(
          `  %% in any state: ${label}${t.actions.length ? ` / ${t.actions.join(', ')}` : ''}`,
        );
      } else {
        lines.push(`  ${from} --> ${id(target === '(root)' ? t.source : target)} : ${label}`);
      }
    }
  }
  return lines.join('\n') + '\n';
}

/** The Markdown index of every chart. */
export function toIndex(
  charts: { id: string; version: string; description: string; d: ChartDescription }[],
): string {
  const out = [
    '# Charts',
    '',
    'Generated by `npm run viz` from `machines/`; do not edit by hand.',
    '',
  ];
  for (const c of charts) {
    out.push(`## ${c.id} (v${c.version})`, '', c.description, '');
    out.push(`- Definition (imports into the Stately editor): [\`${c.id}.json\`](./${c.id}.json)`);
    out.push(`- Diagram: [\`${c.id}.mmd\`](./${c.id}.mmd)`, '');
    out.push(
      `**States:** ${c.d.states.map((s) => `\`${s.path}\`${s.type === 'final' ? ' (final)' : ''}`).join(', ')}`,
      '',
    );
    out.push(`**Events:** ${c.d.events.map((e) => `\`${e}\``).join(', ')}`, '');
    out.push(`**Guards:** ${c.d.guards.map((g) => `\`${g}\``).join(', ') || 'none'}`, '');
    out.push('**Delayed transitions:**', '');
    for (const t of c.d.transitions.filter((t) => t.delay)) {
      out.push(
        `- \`${t.source}\` after \`${t.delay}\`${t.guard ? ` [${t.guard}]` : ''} → \`${t.targets.join(', ')}\``,
      );
    }
    out.push('', `**Transitions (${c.d.transitions.length}):**`, '');
    for (const t of c.d.transitions) out.push(`- \`${t.id}\``);
    out.push('');
  }
  return out.join('\n');
}
