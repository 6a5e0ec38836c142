/**
 * A compact, versioned JSON form of a symbolic `Graph`, for artifacts that carry a compiled
 * model without its `.mile` source (the typed TypeScript module of `milec compile -o`).
 *
 * Nodes keep their op, sources and attributes; shapes and dtypes are not stored but
 * re-inferred on load by `GraphBuilder.op`, which also re-checks every shape rule, so a
 * stale or hand-edited artifact fails loudly. Source spans are dropped (nodes load with
 * `internalSpan`). Non-finite numbers, which JSON cannot hold, are written as
 * `{"$num": "Infinity"}` and friends.
 *
 * Parameter paths are written in the user-facing spelling (`blocks.0.attn.query.weight`,
 * core/param-path.ts), in the parameter list, the `param` nodes, `grads` and `row_norm` inits
 * alike, since a graph loaded from the artifact names the parameters of everything built on
 * it (a typed module's weights and adapter files). Loading keeps the names as written, so an
 * artifact in the other spelling still loads.
 */
import { displayPath } from '../../core/param-path.ts';
import { internalSpan } from '../../core/span.ts';
import type { Shape } from '../../core/dim.ts';
import { type Graph, GraphBuilder, type NodeId, type ParamInfo } from '../ir/graph.ts';
import type { DType, OpAttrs, OpKind } from '../ops/kinds.ts';

export const GRAPH_FORMAT = 'milec-graph/1';

/** A parameter as stored: everything but its source span. */
export type SerializedParam = Omit<ParamInfo, 'origin'>;

export interface SerializedGraph {
  readonly format: typeof GRAPH_FORMAT;
  /** `[op, sources, attrs]` per node, in topological order. */
  readonly nodes: readonly (readonly [OpKind, readonly NodeId[], unknown])[];
  readonly params: readonly SerializedParam[];
  readonly inputs: readonly { readonly name: string; readonly node: NodeId; readonly shape: Shape; readonly dtype: DType }[];
  readonly outputs: Readonly<Record<string, NodeId>>;
  readonly grads: Readonly<Record<string, NodeId>>;
}

function replacer(_key: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? { $num: String(v) } : v;
}

function reviver(_key: string, v: unknown): unknown {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === '$num') return Number((v as { $num: string }).$num);
  }
  return v;
}

/** A parameter as stored, its path (and a `row_norm` init's source path) spelled for users. */
function serializeParam(p: ParamInfo): SerializedParam {
  const init = p.init.kind === 'row_norm' ? { ...p.init, of: displayPath(p.init.of) } : p.init;
  return {
    name: displayPath(p.name),
    node: p.node,
    shape: p.shape,
    init,
    trainable: p.trainable,
    ...(p.addedBy !== undefined ? { addedBy: p.addedBy } : {}),
  };
}

export function serializeGraph(g: Graph): SerializedGraph {
  const nodeAttrs = (n: Graph['nodes'][number]): unknown =>
    n.op === 'param' ? { ...(n.attrs as OpAttrs['param']), name: displayPath((n.attrs as OpAttrs['param']).name) } : n.attrs;
  return {
    format: GRAPH_FORMAT,
    nodes: g.nodes.map((n) => [n.op, n.src, nodeAttrs(n)] as const),
    params: g.params.map(serializeParam),
    inputs: g.inputs.map((i) => ({ name: i.name, node: i.node, shape: i.shape, dtype: i.dtype })),
    outputs: { ...g.outputs },
    grads: Object.fromEntries(Object.entries(g.grads).map(([k, v]) => [displayPath(k), v])),
  };
}

/** The JSON text of a graph. */
export function graphToJson(g: Graph): string {
  return JSON.stringify(serializeGraph(g), replacer);
}

/** Rebuilds a graph from `graphToJson` text (or its parsed object), re-inferring every shape. */
export function graphFromJson(json: string | SerializedGraph): Graph {
  const s: SerializedGraph = typeof json === 'string' ? (JSON.parse(json, reviver) as SerializedGraph) : json;
  if (s.format !== GRAPH_FORMAT)
    throw new Error(`unsupported graph format ${JSON.stringify(s.format)} (expected ${GRAPH_FORMAT}); regenerate the artifact`);
  const b = new GraphBuilder();
  const map: NodeId[] = [];
  s.nodes.forEach(([op, src, attrs], i) => {
    map[i] = b.op(
      op,
      src.map((x) => map[x]!),
      attrs as OpAttrs[typeof op],
      internalSpan,
    );
  });
  const m = (id: NodeId) => {
    const x = map[id];
    if (x === undefined) throw new Error(`serialized graph refers to node %${id}, which it does not define`);
    return x;
  };
  b.params.push(...s.params.map((p) => ({ ...p, node: m(p.node), origin: internalSpan })));
  b.inputs.push(...s.inputs.map((i) => ({ ...i, node: m(i.node) })));
  for (const [k, v] of Object.entries(s.outputs)) b.outputs[k] = m(v);
  for (const [k, v] of Object.entries(s.grads)) b.grads[k] = m(v);
  return b.build();
}
