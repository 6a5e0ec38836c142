/**
 * Kernel[] -> Plan: every buffer the step needs, with sizes, and the dispatch list with
 * each binding resolved to a buffer slot. Pure and GPU-free; the executor only follows it.
 *
 * Params, inputs, kept nodes (outputs, gradients) and optimizer state get buffers of their
 * own for the whole run. Every other realized node is a temporary: it lives from the step
 * that writes it to the last step that reads it, and temporaries share a pool of buffers
 * by liveness (greedy best fit in dispatch order). Because all dispatches run in order in
 * one queue submission, a buffer freed after step s can be rewritten by step s + 1.
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import { concreteShape } from '../ir/graph.ts';
import { elementCount } from '../../core/dim.ts';
import type { DType } from '../ops/kinds.ts';
import type { Kernel } from '../fuse/kernel.ts';
import { reachable, schedule } from '../fuse/schedule.ts';
import { NodeStorage } from '../fuse/storage.ts';
import { type RenderOptions, type ShaderModule, renderKernel } from '../wgsl/render.ts';

export type BufferKind = 'param' | 'input' | 'grad' | 'output' | 'temp' | 'optim';

export interface PlanBuffer {
  id: number;
  bytes: number;
  kind: BufferKind;
  /** What it holds: a param or input name, `%id` of a kept node, `temp`, or `m:`/`v:` + param name. */
  label: string;
}

export interface PlanStep {
  shader: ShaderModule;
  /** Buffer slot of each binding: `buffers[i]` backs `shader.bindings[i]`. */
  buffers: number[];
  kernel: Kernel;
  /** Shape of the node written. */
  shape: number[];
}

/** One AdamW-style update: which buffers hold a trainable parameter, its gradient and state. */
export interface PlanUpdate {
  name: string;
  param: number;
  grad: number;
  m: number;
  v: number;
  numel: number;
}

export interface Plan {
  buffers: PlanBuffer[];
  /** Every node with data on the device -> its buffer (aliases share their source's). */
  nodeBuffer: Map<NodeId, number>;
  /** Element count and dtype of every node in `nodeBuffer` (a pooled buffer may be larger). */
  nodeType: Map<NodeId, { numel: number; dtype: DType }>;
  steps: PlanStep[];
  /** Device memory of the whole plan: the sum of all buffer sizes. */
  peakBytes: number;
  /** Bytes of the temporary pool, and what the temporaries would take without reuse. */
  tempBytes: number;
  naiveTempBytes: number;
  kernels: Kernel[];
  params: { name: string; node: NodeId; buffer: number; numel: number; trainable: boolean }[];
  inputs: { name: string; node: NodeId; buffer: number; numel: number; dtype: DType }[];
  keep: NodeId[];
  /** Whether optimizer state was planned (`updates` may still be empty: nothing trainable). */
  optimizer: boolean;
  /** One entry per trainable parameter with a gradient among `keep`, when `optimizer` was asked for. */
  updates: PlanUpdate[];
}

export interface PlanOptions extends RenderOptions {
  /** The nodes to compute. */
  roots: readonly NodeId[];
  /** The nodes whose values must survive the run (read back, or read by the optimizer). */
  keep: readonly NodeId[];
  /** Allocate optimizer state (m, v) for every trainable parameter whose gradient is kept. */
  optimizer?: boolean;
  /** Inline single-use elementwise producers into their consumers (default on). */
  fuse?: boolean;
  /** Compute single-use matmuls inside their elementwise consumers (default: as `fuse`). */
  epilogue?: boolean;
  /** Inline a cheap producer read by several kernels into each of them (default: as `fuse`). */
  recompute?: boolean;
}

/** Storage buffers need a non-zero size that is a multiple of 4. */
function bytesOf(g: Graph, id: NodeId): number {
  return Math.max(4, numelOf(g, id) * 4);
}

const numelOf = (g: Graph, id: NodeId): number => elementCount(g.nodes[id]!.shape);

