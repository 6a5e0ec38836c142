/**
 * The compiler back end: binds symbolic sizes, splits the graph into kernels, renders WGSL
 * and plans buffers. Pure and synchronous: nothing here touches a GPU.
 *
 *   specialize  Graph (symbolic) -> Graph (concrete)    compiler/ir/specialize.ts
 *   schedule    Graph            -> Kernel[]            compiler/fuse/schedule.ts
 *   wgsl        Kernel           -> ShaderModule        compiler/wgsl/render.ts
 *   plan        Kernel[]         -> Plan                compiler/plan/buffers.ts
 */
import { symbolsOf } from '../core/dim.ts';
import type { Graph, NodeId } from './ir/graph.ts';
import { type Bindings, specialize } from './ir/specialize.ts';
import { type Plan, planGraph } from './plan/buffers.ts';
import type { KernelTarget, ShaderModule } from './wgsl/render.ts';

export interface Backend {
  /** The concrete graph the plan was built from. */
  readonly graph: Graph;
  /** Output and gradient nodes, read back or consumed by the optimizer. */
  readonly roots: readonly NodeId[];
  readonly shaders: readonly ShaderModule[];
  readonly plan: Plan;
}

/** The symbolic sizes a graph leaves unbound (e.g. `B`). */
export function symbolicSizes(g: Graph): string[] {
  const out = new Set<string>();
  for (const i of g.inputs) for (const d of i.shape) for (const s of symbolsOf(d)) out.add(s);
  return [...out].sort();
}

/** The sizes of a command's `--batch` and `--dim NAME=SIZE` options, or what is wrong with them. */
export type SizeBinding =
  { readonly bindings: Record<string, number>; readonly error?: undefined } | { readonly bindings?: undefined; readonly error: string };

/**
 * Binds `B` to `batch` (left unbound without it, for a caller that picks the batch later) and
 * each `NAME=SIZE` of `dims`, and checks that every other symbolic size of `graph` is bound.
 * The one place commands turn size options into `Bindings`; errors are one line for the user.
 */
export function bindSizes(graph: Graph, o: { readonly batch?: number; readonly dims?: readonly string[] }): SizeBinding {
  const bindings: Record<string, number> = o.batch === undefined ? {} : { B: o.batch };
  for (const d of o.dims ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(\d+)$/.exec(d);
    if (!m || Number(m[2]) <= 0) return { error: `--dim expects NAME=SIZE with a positive size, got "${d}"` };
    bindings[m[1]!] = Number(m[2]);
  }
  const missing = symbolicSizes(graph).filter((s) => !(s in bindings) && !(s === 'B' && o.batch === undefined));
  if (missing.length) return { error: `bind the symbolic size${missing.length > 1 ? 's' : ''} ${missing.join(', ')} with --dim NAME=SIZE` };
  return { bindings };
}

export interface BackendOptions {
  /** Which kernels to render: `cpu` for software adapters (see `KernelTarget`). Default `gpu`. */
  readonly target?: KernelTarget;
}

export function buildBackend(g: Graph, bindings: Bindings, opts: BackendOptions = {}): Backend {
  const graph = specialize(g, bindings);
  const roots = [...Object.values(graph.outputs), ...Object.values(graph.grads)];
  const plan = planGraph(graph, { roots, keep: roots, optimizer: Object.keys(graph.grads).length > 0, target: opts.target });
  return { graph, roots, shaders: plan.steps.map((s) => s.shader), plan };
}

export function printShaders(be: Backend): string {
  return be.shaders
    .map((s, i) => `// ---- kernel ${i} (${s.entryPoint}, workgroups ${s.workgroups.join('×')})\n${s.code.trim()}`)
    .join('\n\n');
}
