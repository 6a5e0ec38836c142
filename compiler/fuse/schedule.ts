/**
 * Splits a concrete graph into GPU kernels: decides which nodes are *realized* (get a
 * buffer written by a kernel), which share another node's buffer, and which vanish into
 * their consumers' WGSL as literals.
 *
 * Fusion (producer inlining): a realized node's kernel absorbs every source that is an
 * elementwise op (unary, binary, expand, dropout mask), used once, and not a root —
 * recursively, while the kernel's bindings fit in `MAX_STORAGE_BUFFERS` (WebGPU guarantees
 * only 8 storage buffers per stage). The renderer turns each absorbed node into a WGSL
 * function of the element index, read through the consumer's ordinary source accessor, so
 * any consumer — a matmul's tile loads, a row op, a reduction — gets its elementwise
 * prologue for free and the intermediates need no buffer.
 *
 * A single-use reshape (or detach) is inlined as an index identity, so an elementwise
 * producer behind it fuses as well; otherwise reshapes stay aliases of their source's buffer.
 *
 * A matmul loads each operand element several times (once per tile of the other operand),
 * and a fused producer is recomputed at every load: it absorbs a producer only while that
 * count is at most `MAX_FUSED_RELOADS` (index identities are free and always fuse). On the
 * `cpu` target a [272, 64] @ [64, 256] product with a fused layer-norm affine took 3× as
 * long as the product plus a separate elementwise kernel.
 *
 * Epilogue fusion: a matmul read only by one binary elementwise op of its own shape (the
 * bias add of every Linear, a residual add, a gradient accumulation) is computed inside that
 * op's kernel, the op applied to each result at the store. One dispatch and one buffer
 * round trip fewer per Linear.
 *
 * Not yet: recomputing a cheap producer that has several consumers.
 */
import type { Graph, Node, NodeId } from '../ir/graph.ts';
import { concreteShape } from '../ir/graph.ts';
import { type OpKind, isBinary, isUnary } from '../ops/kinds.ts';
import { type RefOp, referenceOps } from '../ops/reference.ts';
import type { KernelTarget } from '../wgsl/common.ts';
import { operandLoads } from '../wgsl/matmul.ts';

/** WebGPU's guaranteed `maxStorageBuffersPerShaderStage`: what every kernel must fit in. */
export const MAX_STORAGE_BUFFERS = 8;

/** A producer fused into a kernel that reads each of its elements more often than this is realized instead. */
export const MAX_FUSED_RELOADS = 4;

export interface Kernel {
  id: number;
  /** The nodes computed here, in topological order (one today; a fused chain later). */
  nodes: NodeId[];
  /** The realized node this kernel writes. */
  output: NodeId;
  /**
   * Epilogue fusion: the node whose renderer runs (a matmul), when it is not `output`.
   * `output` is then an elementwise op of `core` (a bias or residual add, a scale) applied
   * to each result as it is stored, so `core` never gets a buffer of its own.
   */
  core?: NodeId;
  /** The nodes whose buffers it reads (storage nodes: aliases resolved, literals dropped), each once. */
  inputs: NodeId[];
  /**
   * For a `concat` with more sources than fit in one kernel's bindings: this kernel
   * writes the output region of sources `[first, first + count)`. The kernels of one concat
   * are consecutive and together write the whole output.
   */
  concatPart?: { first: number; count: number };
}

/** How a kernel reads one of its node's sources. */
export type SourceRef = { kind: 'buffer'; node: NodeId } | { kind: 'literal'; value: number };

/**
 * The value of a node that is the same scalar everywhere: a `const`, a reshape or expand of
 * one (the seed of a gradient is usually `expand(const)`), or an elementwise op of such
 * values (constant folding, in float64 like the reference). These nodes are folded into the
 * WGSL of their consumers instead of occupying a buffer, a binding and a dispatch.
 */
export function literalValue(g: Graph, id: NodeId): number | undefined {
  let memo = literalMemo.get(g);
  if (!memo) literalMemo.set(g, (memo = new Map()));
  if (memo.has(id)) return memo.get(id);
  const v = computeLiteral(g, id);
  memo.set(id, v);
  return v;
}

const literalMemo = new WeakMap<Graph, Map<NodeId, number | undefined>>();

function computeLiteral(g: Graph, id: NodeId): number | undefined {
  const n = g.nodes[id]!;
  if (n.op === 'const') return (n as Node<'const'>).attrs.value;
  if (n.op === 'reshape' || n.op === 'expand' || n.op === 'detach') return literalValue(g, n.src[0]!);
  if (!isUnary(n.op) && !isBinary(n.op)) return undefined;
  const vals = n.src.map((s) => literalValue(g, s));
  if (vals.some((v) => v === undefined)) return undefined;
  const srcs = vals.map((v) => ({ shape: [], data: Float64Array.of(v!) }));
  return (referenceOps[n.op] as RefOp<OpKind>)(srcs, n.attrs, { shape: [] })[0];
}

