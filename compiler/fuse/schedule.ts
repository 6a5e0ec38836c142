/**
 * Splits a concrete graph into GPU kernels: decides which nodes are *realized* (get a
 * buffer written by a kernel), which share another node's buffer, and which vanish into
 * their consumers' WGSL as literals.
 *
 * Fusion (producer inlining): a realized node's kernel absorbs every source that is an
 * elementwise op (unary, binary, expand, dropout mask) or a static index remap (permute: a
 * head split or merge; slice: position rows), used once, and not a root —
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
 * Epilogue fusion: a matmul, reduction or row op (`OpTraits.epilogueCore`)
 * read only by the fused elementwise chain of a kernel of its own shape (the bias add of
 * every Linear, a residual add, a gradient accumulation, a layer norm's affine after its
 * normalisation, a mean's scale after its sum) is computed inside that kernel, the chain
 * applied to each result at the store. One dispatch and one buffer round trip fewer each.
 *
 * Recompute: a cheap producer read by several kernels (the LoRA scale `s·dY` that both
 * factor gradients read, a residual gradient sum read by two matmuls) is inlined into every
 * one of them instead of getting a kernel and a buffer of its own — one level deep: what it
 * reads must be in buffers, so the copies never nest. If any reader cannot take its copy
 * (bindings, reloads, a reshape of it), it is realized after all and the copies are taken
 * back out (or, when a kernel cannot bind its buffer instead, they stay: correct, redundant).
 */
import { elementCount } from '../../core/dim.ts';
import type { Graph, Node, NodeId } from '../ir/graph.ts';
import { concreteShape } from '../ir/graph.ts';
import { opTraits } from '../ops/kinds.ts';
import { type Kernel, type KernelTarget, MAX_STORAGE_BUFFERS } from './kernel.ts';
import { NodeStorage, isLeaf } from './storage.ts';
import { operandLoads } from './tiling.ts';

export { MAX_STORAGE_BUFFERS };

/** A producer fused into a kernel that reads each of its elements more often than this is realized instead. */
export const MAX_FUSED_RELOADS = 4;

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
export function needsKernel(storage: NodeStorage, id: NodeId, isRoot: boolean): boolean {
  const g = storage.g;
  const n = g.nodes[id]!;
  if (isLeaf(n)) return false;
  if (storage.literalValue(id) !== undefined) return isRoot;
  if (opTraits[n.op].alias) return isRoot && isLeaf(g.nodes[storage.storageOf(id)]!);
  return true;
}

function kernelInputs(storage: NodeStorage, srcs: readonly NodeId[]): NodeId[] {
  const out: NodeId[] = [];
  for (const s of srcs) {
    const r = storage.resolve(s);
    if (r.kind === 'buffer' && !out.includes(r.node)) out.push(r.node);
  }
  return out;
}

/**
 * Ops that can be computed where they are read (`OpTraits.fusable`): pure functions of the
 * element index whose cost is a few instructions, so recomputing them inside the consumer
 * beats a round trip through memory and a dispatch. An alias read by one consumer is an
 * index identity: inlining it lets the elementwise producer behind it fuse too, instead of
 * being realized for the alias.
 */
function inlinable(n: Node): boolean {
  return n.dtype === 'f32' && opTraits[n.op].fusable;
}

export interface ScheduleOptions {
  /** Inline single-use elementwise producers into their consumer's kernel (default on). */
  readonly fuse?: boolean;
  /** The kernels' target: it decides how often a matmul reloads its operands. Default `gpu`. */
  readonly target?: KernelTarget;
  /** Compute a single-use matmul inside its elementwise consumer's kernel (default: as `fuse`). */
  readonly epilogue?: boolean;
  /** Inline a cheap producer read by several kernels into each of them (default: as `fuse`). */
  readonly recompute?: boolean;
  /** The graph's storage view, when the caller already has one (the planner shares it with the renderer). */
  readonly storage?: NodeStorage;
}

/**
 * Which producers a kernel may copy although other kernels read them too (see Recompute
 * above): `isShared` nodes, and below one only nodes that read nothing but leaves (a dropout
 * mask from the seed; their sources are in buffers whoever computes them).
 */
