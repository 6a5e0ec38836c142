/**
 * The float64 reference executor: evaluates a concrete graph node by node with
 * `referenceOps`. It is the oracle for gradient checks and for the WebGPU kernels.
 */
import { elementCount, isConcrete, shapeToString } from '../core/dim.ts';
import type { Graph, Node } from '../compiler/ir/graph.ts';
import type { OpKind } from '../compiler/ops/kinds.ts';
import { type RefTensor, referenceOps } from '../compiler/ops/reference.ts';

export type { RefTensor } from '../compiler/ops/reference.ts';
export { initParam, mulberry32 } from './init.ts';

export interface ReferenceFeeds {
  readonly params: ReadonlyMap<string, Float64Array>;
  readonly inputs: ReadonlyMap<string, Float64Array | Int32Array>;
}

function concrete(n: Node): number[] {
  return n.shape.map((d) => {
    if (!isConcrete(d))
      throw new Error(`node %${n.id} (${n.op}) has symbolic shape ${shapeToString(n.shape)}; specialize the graph before running it`);
    return d;
  });
}

function fed(n: Node, kind: 'param' | 'input', name: string, data: Float64Array | Int32Array | undefined, shape: number[]): Float64Array {
  if (data === undefined) throw new Error(`no value fed for ${kind} '${name}' (node %${n.id})`);
  const want = elementCount(shape);
  if (data.length !== want)
    throw new Error(`${kind} '${name}' expects ${want} values for shape ${shapeToString(shape)}, got ${data.length}`);
  return Float64Array.from(data);
}

function evaluate<K extends OpKind>(n: Node<K>, srcs: readonly RefTensor[], shape: number[]): Float64Array {
  return referenceOps[n.op](srcs, n.attrs, { shape });
}

/** Every node's value, indexed by node id. */
export function runReference(g: Graph, feeds: ReferenceFeeds): RefTensor[] {
  const values: RefTensor[] = [];
  for (const n of g.nodes) {
    const shape = concrete(n);
    let data: Float64Array;
    if (n.op === 'param') {
      const { name } = n.attrs as { name: string };
      data = fed(n, 'param', name, feeds.params.get(name), shape);
    } else if (n.op === 'input') {
      const { name } = n.attrs as { name: string };
      data = fed(n, 'input', name, feeds.inputs.get(name), shape);
    } else {
      data = evaluate(
        n,
        n.src.map((s) => values[s]!),
        shape,
      );
    }
    const want = elementCount(shape);
    if (data.length !== want)
      throw new Error(
        `reference ${n.op} for node %${n.id} produced ${data.length} values, its shape ${shapeToString(shape)} needs ${want}`,
      );
    values.push({ shape, data });
  }
  return values;
}