/**
 * The node whose buffer holds `id`'s data. Buffers are always dense row-major, so a reshape
 * never moves data: it shares its source's buffer (an alias) and costs no kernel.
 */
export function storageOf(g: Graph, id: NodeId): NodeId {
  const n = g.nodes[id]!;
  if ((n.op === 'reshape' || n.op === 'detach') && literalValue(g, id) === undefined) return storageOf(g, n.src[0]!);
  return id;
}

/** How kernels read node `id`; scheduler, renderer and planner all go through this. */
export function resolveSource(g: Graph, id: NodeId): SourceRef {
  const v = literalValue(g, id);
  if (v !== undefined) return { kind: 'literal', value: v };
  return { kind: 'buffer', node: storageOf(g, id) };
}

export function isLeaf(n: Node): boolean {
  return n.op === 'param' || n.op === 'input';
}

/** The nodes that `roots` depend on, in topological (id) order. */
export function reachable(g: Graph, roots: readonly NodeId[]): NodeId[] {
  const seen = new Uint8Array(g.nodes.length);
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen[id]) continue;
    seen[id] = 1;
    for (const s of g.nodes[id]!.src) if (!seen[s]) stack.push(s);
  }
  const out: NodeId[] = [];
  seen.forEach((v, i) => v && out.push(i));
  return out;
}

/**
 * Whether `id` is written by a kernel of its own. A root is always realized, except when
 * it can share a computed node's buffer: a root that folds to a literal or aliases a
 * param/input gets a kernel so that it has a buffer that is its own (a parameter's
 * gradient must never be the parameter's own buffer: the optimizer writes one and reads
 * the other in one dispatch).
 */
export function needsKernel(g: Graph, id: NodeId, isRoot: boolean): boolean {
  const n = g.nodes[id]!;
  if (isLeaf(n)) return false;
  if (literalValue(g, id) !== undefined) return isRoot;
  if (n.op === 'reshape' || n.op === 'detach') return isRoot && isLeaf(g.nodes[storageOf(g, id)]!);
  return true;
}

function kernelInputs(g: Graph, srcs: readonly NodeId[]): NodeId[] {
  const out: NodeId[] = [];
  for (const s of srcs) {
    const r = resolveSource(g, s);
    if (r.kind === 'buffer' && !out.includes(r.node)) out.push(r.node);
  }
  return out;
}

/**
 * Ops that can be computed where they are read: pure functions of the element index whose
 * cost is a few instructions, so recomputing them inside the consumer beats a round trip
 * through memory and a dispatch.
 */
function inlinable(n: Node): boolean {
  // A reshape (or detach) read by one consumer is an index identity: inlining it lets the
  // elementwise producer behind it fuse too, instead of being realized for the alias.
  return n.dtype === 'f32' && (isUnary(n.op) || isBinary(n.op) || n.op === 'expand' || n.op === 'dropout_mask' || n.op === 'reshape' || n.op === 'detach');
}

export interface ScheduleOptions {
  /** Inline single-use elementwise producers into their consumer's kernel (default on). */
  readonly fuse?: boolean;
  /** The kernels' target: it decides how often a matmul reloads its operands. Default `gpu`. */
  readonly target?: KernelTarget;
  /** Compute a single-use matmul inside its elementwise consumer's kernel (default: as `fuse`). */
  readonly epilogue?: boolean;
}

/** Times the kernel of `n` reads each element of its source `i`. */
function loadsPerElement(g: Graph, n: Node, i: number, target: KernelTarget): number {
  if (n.op !== 'matmul') return 1;
  const shape = concreteShape(n.shape);
  const [M, N] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
  // A shared B is reused across the batch too (the renderer folds the batch into M).
  const rows = i === 1 && concreteShape(g.nodes[n.src[1]!]!.shape).length === 2 ? shape.slice(0, -1).reduce((a, d) => a * d, 1) : M;
  return operandLoads(target, i === 0 ? 'A' : 'B', rows, N);
}

const isIndexIdentity = (n: Node) => n.op === 'reshape' || n.op === 'detach';

/**
 * Producer fusion: a realized node's kernel absorbs each source that is inlinable, used by
 * that node alone, and not itself a root — recursively — while the kernel's bindings fit.
 * Each absorbed node becomes a WGSL function of the element index in the consumer's shader.
 */
