/**
 * Splits a graph at one input: the part that does not depend on it (the head, run once) and
 * the part that does (the tail, run for every value of that input). Generation uses it to
 * compute a VQA model's image and question towers once per item instead of once per decoded
 * token (`runtime/generate.ts : Generator`), with `varying` = the answer input.
 *
 * Each node of `g` falls in one of three sets:
 *  - tail: depends (transitively) on the input `varying`;
 *  - head: a non-leaf that depends on some other input but not on `varying`;
 *  - free: depends on no input at all (leaves: params, inputs, consts; and nodes computed
 *    from params and consts only, e.g. a transposed weight). Free nodes hold no per-item
 *    data, so each side recomputes the ones it needs instead of passing them across.
 * The boundary is every head node that a tail node reads (or that is an output of `g`):
 * those are the head's outputs, and each becomes a new input of the tail with the same
 * (symbolic) shape and dtype. Params and inputs that the tail reads directly stay params and
 * inputs of the tail. Outputs (and gradients, if any) of `g` are outputs of the tail.
 *
 * Running the head, then the tail with each boundary input fed the value of its head output,
 * computes exactly what `g` computes (the same ops in the same order on the same values).
 */
import { type Graph, GraphBuilder, type NodeId } from './graph.ts';

export interface SplitBoundary {
  /** Name of the head output, and of the tail input fed by it (`__split<node id in g>`). */
  readonly name: string;
  /** The node of `g` it carries. */
  readonly node: NodeId;
  /** Its node in `head` (`head.outputs[name]`). */
  readonly headOutput: NodeId;
  /** Its input node in `tail` (`tail.inputs` holds it under `name`). */
  readonly tailInput: NodeId;
}

export interface Split {
  /** Computes the boundary: its outputs are exactly the boundary, by name. */
  readonly head: Graph;
  /** Computes the outputs of `g` from the boundary, `varying` and whatever else it reads directly. */
  readonly tail: Graph;
  readonly boundary: readonly SplitBoundary[];
  /** Number of head nodes (non-leaf, input-dependent, independent of `varying`) in `g`. */
  readonly headNodes: number;
}

/** The boundary input/output name of node `id` of the original graph. */
export const splitName = (id: NodeId): string => `__split${id}`;

/** Copies the nodes `keep` (a closed-under-sources set of `g`, or with `subst` cutting it) into a new builder. */
function copy(
  g: Graph,
  keep: (id: NodeId) => boolean,
  subst: ReadonlyMap<NodeId, NodeId> = new Map(),
  b = new GraphBuilder(),
): { b: GraphBuilder; map: Map<NodeId, NodeId> } {
  const map = new Map<NodeId, NodeId>(subst);
  for (const n of g.nodes) {
    if (map.has(n.id) || !keep(n.id)) continue;
    map.set(
      n.id,
      b.op(
        n.op,
        n.src.map((s) => {
          const m = map.get(s);
          if (m === undefined) throw new Error(`split: node %${n.id} reads %${s}, which is on neither side`);
          return m;
        }),
        n.attrs,
        n.origin,
      ),
    );
  }
  for (const p of g.params) {
    const m = map.get(p.node);
    if (m !== undefined) b.params.push({ ...p, node: m });
  }
  for (const i of g.inputs) {
    const m = map.get(i.node);
    if (m !== undefined) b.inputs.push({ ...i, node: m });
  }
  return { b, map };
}

/** Nodes of `g` needed to compute `roots`, stopping at `stop` (which is kept but not walked through). */
function needed(g: Graph, roots: readonly NodeId[], stop: (id: NodeId) => boolean = () => false): Set<NodeId> {
  const seen = new Set<NodeId>();
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    if (!stop(id)) stack.push(...g.nodes[id]!.src);
  }
  return seen;
}

export function splitAtInput(g: Graph, varying: string): Split {
  const v = g.inputs.find((i) => i.name === varying);
  if (!v) throw new Error(`split: the graph has no input \`${varying}\` (inputs: ${g.inputs.map((i) => i.name).join(', ') || 'none'})`);
  const dependsOnVarying = new Array<boolean>(g.nodes.length).fill(false);
  const dependsOnInput = new Array<boolean>(g.nodes.length).fill(false);
  // Nodes are in topological order.
  for (const n of g.nodes) {
    if (n.op === 'input') {
      dependsOnInput[n.id] = true;
      dependsOnVarying[n.id] = n.id === v.node;
    } else {
      dependsOnInput[n.id] = n.src.some((s) => dependsOnInput[s]);
      dependsOnVarying[n.id] = n.src.some((s) => dependsOnVarying[s]);
    }
  }
  const isHead = (id: NodeId) => {
    const n = g.nodes[id]!;
    return n.src.length > 0 && dependsOnInput[id]! && !dependsOnVarying[id]!;
  };
  const headNodes = g.nodes.filter((n) => isHead(n.id)).length;

  // What the tail needs, cut at head nodes: those are the boundary.
  const roots = [...Object.values(g.outputs), ...Object.values(g.grads)];
  const tailSet = needed(g, roots, isHead);
  const boundaryNodes = [...tailSet].filter(isHead).sort((a, b) => a - b);

  // Head: everything the boundary needs.
  const headSet = needed(g, boundaryNodes);
  const head = copy(g, (id) => headSet.has(id));
  for (const id of boundaryNodes) head.b.outputs[splitName(id)] = head.map.get(id)!;

  // Tail: boundary nodes become inputs, then the rest of what the outputs need.
  const tb = new GraphBuilder();
  const subst = new Map<NodeId, NodeId>();
  for (const id of boundaryNodes) {
    const n = g.nodes[id]!;
    const name = splitName(id);
    const inp = tb.op('input', [], { name, shape: [...n.shape], dtype: n.dtype }, n.origin);
    tb.inputs.push({ name, node: inp, shape: n.shape, dtype: n.dtype });
    subst.set(id, inp);
  }
  const tail = copy(g, (id) => tailSet.has(id) && !isHead(id), subst, tb);
  for (const [k, id] of Object.entries(g.outputs)) tail.b.outputs[k] = tail.map.get(id)!;
  for (const [k, id] of Object.entries(g.grads)) tail.b.grads[k] = tail.map.get(id)!;

  const headGraph = head.b.build();
  const tailGraph = tail.b.build();
  return {
    head: headGraph,
    tail: tailGraph,
    boundary: boundaryNodes.map((id) => ({ name: splitName(id), node: id, headOutput: head.map.get(id)!, tailInput: subst.get(id)! })),
    headNodes,
  };
}