export function planGraph(g: Graph, opts: PlanOptions): Plan {
  const keep = [...new Set(opts.keep)];
  // How every node is stored, worked out once for the scheduler, the renderer and the planner.
  const storage = new NodeStorage(g);
  const kernels = schedule(g, [...new Set([...opts.roots, ...keep])], {
    fuse: opts.fuse,
    epilogue: opts.epilogue,
    recompute: opts.recompute,
    target: opts.target,
    storage,
  });
  // The order of the steps below is the order of buffer ids in the plan.
  const table = new BufferTable();
  const { params, inputs } = allocateParamsAndInputs(g, table);
  allocateKept(g, keep, kernels, storage, table);
  const { steps, naiveTempBytes } = planSteps(g, kernels, opts, storage, table);
  shareAliasBuffers(g, [...opts.roots, ...keep], storage, table.nodeBuffer);
  const nodeType = new Map<NodeId, { numel: number; dtype: DType }>();
  for (const id of [...table.nodeBuffer.keys()].sort((a, b) => a - b))
    nodeType.set(id, { numel: numelOf(g, id), dtype: g.nodes[id]!.dtype });
  const updates = opts.optimizer ? planUpdates(g, params, keep, table) : [];

  const { buffers, nodeBuffer } = table;
  const sum = (kind?: BufferKind) => buffers.filter((b) => kind === undefined || b.kind === kind).reduce((a, b) => a + b.bytes, 0);
  return {
    buffers,
    nodeBuffer,
    nodeType,
    steps,
    peakBytes: sum(),
    tempBytes: sum('temp'),
    naiveTempBytes,
    kernels,
    params,
    inputs,
    keep,
    optimizer: opts.optimizer ?? false,
    updates,
  };
}

/** The plan's buffers as they are allocated, and the buffer of every node given one so far. */
class BufferTable {
  readonly buffers: PlanBuffer[] = [];
  readonly nodeBuffer = new Map<NodeId, number>();

  alloc(bytes: number, kind: BufferKind, label: string): number {
    this.buffers.push({ id: this.buffers.length, bytes, kind, label });
    return this.buffers.length - 1;
  }
}

/** Params and inputs: a buffer of their own each, for the whole run. */
function allocateParamsAndInputs(g: Graph, table: BufferTable): Pick<Plan, 'params' | 'inputs'> {
  const params = g.params.map((p) => {
    const buffer = table.alloc(bytesOf(g, p.node), 'param', p.name);
    table.nodeBuffer.set(p.node, buffer);
    return { name: p.name, node: p.node, buffer, numel: numelOf(g, p.node), trainable: p.trainable };
  });
  const inputs = g.inputs.map((i) => {
    const buffer = table.alloc(bytesOf(g, i.node), 'input', i.name);
    table.nodeBuffer.set(i.node, buffer);
    return { name: i.name, node: i.node, buffer, numel: numelOf(g, i.node), dtype: i.dtype };
  });
  return { params, inputs };
}

/** Kept nodes (outputs, gradients): a buffer of their own each, for the whole run. */
function allocateKept(g: Graph, keep: readonly NodeId[], kernels: readonly Kernel[], storage: NodeStorage, table: BufferTable): void {
  // Which node each realized output is written by; a kept node that is an alias keeps its
  // storage node alive instead.
  const written = new Set(kernels.map((k) => k.output));
  const gradNodes = new Set(Object.values(g.grads));
  for (const id of keep) {
    const s = written.has(id) ? id : storage.storageOf(id);
    if (table.nodeBuffer.has(s)) continue;
    if (!written.has(s)) throw new Error(`kept node %${id} has no buffer (it folds to a literal and is not computed)`);
    table.nodeBuffer.set(s, table.alloc(bytesOf(g, s), gradNodes.has(id) ? 'grad' : 'output', `%${s}`));
  }
}

/** The dispatch list, giving every other written node a temporary from the pool while it is live. */
function planSteps(
  g: Graph,
  kernels: readonly Kernel[],
  opts: PlanOptions,
  storage: NodeStorage,
  table: BufferTable,
): { steps: PlanStep[]; naiveTempBytes: number } {
  const { buffers, nodeBuffer } = table;
  // Liveness of temporaries, in step indices.
  const lastUse = new Map<NodeId, number>();
  kernels.forEach((k, s) => {
    lastUse.set(k.output, s);
    for (const i of k.inputs) lastUse.set(i, s);
  });
  const free: number[] = [];
  let naiveTempBytes = 0;
  const steps: PlanStep[] = [];
  kernels.forEach((k, s) => {
    if (!nodeBuffer.has(k.output)) {
      const need = bytesOf(g, k.output);
      naiveTempBytes += need;
      nodeBuffer.set(
        k.output,
        takeFree(free, buffers, need, () => table.alloc(need, 'temp', 'temp')),
      );
    }
    const shader = renderKernel(g, k, opts, storage);
    steps.push({
      shader,
      buffers: shader.bindings.map((b) => nodeBuffer.get(b.node)!),
      kernel: k,
      shape: concreteShape(g.nodes[k.output]!.shape),
    });
    // Release temporaries whose last reader was this step (the output too, if nothing reads it).
    for (const id of new Set([k.output, ...k.inputs])) {
      const b = nodeBuffer.get(id)!;
      if (lastUse.get(id) === s && buffers[b]!.kind === 'temp') free.push(b);
    }
  });
  return { steps, naiveTempBytes };
}

