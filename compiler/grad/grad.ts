/**
 * Reverse-mode autodiff over the interned graph: walks the nodes from the loss back to the
 * leaves, applying each op's VJP rule and summing contributions. Gradients flow only into
 * nodes that depend on a trainable param, so frozen weights cost no backward work.
 */
import { type Span } from '../../core/span.ts';
import { shapeEq, shapeToString } from '../../core/dim.ts';
import { type Graph, GraphBuilder, type Node, type NodeId } from '../ir/graph.ts';
import { type OpKind, opTraits } from '../ops/kinds.ts';
import { type VjpRule, vjpRules } from './vjp.ts';

function where(n: Node): string {
  return n.origin.line > 0 ? ` at ${n.origin.file}:${n.origin.line}:${n.origin.col}` : '';
}

/** Forward pass of "requires grad": f32 nodes that depend on a trainable param, not through an op that stops gradients. */
function requiresGrad(g: Graph): boolean[] {
  const req = new Array<boolean>(g.nodes.length).fill(false);
  for (const p of g.params) if (p.trainable) req[p.node] = true;
  for (const n of g.nodes) {
    if (!opTraits[n.op].stopsGradient && n.src.some((s) => req[s])) req[n.id] = n.dtype === 'f32';
  }
  return req;
}

function applyRule<K extends OpKind>(b: GraphBuilder, n: Node<K>, g: NodeId, need: readonly boolean[]): readonly (NodeId | null)[] {
  const rule: VjpRule<K> | null = vjpRules[n.op];
  if (rule === null) {
    const from = n.src.filter((_, i) => need[i]).map((s) => `%${s}`);
    throw new Error(
      `cannot differentiate through '${n.op}' (node %${n.id}${where(n)}): it has no gradient rule, but its source ${from.join(', ')} depends on a trainable parameter`,
    );
  }
  return rule(b, n, g, need);
}

/**
 * Gives every node created since `from` the span `origin`: a backward node is attributed to
 * the forward node whose rule built it. The nodes are fresh and not yet shared by anything
 * built, so replacing them in the builder's list keeps the graph immutable from outside.
 */
function stamp(b: GraphBuilder, from: number, origin: Span): void {
  for (let id = from; id < b.nodes.length; id++) b.nodes[id] = { ...b.nodes[id]!, origin };
}

/** The forward graph plus its backward pass, with `grads[name]` for every trainable param. */
export function differentiate(g: Graph, lossName = 'loss'): Graph {
  const loss = g.outputs[lossName];
  if (loss === undefined) throw new Error(`cannot differentiate: the graph has no output named '${lossName}'`);
  const lossNode = g.nodes[loss]!;
  if (lossNode.shape.length !== 0)
    throw new Error(`cannot differentiate: '${lossName}' must be a scalar, got shape ${shapeToString(lossNode.shape)}${where(lossNode)}`);

  const req = requiresGrad(g);
  const b = GraphBuilder.from(g);
  const grad = new Map<NodeId, NodeId>();
  const accumulate = (id: NodeId, contribution: NodeId) => {
    const prev = grad.get(id);
    grad.set(id, prev === undefined ? contribution : b.add(prev, contribution));
  };

  if (req[loss]) {
    const before = b.nodes.length;
    grad.set(loss, b.scalar(1));
    stamp(b, before, lossNode.origin);
  }
  // Node ids are a topological order, so descending ids visit each node after all its users.
  for (let id = loss; id >= 0; id--) {
    const dy = grad.get(id);
    const n = g.nodes[id]!;
    // A leaf's gradient is a result (a param's), not something to propagate.
    if (dy === undefined || opTraits[n.op].leaf) continue;
    const need = n.src.map((s) => req[s]!);
    const before = b.nodes.length;
    const dxs = applyRule(b, n, dy, need);
    n.src.forEach((s, i) => {
      const dx = dxs[i];
      if (!need[i]) return;
      if (dx === null || dx === undefined)
        throw new Error(`internal: the ${n.op} rule gave no gradient for source ${i} (%${s}), which requires one`);
      if (!shapeEq(b.shape(dx), g.nodes[s]!.shape)) {
        throw new Error(
          `internal: the ${n.op} rule gave source ${i} a gradient of shape ${shapeToString(b.shape(dx))}, expected ${shapeToString(g.nodes[s]!.shape)}`,
        );
      }
      accumulate(s, dx);
    });
    stamp(b, before, n.origin);
  }

  for (const p of g.params) {
    if (!p.trainable) continue;
    const before = b.nodes.length;
    // A trainable param the loss does not use still gets a (zero) gradient, so the optimizer
    // can treat every trainable param alike.
    b.grads[p.name] = grad.get(p.node) ?? b.expand(b.scalar(0), p.shape);
    stamp(b, before, p.origin);
  }
  return b.build();
}