interface CopyPolicy {
  readonly isShared: (s: NodeId) => boolean;
  readonly readsOnlyLeaves: (s: NodeId) => boolean;
}

const NO_COPIES: CopyPolicy = { isShared: () => false, readsOnlyLeaves: () => false };

/** Times the kernel of `n` reads each element of its source `i`. */
function loadsPerElement(g: Graph, n: Node, i: number, target: KernelTarget): number {
  if (!opTraits[n.op].contraction) return 1;
  const shape = concreteShape(n.shape);
  const [M, N] = [shape[shape.length - 2]!, shape[shape.length - 1]!];
  const { transA, transB } = n.attrs as { transA: boolean; transB: boolean };
  // A shared B is reused across the batch too: the renderer folds the batch into M (for A not
  // transposed), and the block shape depends on the folded size.
  const folded = !transA && concreteShape(g.nodes[n.src[1]!]!.shape).length === 2 ? elementCount(shape.slice(0, -1)) : M;
  const a = concreteShape(g.nodes[n.src[0]!]!.shape);
  const K = transA ? a[a.length - 2]! : a[a.length - 1]!;
  return operandLoads(target, i === 0 ? 'A' : 'B', folded, N, K, transB);
}

/**
 * Producer fusion: a realized node's kernel absorbs each source that is inlinable, used by
 * that node alone, and not itself a root — recursively — while the kernel's bindings fit.
 * Each absorbed node becomes a WGSL function of the element index in the consumer's shader.
 */
function fuseGroup(
  storage: NodeStorage,
  id: NodeId,
  canInline: (s: NodeId) => boolean,
  target: KernelTarget,
  copies: CopyPolicy = NO_COPIES,
): { nodes: NodeId[]; inputs: NodeId[] } {
  const g = storage.g;
  const group = new Set<NodeId>([id]);
  const buffersOf = (members: Set<NodeId>) => {
    const srcs: NodeId[] = [];
    for (const m of members) for (const s of g.nodes[m]!.src) if (!members.has(s)) srcs.push(s);
    return kernelInputs(storage, srcs);
  };
  const root = g.nodes[id]!;
  // Each entry carries how often the kernel evaluates it per element (its consumer's reloads),
  // and whether it is read by a shared (recomputed) producer, whose sources stay in buffers.
  const frontier = root.src.map((s, i) => ({ s, loads: loadsPerElement(g, root, i, target), belowShared: false }));
  while (frontier.length) {
    const { s, loads, belowShared } = frontier.shift()!;
    if (group.has(s) || !canInline(s) || (belowShared && !copies.readsOnlyLeaves(s))) continue;
    if (loads > MAX_FUSED_RELOADS && !opTraits[g.nodes[s]!.op].alias) continue;
    const trial = new Set(group).add(s);
    if (buffersOf(trial).length + 1 > MAX_STORAGE_BUFFERS) continue;
    group.add(s);
    // A shared alias is an index identity: the level that counts is the node behind it.
    const shared = belowShared || (copies.isShared(s) && !opTraits[g.nodes[s]!.op].alias);
    frontier.push(...g.nodes[s]!.src.map((src) => ({ s: src, loads, belowShared: shared })));
  }
  const nodes = [...group].sort((a, b) => a - b);
  return { nodes, inputs: buffersOf(group) };
}

