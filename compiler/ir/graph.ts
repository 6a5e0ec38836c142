/**
 * The tensor IR: an immutable, interned DAG of ops. Node ids are indices into `nodes`,
 * which is always in topological order. Building the same op on the same sources twice
 * returns the same node, so common subexpressions are shared for free.
 */
import { CompileError, error } from '../../core/diagnostic.ts';
import { internalSpan, type Span } from '../../core/span.ts';
import { type OpAttrs, type OpKind, type DType, opInfo, broadcastShapes, type TensorType } from '../ops/kinds.ts';
import { type Dim, type Shape, isConcrete, shapeToString } from '../../core/dim.ts';

export type NodeId = number;

/** The graph input holding the step's random seed (dropout), fed by the runtime, never by the user. */
export const SEED_INPUT = '__seed';

export interface Node<K extends OpKind = OpKind> {
  readonly id: NodeId;
  readonly op: K;
  readonly src: readonly NodeId[];
  readonly attrs: OpAttrs[K];
  readonly shape: Shape;
  readonly dtype: DType;
  /** Where in the `.mile` source this node came from. */
  readonly origin: Span;
}

export type InitSpec =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'ones' }
  | { readonly kind: 'normal'; readonly mean: number; readonly std: number }
  | { readonly kind: 'uniform'; readonly low: number; readonly high: number }
  /** PyTorch's kaiming_uniform_: bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a²)). */
  | { readonly kind: 'kaiming_uniform'; readonly a: number; readonly fanIn: number }
  /**
   * The L2 norm of each row (over all axes but the first) of the initial value of another
   * parameter, named by its full path: DoRA's magnitude vector starts as ‖W‖ row-wise.
   */
  | { readonly kind: 'row_norm'; readonly of: string };

export interface ParamInfo {
  /** Dotted path in the module tree, e.g. `blocks[0].attn.query.weight`. */
  readonly name: string;
  readonly node: NodeId;
  readonly shape: Shape;
  readonly init: InitSpec;
  readonly trainable: boolean;
  /** The PEFT method that added it, if any (e.g. `lora`). */
  readonly addedBy?: string;
  readonly origin: Span;
}

export interface InputInfo {
  readonly name: string;
  readonly node: NodeId;
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface Graph {
  readonly nodes: readonly Node[];
  readonly params: readonly ParamInfo[];
  readonly inputs: readonly InputInfo[];
  /** Named results: `loss`, and any `output` the model declares. */
  readonly outputs: Readonly<Record<string, NodeId>>;
  /** After autodiff: parameter name -> node holding d loss / d param. */
  readonly grads: Readonly<Record<string, NodeId>>;
}

function internKey(op: OpKind, src: readonly NodeId[], attrs: unknown): string {
  return `${op}|${src.join(',')}|${JSON.stringify(attrs)}`;
}

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly params: ParamInfo[] = [];
  readonly inputs: InputInfo[] = [];
  readonly outputs: Record<string, NodeId> = {};
  readonly grads: Record<string, NodeId> = {};
  private readonly interned = new Map<string, NodeId>();

  /** Starts from an existing graph (autodiff extends the forward graph). */
  static from(g: Graph): GraphBuilder {
    const b = new GraphBuilder();
    for (const n of g.nodes) {
      b.nodes.push(n);
      b.interned.set(internKey(n.op, n.src, n.attrs), n.id);
    }
    b.params.push(...g.params);
    b.inputs.push(...g.inputs);
    Object.assign(b.outputs, g.outputs);
    Object.assign(b.grads, g.grads);
    return b;
  }

  node(id: NodeId): Node {
    const n = this.nodes[id];
    if (!n) throw new Error(`no node %${id}`);
    return n;
  }

  /**
   * Adds (or finds) one op. A shape-rule failure is a user error located at `origin`,
   * raised as CompileError for the calling stage to turn into a diagnostic.
   */
  op<K extends OpKind>(op: K, src: readonly NodeId[], attrs: OpAttrs[K], origin: Span = internalSpan): NodeId {
    const info = opInfo[op];
    if (info.arity >= 0 && src.length !== info.arity) throw new Error(`${op} takes ${info.arity} sources, got ${src.length}`);
    const key = internKey(op, src, attrs);
    const found = this.interned.get(key);
    if (found !== undefined) return found;
    const types: TensorType[] = src.map((s) => this.node(s));
    const t = info.infer(types, attrs);
    if (typeof t === 'string') throw new CompileError(error('shape', t, origin));
    const id = this.nodes.length;
    this.nodes.push({ id, op, src, attrs, shape: t.shape, dtype: t.dtype, origin });
    this.interned.set(key, id);
    return id;
  }

