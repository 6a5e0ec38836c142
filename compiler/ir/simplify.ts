/**
 * Graph simplification as data: a list of named rewrite rules applied while the graph is
 * rebuilt in topological order, followed by dead-node elimination. Each rule looks at one
 * freshly rebuilt node and returns a replacement node id, or undefined for no match.
 * Hits are counted per rule so a pass can report what it changed.
 */
import type { OpAttrs } from '../ops/kinds.ts';
import { type Graph, GraphBuilder, type Node, type NodeId } from './graph.ts';

export interface RewriteRule {
  readonly name: string;
  readonly apply: (b: GraphBuilder, n: Node) => NodeId | undefined;
}

const swapsLastTwo = (perm: readonly number[]): boolean => {
  const r = perm.length;
  return r >= 2 && perm[r - 1] === r - 2 && perm[r - 2] === r - 1 && perm.slice(0, -2).every((p, i) => p === i);
};

function constValue(b: GraphBuilder, id: NodeId): number | undefined {
  const n = b.node(id);
  if (n.op !== 'const') return undefined;
  const a = n.attrs as OpAttrs['const'];
  return a.denom === undefined ? a.value : undefined;
}

const sameShape = (b: GraphBuilder, x: NodeId, n: Node) => {
  const s = b.shape(x);
  return s.length === n.shape.length && s.every((d, i) => d === n.shape[i]);
};

export const simplifyRules: readonly RewriteRule[] = [
  {
    // x @ (wᵀ) reads w transposed instead of materialising the transpose.
    name: 'matmul-absorbs-transpose',
    apply(b, n) {
      if (n.op !== 'matmul') return undefined;
      const a = n.attrs as OpAttrs['matmul'];
      const [x, y] = n.src as [NodeId, NodeId];
      const nx = b.node(x);
      const ny = b.node(y);
      const tx = nx.op === 'permute' && swapsLastTwo((nx.attrs as OpAttrs['permute']).perm);
      const ty = ny.op === 'permute' && swapsLastTwo((ny.attrs as OpAttrs['permute']).perm);
      if (!tx && !ty) return undefined;
      return b.op(
        'matmul',
        [tx ? nx.src[0]! : x, ty ? ny.src[0]! : y],
        { transA: tx ? !a.transA : a.transA, transB: ty ? !a.transB : a.transB },
        n.origin,
      );
    },
  },
  {
    name: 'permute-of-permute',
    apply(b, n) {
      if (n.op !== 'permute') return undefined;
      const inner = b.node(n.src[0]!);
      if (inner.op !== 'permute') return undefined;
      const p = (n.attrs as OpAttrs['permute']).perm;
      const q = (inner.attrs as OpAttrs['permute']).perm;
      return b.permute(
        inner.src[0]!,
        p.map((i) => q[i]!),
        n.origin,
      );
    },
  },
  {
    name: 'reshape-of-reshape',
    apply(b, n) {
      if (n.op !== 'reshape') return undefined;
      const inner = b.node(n.src[0]!);
      if (inner.op !== 'reshape') return undefined;
      return b.reshape(inner.src[0]!, n.shape, n.origin);
    },
  },
  {
    name: 'multiply-by-one',
    apply(b, n) {
      if (n.op !== 'mul') return undefined;
      const [x, y] = n.src as [NodeId, NodeId];
      if (constValue(b, y) === 1 && sameShape(b, x, n)) return x;
      if (constValue(b, x) === 1 && sameShape(b, y, n)) return y;
      return undefined;
    },
  },
  {
    name: 'add-zero',
    apply(b, n) {
      if (n.op !== 'add') return undefined;
      const [x, y] = n.src as [NodeId, NodeId];
      if (constValue(b, y) === 0 && sameShape(b, x, n)) return x;
      if (constValue(b, x) === 0 && sameShape(b, y, n)) return y;
      return undefined;
    },
  },
];

export interface SimplifyStats {
  readonly hits: Readonly<Record<string, number>>;
  readonly removed: number;
}

/** Rewrites to a fixed point node by node, then drops nodes no output, gradient, param or input needs. */
export function simplify(g: Graph, rules: readonly RewriteRule[] = simplifyRules): { graph: Graph; stats: SimplifyStats } {
  const hits: Record<string, number> = {};
  const b = new GraphBuilder();
  const map = new Map<NodeId, NodeId>();
  for (const n of g.nodes) {
    let id = b.op(
      n.op,
      n.src.map((s) => map.get(s)!),
      n.attrs,
      n.origin,
    );
    for (let changed = true, guard = 0; changed && guard < 16; guard++) {
      changed = false;
      for (const r of rules) {
        const next = r.apply(b, b.node(id));
        if (next !== undefined && next !== id) {
          hits[r.name] = (hits[r.name] ?? 0) + 1;
          id = next;
          changed = true;
          break;
        }
      }
    }
    map.set(n.id, id);
  }
  const m = (id: NodeId) => map.get(id)!;
  const rebuilt: Graph = {
    nodes: b.nodes,
    params: g.params.map((p) => ({ ...p, node: m(p.node) })),
    inputs: g.inputs.map((i) => ({ ...i, node: m(i.node) })),
    outputs: Object.fromEntries(Object.entries(g.outputs).map(([k, v]) => [k, m(v)])),
    grads: Object.fromEntries(Object.entries(g.grads).map(([k, v]) => [k, m(v)])),
  };
  const graph = eliminateDead(rebuilt);
  return { graph, stats: { hits, removed: rebuilt.nodes.length - graph.nodes.length } };
}

/** Keeps the nodes that outputs and gradients depend on, plus every param and input; renumbers. */
export function eliminateDead(g: Graph): Graph {
  const live = new Set<NodeId>();
  const stack = [...Object.values(g.outputs), ...Object.values(g.grads), ...g.params.map((p) => p.node), ...g.inputs.map((i) => i.node)];
  while (stack.length) {
    const id = stack.pop()!;
    if (live.has(id)) continue;
    live.add(id);
    stack.push(...g.nodes[id]!.src);
  }
  // Renumbering an interned graph keeps it interned and every shape valid, so the live nodes
  // are copied with new ids instead of being rebuilt (no shape inference, no interning).
  const nodes: Node[] = [];
  const map = new Map<NodeId, NodeId>();
  for (const n of g.nodes) {
    if (!live.has(n.id)) continue;
    const id = nodes.length;
    map.set(n.id, id);
    nodes.push(id === n.id && n.src.every((s) => map.get(s) === s) ? n : { ...n, id, src: n.src.map((s) => map.get(s)!) });
  }
  const m = (id: NodeId) => map.get(id)!;
  return {
    nodes,
    params: g.params.map((p) => ({ ...p, node: m(p.node) })),
    inputs: g.inputs.map((i) => ({ ...i, node: m(i.node) })),
    outputs: Object.fromEntries(Object.entries(g.outputs).map(([k, v]) => [k, m(v)])),
    grads: Object.fromEntries(Object.entries(g.grads).map(([k, v]) => [k, m(v)])),
  };
}