/** The kernels that compute `roots` of a concrete graph, in dispatch order. */
export function schedule(g: Graph, roots: readonly NodeId[], opts: ScheduleOptions = {}): Kernel[] {
  const storage = opts.storage ?? new NodeStorage(g);
  const rootSet = new Set(roots);
  const order = reachable(g, roots);
  const uses = new Map<NodeId, number>();
  for (const id of order) for (const s of g.nodes[id]!.src) uses.set(s, (uses.get(s) ?? 0) + 1);
  // Decide fusion consumers-first, so a producer knows whether its consumer absorbed it.
  const absorbed = new Set<NodeId>();
  type Group = { nodes: NodeId[]; inputs: NodeId[]; core?: NodeId };
  const groups = new Map<NodeId, Group>();
  const recompute = opts.recompute ?? opts.fuse ?? true;
  const isAlias = (s: NodeId) => opTraits[g.nodes[s]!.op].alias;
  const readers = new Map<NodeId, NodeId[]>();
  for (const id of order) for (const s of new Set(g.nodes[id]!.src)) readers.set(s, [...(readers.get(s) ?? []), id]);
  // Reads of a node, counting those through an alias (a reshape) as the alias's own reads.
  const reads = new Map<NodeId, number>();
  for (let k = order.length - 1; k >= 0; k--) {
    const id = order[k]!;
    const viaAlias = isAlias(id) && !rootSet.has(id) ? (reads.get(id) ?? 0) : 1;
    for (const s of g.nodes[id]!.src) reads.set(s, (reads.get(s) ?? 0) + viaAlias);
  }
  const isShared = (s: NodeId) => (reads.get(s) ?? 0) > 1;
  const readsOnlyLeaves = (s: NodeId) =>
    g.nodes[s]!.src.every((src) => {
      const r = storage.resolve(src);
      return r.kind !== 'buffer' || isLeaf(g.nodes[r.node]!);
    });
  const copies: CopyPolicy = recompute ? { isShared, readsOnlyLeaves } : NO_COPIES;
  const canInline = (s: NodeId) => {
    const n = g.nodes[s]!;
    return (
      (opts.fuse ?? true) &&
      inlinable(n) &&
      (uses.get(s) === 1 || (recompute && isShared(s))) &&
      !rootSet.has(s) &&
      storage.literalValue(s) === undefined
    );
  };
  // The roots of the groups each node is computed in (a shared producer: several).
  const groupsOf = new Map<NodeId, NodeId[]>();
  // A shared producer needs no kernel when every node reading it does so inside a group that
  // holds a copy of it; an alias reader counts when it was copied everywhere itself.
  const copiedIntoEveryReader = (s: NodeId) =>
    (readers.get(s) ?? []).every((r) => {
      if (storage.literalValue(r) !== undefined) return true;
      if (isAlias(r) && !absorbed.has(r)) return false;
      const holders = groupsOf.get(r) ?? [];
      return holders.length > 0 && holders.every((h) => groups.get(h)!.nodes.includes(s));
    });
  const target = opts.target ?? 'gpu';
  const epilogueOn = opts.epilogue ?? opts.fuse ?? true;
  // The core this node's kernel can take (see `Kernel.core`): a node whose renderer stores
  // through `RenderCtx.store` (`OpTraits.epilogueCore`), read once, by the chain of this
  // node's fused elementwise members of its own shape — so element i of the core is what the
  // chain reads at element i, and the chain applies to each result at the store.
  const epilogueCore = (id: NodeId, members: ReadonlySet<NodeId>): NodeId | undefined => {
    const n = g.nodes[id]!;
    if (!epilogueOn || n.dtype !== 'f32') return undefined;
    const shape = concreteShape(n.shape).join();
    const onChain = (m: NodeId) => {
      const e = opTraits[g.nodes[m]!.op].elementwise;
      return (e === 'unary' || e === 'binary') && concreteShape(g.nodes[m]!.shape).join() === shape;
    };
    if (!onChain(id)) return undefined;
    const chain = [id];
    for (let c = 0; c < chain.length; c++) {
      for (const s of g.nodes[chain[c]!]!.src) {
        if (members.has(s)) {
          // Not through a shared copy: what it reads must stay in a buffer for its other copies.
          if (onChain(s) && !(recompute && isShared(s)) && !chain.includes(s)) chain.push(s);
          continue;
        }
        const core = g.nodes[s]!;
        if (
          opTraits[core.op].epilogueCore &&
          core.dtype === 'f32' &&
          uses.get(s) === 1 &&
          !rootSet.has(s) &&
          concreteShape(core.shape).join() === shape
        )
          return s;
      }
    }
    return undefined;
  };
  // Takes a shared producer's copies back out of the groups that hold one (with what they
  // copied below it), when every such group still fits its bindings reading its buffer instead.
  const withdrawCopies = (s: NodeId): boolean => {
    const planned: { root: NodeId; nodes: NodeId[]; inputs: NodeId[]; dropped: NodeId[] }[] = [];
    for (const root of new Set(groupsOf.get(s) ?? [])) {
      const old = groups.get(root)!;
      const kept = new Set<NodeId>([root]);
      const stack = [root];
      while (stack.length)
        for (const x of g.nodes[stack.pop()!]!.src)
          if (x !== s && old.nodes.includes(x) && !kept.has(x)) {
            kept.add(x);
            stack.push(x);
          }
      const nodes = old.nodes.filter((m) => kept.has(m));
      const inputs = kernelInputs(
        storage,
        nodes.flatMap((m) => g.nodes[m]!.src).filter((x) => !kept.has(x)),
      );
      if (inputs.length + 1 > MAX_STORAGE_BUFFERS) return false;
      planned.push({ root, nodes, inputs, dropped: old.nodes.filter((m) => !kept.has(m)) });
    }
    for (const { root, nodes, inputs, dropped } of planned) {
      groups.set(root, { ...groups.get(root)!, nodes, inputs });
      for (const m of dropped) {
        const left = (groupsOf.get(m) ?? []).filter((h) => h !== root);
        groupsOf.set(m, left);
        if (!left.length) absorbed.delete(m);
      }
    }
    return true;
  };
  for (let k = order.length - 1; k >= 0; k--) {
    const id = order[k]!;
    const n = g.nodes[id]!;
    let group: Group;
    let realizedAfterAll = false;
    if (absorbed.has(id)) {
      if (!isShared(id) || copiedIntoEveryReader(id)) continue;
      absorbed.delete(id);
      // An alias has no kernel: its source, which holds its value, is realized in turn.
      if (isAlias(id)) continue;
      if (withdrawCopies(id))
        // Realized after all, as if it had never been shared: its readers read its buffer.
        group = fuseGroup(storage, id, canInline, target, copies);
      else {
        // Some copy must stay (its kernel would bind too many buffers without it), so what the
        // copies read stays in buffers: realized alone, but for sources that read only leaves.
        realizedAfterAll = true;
        const leafFed = n.src.filter((x) => absorbed.has(x) && readsOnlyLeaves(x));
        const members = [id, ...new Set(leafFed)];
        const external = members.flatMap((m) => g.nodes[m]!.src).filter((x) => !members.includes(x));
        group = { nodes: members.sort((a, b) => a - b), inputs: kernelInputs(storage, external) };
      }
    } else if (!needsKernel(storage, id, rootSet.has(id))) continue;
    else
      group = opTraits[n.op].fusesProducers
        ? fuseGroup(storage, id, canInline, target, copies)
        : { nodes: [id], inputs: kernelInputs(storage, n.src) };
    const core = realizedAfterAll ? undefined : epilogueCore(id, new Set(group.nodes));
    if (core !== undefined) {
      const members = new Set([...group.nodes, ...fuseGroup(storage, core, canInline, target, copies).nodes]);
      const external: NodeId[] = [];
      for (const m of members) for (const s of g.nodes[m]!.src) if (!members.has(s)) external.push(s);
      const inputs = kernelInputs(storage, external);
      if (inputs.length + 1 <= MAX_STORAGE_BUFFERS) group = { nodes: [...members].sort((a, b) => a - b), inputs, core };
    }
    for (const m of group.nodes) {
      if (m !== id) absorbed.add(m);
      groupsOf.set(m, [...(groupsOf.get(m) ?? []), id]);
    }
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
      kernels.push({
        id: kernels.length,
        nodes: group.nodes,
        output: id,
        inputs,
        ...(group.core !== undefined ? { core: group.core } : {}),
      });
      continue;
    }
    if (!opTraits[n.op].splitsOverSources) throw new Error(`%${id} (${n.op}) reads ${inputs.length} buffers, more than a kernel can bind`);
    // Greedily pack consecutive sources while their distinct buffers fit.
    let first = 0;
    while (first < n.src.length) {
      let count = 1;
      while (first + count < n.src.length && kernelInputs(storage, n.src.slice(first, first + count + 1)).length + 1 <= MAX_STORAGE_BUFFERS)
        count++;
      const part = n.src.slice(first, first + count);
      kernels.push({ id: kernels.length, nodes: [id], output: id, inputs: kernelInputs(storage, part), concatPart: { first, count } });
      first += count;
    }
  }
  return kernels;
}
