/**
 * A chart's refusal of another actor's creation in the chain that would create it (VETO in
 * types.ts): which of a settled chain's sources are vetoed, each answered with a VetoedError.
 */
import { VetoedError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ActorRef } from '../store/store.ts';
import type { Routed } from './work.ts';

/** A veto a node's plan emitted (not delivered: taken by the chain). */
export interface Veto {
  /** The vetoed actor's key. */
  key: string;
  by: ActorRef;
  event: Routed['event'];
}

/** What a chain's source is to a veto: its commands, and how to refuse them. */
export interface VetoSource {
  work: readonly { work: { kind: string } }[];
  reject(error: unknown): void;
}

/** What a chain's node is to a veto. */
export interface VetoNode<S extends VetoSource> {
  key: string;
  ref: ActorRef;
  base: unknown;
  source?: S;
  vetoes?: Veto[];
}

/**
 * The sources whose creation another actor's chart vetoed in a settlement of `nodes`, each
 * rejected with a {@link VetoedError}. A veto of anything else (an actor that exists, or that the
 * chain does not create from a source) refuses nothing and is logged.
 */
export function vetoedSources<S extends VetoSource>(
  nodes: readonly VetoNode<S>[],
  logger: Logger,
): S[] {
  // Vetoes are rare (a registration at the critical ratio): a chain of heartbeats has none.
  if (!nodes.some((n) => n.vetoes)) return [];
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const out: S[] = [];
  for (const n of nodes) {
    for (const veto of n.vetoes ?? []) {
      const target = byKey.get(veto.key);
      const source = target?.source;
      if (!source || target.base !== null || !source.work.some((p) => p.work.kind === 'create')) {
        logger.warn('a veto of an actor this chain does not create was ignored', {
          by: veto.by.kind,
          actorId: veto.key,
        });
        continue;
      }
      if (out.includes(source)) continue;
      out.push(source);
      const { reason, details } = veto.event as {
        reason?: unknown;
        details?: Record<string, unknown>;
      };
      source.reject(
        new VetoedError(
          `${veto.by.kind} ${veto.by.id} refused to admit ${target.ref.kind} ${target.ref.id}`,
          {
            vetoedBy: veto.by.kind,
            reason: typeof reason === 'string' ? reason : 'vetoed',
            ...details,
          },
        ),
      );
    }
  }
  return out;
}