function fuseGroup(g: Graph, id: NodeId, canInline: (s: NodeId) => boolean, target: KernelTarget): { nodes: NodeId[]; inputs: NodeId[] } {
  const group = new Set<NodeId>([id]);
  const buffersOf = (members: Set<NodeId>) => {
    const srcs: NodeId[] = [];
    for (const m of members) for (const s of g.nodes[m]!.src) if (!members.has(s)) srcs.push(s);
    return kernelInputs(g, srcs);
  };
  const root = g.nodes[id]!;
  // Each entry carries how often the kernel evaluates it per element (its consumer's reloads).
  const frontier = root.src.map((s, i) => ({ s, loads: loadsPerElement(g, root, i, target) }));
  while (frontier.length) {
    const { s, loads } = frontier.shift()!;
    if (group.has(s) || !canInline(s)) continue;
    if (loads > MAX_FUSED_RELOADS && !isIndexIdentity(g.nodes[s]!)) continue;
    const trial = new Set(group).add(s);
    if (buffersOf(trial).length + 1 > MAX_STORAGE_BUFFERS) continue;
    group.add(s);
    frontier.push(...g.nodes[s]!.src.map((src) => ({ s: src, loads })));
  }
  const nodes = [...group].sort((a, b) => a - b);
  return { nodes, inputs: buffersOf(group) };
}

/** The kernels that compute `roots` of a concrete graph, in dispatch order. */
export function schedule(g: Graph, roots: readonly NodeId[], opts: ScheduleOptions = {}): Kernel[] {
  const rootSet = new Set(roots);
  const order = reachable(g, roots);
  const uses = new Map<NodeId, number>();
  for (const id of order) for (const s of g.nodes[id]!.src) uses.set(s, (uses.get(s) ?? 0) + 1);
  // Decide fusion consumers-first, so a producer knows whether its consumer absorbed it.
  const absorbed = new Set<NodeId>();
  type Group = { nodes: NodeId[]; inputs: NodeId[]; core?: NodeId };
  const groups = new Map<NodeId, Group>();
  const canInline = (s: NodeId) => {
    const n = g.nodes[s]!;
    return (opts.fuse ?? true) && inlinable(n) && uses.get(s) === 1 && !rootSet.has(s) && literalValue(g, s) === undefined;
  };
  const target = opts.target ?? 'gpu';
  // A matmul this node can take as the core of its kernel (see `Kernel.core`).
  const epilogueCore = (id: NodeId): NodeId | undefined => {
    const n = g.nodes[id]!;
    if (!(opts.epilogue ?? opts.fuse ?? true) || !isBinary(n.op) || n.dtype !== 'f32' || n.src[0] === n.src[1]) return undefined;
    const shape = concreteShape(n.shape).join();
    return n.src.find((s) => {
      const m = g.nodes[s]!;
      return m.op === 'matmul' && uses.get(s) === 1 && !rootSet.has(s) && concreteShape(m.shape).join() === shape;
    });
  };
  for (let k = order.length - 1; k >= 0; k--) {
    const id = order[k]!;
    if (absorbed.has(id) || !needsKernel(g, id, rootSet.has(id))) continue;
    const n = g.nodes[id]!;
    let group: Group = n.op === 'concat' || n.op === 'reshape' || n.op === 'detach' ? { nodes: [id], inputs: kernelInputs(g, n.src) } : fuseGroup(g, id, canInline, target);
    const core = epilogueCore(id);
    if (core !== undefined) {
      const members = new Set([...group.nodes, ...fuseGroup(g, core, canInline, target).nodes]);
      const external: NodeId[] = [];
      for (const m of members) for (const s of g.nodes[m]!.src) if (!members.has(s)) external.push(s);
      const inputs = kernelInputs(g, external);
      if (inputs.length + 1 <= MAX_STORAGE_BUFFERS) group = { nodes: [...members].sort((a, b) => a - b), inputs, core };
    }
    for (const m of group.nodes) if (m !== id) absorbed.add(m);
    groups.set(id, group);
  }
  const kernels: Kernel[] = [];
  for (const id of order) {
    const group = groups.get(id);
    if (!group || absorbed.has(id)) continue;
    const n = g.nodes[id]!;
    const inputs = group.inputs;
    // One binding for the output, the rest for inputs.
    if (inputs.length + 1 <= MAX_STORAGE_BUFFERS) {
      kernels.push({ id: kernels.length, nodes: group.nodes, output: id, inputs, ...(group.core !== undefined ? { core: group.core } : {}) });
      continue;
    }
    if (n.op !== 'concat') throw new Error(`%${id} (${n.op}) reads ${inputs.length} buffers, more than a kernel can bind`);
    // Greedily pack consecutive sources while their distinct buffers fit.
    let first = 0;
    while (first < n.src.length) {
      let count = 1;
      while (first + count < n.src.length && kernelInputs(g, n.src.slice(first, first + count + 1)).length + 1 <= MAX_STORAGE_BUFFERS) count++;
      const part = n.src.slice(first, first + count);
      kernels.push({ id: kernels.length, nodes: [id], output: id, inputs: kernelInputs(g, part), concatPart: { first, count } });
      first += count;
    }
  }
  return kernels;
}