/** Aliases (reshapes) and kept nodes read back through their storage node's buffer. */
function shareAliasBuffers(g: Graph, roots: readonly NodeId[], storage: NodeStorage, nodeBuffer: Map<NodeId, number>): void {
  for (const id of reachable(g, roots)) {
    if (nodeBuffer.has(id)) continue;
    const r = storage.resolve(id);
    if (r.kind === 'buffer' && nodeBuffer.has(r.node)) nodeBuffer.set(id, nodeBuffer.get(r.node)!);
  }
}

/** Optimizer state (m, v) for every trainable parameter whose gradient is kept. */
function planUpdates(g: Graph, params: Plan['params'], keep: readonly NodeId[], table: BufferTable): PlanUpdate[] {
  const updates: PlanUpdate[] = [];
  for (const p of params) {
    const gradNode = g.grads[p.name];
    if (!p.trainable || gradNode === undefined || !keep.includes(gradNode)) continue;
    const grad = table.nodeBuffer.get(gradNode);
    if (grad === undefined) throw new Error(`gradient of ${p.name} (%${gradNode}) has no buffer`);
    const bytes = table.buffers[p.buffer]!.bytes;
    updates.push({
      name: p.name,
      param: p.buffer,
      grad,
      m: table.alloc(bytes, 'optim', `m:${p.name}`),
      v: table.alloc(bytes, 'optim', `v:${p.name}`),
      numel: p.numel,
    });
  }
  return updates;
}

/**
 * Best fit from the free list: the smallest free buffer that holds `need` bytes; failing
 * that, the largest free buffer grows to `need` (sizes are only fixed once planning ends,
 * and growing never costs more than a new buffer); failing that, a new buffer.
 */
function takeFree(free: number[], buffers: PlanBuffer[], need: number, fresh: () => number): number {
  let best = -1;
  for (let j = 0; j < free.length; j++) {
    const b = buffers[free[j]!]!;
    if (b.bytes >= need && (best < 0 || b.bytes < buffers[free[best]!]!.bytes)) best = j;
  }
  if (best < 0 && free.length) {
    best = 0;
    for (let j = 1; j < free.length; j++) if (buffers[free[j]!]!.bytes > buffers[free[best]!]!.bytes) best = j;
    buffers[free[best]!]!.bytes = need;
  }
  if (best < 0) return fresh();
  return free.splice(best, 1)[0]!;
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** Deterministic text form of a plan (`milec compile --emit plan`). */
export function printPlan(p: Plan): string {
  const lines: string[] = [];
  lines.push(
    `plan: ${p.buffers.length} buffers, ${p.steps.length} dispatches, ${fmtBytes(p.peakBytes)} ` +
      `(temporaries ${fmtBytes(p.tempBytes)} pooled, ${fmtBytes(p.naiveTempBytes)} unpooled)`,
  );
  lines.push('buffers:');
  const w = String(p.buffers.length - 1).length + 1;
  for (const b of p.buffers) lines.push(`  ${`b${b.id}`.padEnd(w)}  ${b.kind.padEnd(6)} ${String(b.bytes).padStart(10)} B  ${b.label}`);
  lines.push('steps:');
  p.steps.forEach((s, i) => {
    const [out, ...ins] = s.buffers;
    const part = s.kernel.concatPart ? ` part ${s.kernel.concatPart.first}+${s.kernel.concatPart.count}` : '';
    const what = `${s.shader.op} %${s.kernel.output} [${s.shape.join(', ')}]${part}`;
    lines.push(
      `  ${String(i).padStart(3)}  ${what.padEnd(36)} b${out} <- ${ins.map((b) => `b${b}`).join(' ') || '-'}  wg ${s.shader.workgroups.join('x')}`,
    );
  });
  for (const u of p.updates) lines.push(`  adamw ${u.name}: param b${u.param} grad b${u.grad} m b${u.m} v b${u.v}`);
  return lines.join('\n') + '\n';
}
