/**
 * Binds symbolic dimensions (batch size, sequence length) to run-time sizes, giving a
 * graph whose every shape is concrete: what codegen, planning and execution need.
 */
import type { OpAttrs, OpKind } from '../ops/kinds.ts';
import { bindDim, bindShape, type Shape } from '../../core/dim.ts';
import { type Graph, GraphBuilder, type NodeId } from './graph.ts';

export type Bindings = Readonly<Record<string, number>>;

function bindAttrs<K extends OpKind>(op: K, attrs: OpAttrs[K], b: Bindings): OpAttrs[K] {
  if (op === 'const') {
    const c = attrs as OpAttrs['const'];
    if (c.denom !== undefined) return { value: c.value / bindDim(c.denom, b) } as OpAttrs[K];
  }
  const withShape = attrs as { shape?: Shape };
  if (withShape.shape !== undefined) return { ...attrs, shape: bindShape(withShape.shape, b) };
  return attrs;
}

export function specialize(g: Graph, bindings: Bindings): Graph {
  const b = new GraphBuilder();
  const map = new Map<NodeId, NodeId>();
  for (const n of g.nodes) {
    const id = b.op(
      n.op,
      n.src.map((s) => map.get(s)!),
      bindAttrs(n.op, n.attrs, bindings),
      n.origin,
    );
    map.set(n.id, id);
  }
  const m = (id: NodeId) => map.get(id)!;
  b.params.push(...g.params.map((p) => ({ ...p, node: m(p.node), shape: bindShape(p.shape, bindings) })));
  b.inputs.push(...g.inputs.map((i) => ({ ...i, node: m(i.node), shape: bindShape(i.shape, bindings) })));
  for (const [k, v] of Object.entries(g.outputs)) b.outputs[k] = m(v);
  for (const [k, v] of Object.entries(g.grads)) b.grads[k] = m(v);
  return b.build();
}