  build(): Graph {
    return {
      nodes: [...this.nodes],
      params: [...this.params],
      inputs: [...this.inputs],
      outputs: { ...this.outputs },
      grads: { ...this.grads },
    };
  }

  // ------------------------------------------------------------ helpers shared by lowering and VJPs

  shape(id: NodeId): Shape {
    return this.node(id).shape;
  }

  scalar(value: number, origin?: Span): NodeId {
    return this.op('const', [], { value }, origin);
  }

  add(a: NodeId, b: NodeId, o?: Span): NodeId {
    return this.op('add', [a, b], {}, o);
  }
  sub(a: NodeId, b: NodeId, o?: Span): NodeId {
    return this.op('sub', [a, b], {}, o);
  }
  mul(a: NodeId, b: NodeId, o?: Span): NodeId {
    return this.op('mul', [a, b], {}, o);
  }
  div(a: NodeId, b: NodeId, o?: Span): NodeId {
    return this.op('div', [a, b], {}, o);
  }
  neg(a: NodeId, o?: Span): NodeId {
    return this.op('neg', [a], {}, o);
  }
  sum(a: NodeId, axes: readonly number[], keepdims: boolean, o?: Span): NodeId {
    if (axes.length === 0) return a;
    return this.op('sum', [a], { axes: [...axes].sort((x, y) => x - y), keepdims }, o);
  }
  reshape(a: NodeId, shape: Shape, o?: Span): NodeId {
    const s = this.shape(a);
    if (s.length === shape.length && s.every((d, i) => d === shape[i])) return a;
    return this.op('reshape', [a], { shape: [...shape] }, o);
  }
  permute(a: NodeId, perm: readonly number[], o?: Span): NodeId {
    if (perm.every((p, i) => p === i)) return a;
    return this.op('permute', [a], { perm: [...perm] }, o);
  }
  /** Swaps the last two axes. */
  transposeLast(a: NodeId, o?: Span): NodeId {
    const r = this.shape(a).length;
    if (r < 2)
      throw new CompileError(error('shape', `^T needs a tensor of rank ≥ 2, got ${shapeToString(this.shape(a))}`, o ?? internalSpan));
    const perm = [...Array(r).keys()];
    perm[r - 2] = r - 1;
    perm[r - 1] = r - 2;
    return this.permute(a, perm, o);
  }
  expand(a: NodeId, shape: Shape, o?: Span): NodeId {
    let s = this.shape(a);
    if (s.length < shape.length) {
      a = this.reshape(a, [...Array(shape.length - s.length).fill(1), ...s], o);
      s = this.shape(a);
    }
    if (s.every((d, i) => d === shape[i])) return a;
    return this.op('expand', [a], { shape: [...shape] }, o);
  }

  /**
   * Sums a broadcast gradient back down to `target` (the inverse of numpy broadcasting):
   * the VJP of every broadcasting op ends here.
   */
  unbroadcast(g: NodeId, target: Shape, o?: Span): NodeId {
    const gs = this.shape(g);
    const lead = gs.length - target.length;
    const axes: number[] = [];
    for (let i = 0; i < gs.length; i++) {
      if (i < lead) axes.push(i);
      else if (target[i - lead] === 1 && gs[i] !== 1) axes.push(i);
    }
    const summed = this.sum(g, axes, false, o);
    return this.reshape(summed, target, o);
  }

  broadcastShape(a: Shape, b: Shape, o?: Span): Shape {
    const s = broadcastShapes(a, b);
    if (typeof s === 'string') throw new CompileError(error('shape', s, o ?? internalSpan));
    return s;
  }
}

export function concreteShape(shape: Shape): number[] {
  return shape.map((d: Dim) => {
    if (!isConcrete(d)) throw new Error(`shape ${shapeToString(shape)} is not concrete`);
    return d;
  });
}
