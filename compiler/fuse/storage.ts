/**
 * How the kernels of one graph see its nodes: which fold to literals, and which buffer
 * holds each of the others. The scheduler, the renderer and the planner of a graph share
 * one `NodeStorage`, built by whoever starts on the graph, so nothing is cached at module
 * level (`planGraph` builds one and hands it on).
 */
import type { Graph, Node, NodeId } from '../ir/graph.ts';
import { type OpAttrs, type OpKind, opTraits } from '../ops/kinds.ts';
import { type RefOp, referenceOps } from '../ops/reference.ts';
import type { SourceRef } from './kernel.ts';

/** A buffer bound from outside (param, input), never written by a kernel. */
export function isLeaf(n: Node): boolean {
  return opTraits[n.op].leaf;
}

export class NodeStorage {
  /** `literals[id]`: the value of node `id` when it is the same scalar everywhere. */
  private readonly literals: readonly (number | undefined)[];

  constructor(readonly g: Graph) {
    const literals: (number | undefined)[] = [];
    // Node ids are a topological order, so every source's value is known before its users'.
    for (const n of g.nodes) literals.push(foldLiteral(n, literals));
    this.literals = literals;
  }

  /**
   * The value of a node that is the same scalar everywhere: a `const`, a reshape or expand of
   * one (the seed of a gradient is usually `expand(const)`), or an elementwise op of such
   * values (constant folding, in float64 like the reference). These nodes are folded into the
   * WGSL of their consumers instead of occupying a buffer, a binding and a dispatch.
   */
  literalValue(id: NodeId): number | undefined {
    return this.literals[id];
  }

  /**
   * The node whose buffer holds `id`'s data. Buffers are always dense row-major, so an alias
   * (reshape, detach) never moves data: it shares its source's buffer and costs no kernel.
   */
  storageOf(id: NodeId): NodeId {
    let at = id;
    for (let n = this.g.nodes[at]!; opTraits[n.op].alias && this.literals[at] === undefined; n = this.g.nodes[at]!) at = n.src[0]!;
    return at;
  }

  /** How kernels read node `id`; scheduler, renderer and planner all go through this. */
  resolve(id: NodeId): SourceRef {
    const v = this.literals[id];
    if (v !== undefined) return { kind: 'literal', value: v };
    return { kind: 'buffer', node: this.storageOf(id) };
  }
}

function foldLiteral(n: Node, literals: readonly (number | undefined)[]): number | undefined {
  const folds = opTraits[n.op].folds;
  switch (folds) {
    case null:
      return undefined;
    case 'value':
      return (n.attrs as OpAttrs['const']).value;
    case 'source':
      return literals[n.src[0]!];
    case 'evaluate': {
      const vals = n.src.map((s) => literals[s]);
      if (vals.some((v) => v === undefined)) return undefined;
      const srcs = vals.map((v) => ({ shape: [], data: Float64Array.of(v!) }));
      return (referenceOps[n.op] as RefOp<OpKind>)(srcs, n.attrs, { shape: [] })[0];
    }
    default: {
      const never: never = folds;
      throw new Error(`unknown folding ${String(never)}`);
    }
  }
}
