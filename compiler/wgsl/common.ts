/**
 * Shared pieces of WGSL generation: how a kernel sees its sources, literal formatting,
 * index arithmetic with baked-in sizes, and the dispatch shapes (1-D, or 2-D once the
 * workgroup count passes the 65535-per-dimension limit).
 */
import type { Graph, Node, NodeId } from '../ir/graph.ts';
import { concreteShape } from '../ir/graph.ts';
import type { DType, OpAttrs, OpKind } from '../ops/kinds.ts';
import type { Kernel, KernelTarget } from '../fuse/kernel.ts';
import type { NodeStorage } from '../fuse/storage.ts';
import { stridesOf } from '../../core/dim.ts';
export { stridesOf };
export type { KernelTarget };

export type Workgroups = [number, number, number];

/** What a family renderer returns: the WGSL after the binding declarations, and its dispatch. */
export interface KernelBody {
  code: string;
  workgroups: Workgroups;
}

/** One source of the kernel's node, as the kernel body reads it. */
export interface SrcAccess {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** The folded value when the source is a literal; then `at` ignores its index. */
  readonly literal: number | undefined;
  /** A WGSL expression for the element at flat (u32) index expression `idx`. */
  at(idx: string): string;
}

export interface RenderOptions {
  /** The per-dimension workgroup limit; tests lower it to exercise the 2-D dispatch path. */
  readonly maxWorkgroupsPerDim?: number;
  /** Default `gpu`. */
  readonly target?: KernelTarget;
}

export interface RenderCtx<K extends OpKind> {
  readonly g: Graph;
  readonly kernel: Kernel;
  readonly node: Node<K>;
  readonly attrs: OpAttrs[K];
  /** Output shape and element count. */
  readonly shape: readonly number[];
  readonly numel: number;
  readonly dtype: DType;
  /** The sources of `node`, in order (for a concat part, only that part's sources). */
  readonly src: readonly SrcAccess[];
  readonly maxWg: number;
  readonly target: KernelTarget;
  /**
   * The WGSL statement that stores `value` at flat output index `idx`. Renderers that can
   * be a kernel's `core` (matmul) store through it, so an epilogue op applies on the way.
   */
  store(idx: string, value: string): string;
}

export const wgslType = (d: DType): string => (d === 'i32' ? 'i32' : 'f32');

/** Variable names of the bindings: the output is binding 0, then `kernel.inputs` in order. */
export const OUT = 'out';
export const inputVar = (i: number): string => `in${i}`;

/**
 * The trip count of a serial loop in a kernel for `target`. On `cpu` (lavapipe) it is `n` in a
 * form the shader compiler cannot evaluate (`out` always holds an element, so the `select`
 * yields `n`): Mesa fully unrolls loops of a known short count, and lavapipe then emits the
 * unrolled body once per SIMD lane, for LLVM to chew on. A 32-wide layer norm took 2.6–4.6 s
 * of LLVM time per kernel on a cold shader cache and 0.07 s with the count hidden, a
 * register-tiled matmul 0.65 s and 0.18 s, with no loss at run time (MISS-tiny training steps
 * measure the same or faster). GPU drivers keep their literal.
 */
export function loopCount(target: KernelTarget, n: number): string {
  return target === 'cpu' ? `select(${u32Lit(n)}, 0u, arrayLength(&${OUT}) == 0u)` : u32Lit(n);
}

/**
 * Every kernel declares this. WGSL has no literal for infinities or NaN, and a constant
 * `bitcast` that yields one is rejected at shader creation; a call to a user function is
 * never a constant expression, so it passes validation and the driver folds it later.
 */
export const wgslPrelude = 'fn f32_bits(b: u32) -> f32 { return bitcast<f32>(b); }\n';
export const NEG_INF = 'f32_bits(0xff800000u)';
export const NAN = 'f32_bits(0x7fc00000u)';

/** An f32 literal that rounds to exactly `Math.fround(v)`: the shortest decimal that does. */
export function f32Lit(v: number): string {
  const f = Math.fround(v);
  if (Number.isNaN(f)) return NAN;
  if (f === Infinity) return 'f32_bits(0x7f800000u)';
  if (f === -Infinity) return NEG_INF;
  if (f === 0) return Object.is(f, -0) ? '(-0.0f)' : '0.0f';
  let s = '';
  for (let p = 1; p <= 9; p++) {
    s = f.toPrecision(p);
    if (Math.fround(Number(s)) === f) break;
  }
  // "1.5e+21" is valid WGSL; a bare integer mantissa needs the `f` suffix to be f32.
  return f < 0 ? `(${s}f)` : `${s}f`;
}

export const u32Lit = (n: number): string => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`not a u32: ${n}`);
  return `${n}u`;
};

/** Strides that read `shape` broadcast (numpy rules) to `target`: 0 on broadcast axes. */
export function broadcastStrides(shape: readonly number[], target: readonly number[]): number[] {
  const s = stridesOf(shape);
  const lead = target.length - shape.length;
  return target.map((d, i) => (i < lead || shape[i - lead] !== d ? 0 : s[i - lead]!));
}

/**
 * WGSL lines that split flat index `idx` into coordinates `${p}0..` of `shape`. Sizes are
 * constants, so the divisions compile to multiplies and shifts.
 */
export function coordLines(shape: readonly number[], idx: string, p = 'c'): string {
  const r = shape.length;
  if (r === 0) return '';
  if (r === 1) return `  let ${p}0 = ${idx};\n`;
  const lines = [`  var ${p}_r = ${idx};`];
  for (let d = r - 1; d >= 0; d--) {
    if (d === 0) lines.push(`  let ${p}0 = ${p}_r;`);
    else if (shape[d] === 1) lines.push(`  let ${p}${d} = 0u;`);
    else lines.push(`  let ${p}${d} = ${p}_r % ${shape[d]}u;`, `  ${p}_r = ${p}_r / ${shape[d]}u;`);
  }
  return lines.join('\n') + '\n';
}

/** `base + Σ c_d·strides[d]` as WGSL, skipping zero terms. */
export function offsetExpr(strides: readonly number[], base = 0, p = 'c'): string {
  const terms: string[] = [];
  if (base !== 0) terms.push(u32Lit(base));
  strides.forEach((s, d) => {
    if (s !== 0) terms.push(s === 1 ? `${p}${d}` : `${p}${d} * ${s}u`);
  });
  return terms.length ? terms.join(' + ') : '0u';
}

export function isContiguous(strides: readonly number[], shape: readonly number[]): boolean {
  const c = stridesOf(shape);
  return strides.every((s, d) => s === c[d] || shape[d] === 1);
}

/**
 * Workgroup counts for `groups` workgroups: 1-D when they fit, else a 2-D grid whose
 * linear id `wid.y * nx + wid.x` may overshoot (kernels guard with their element count).
 */
export function grid(groups: number, maxPerDim: number): { workgroups: Workgroups; nx: number } {
  if (groups <= maxPerDim) return { workgroups: [Math.max(groups, 0), 1, 1], nx: Math.max(groups, 1) };
  const ny = Math.ceil(groups / maxPerDim);
  if (ny > maxPerDim) throw new Error(`${groups} workgroups exceed a ${maxPerDim}² dispatch grid`);
  return { workgroups: [maxPerDim, ny, 1], nx: maxPerDim };
}

/**
 * A kernel with one invocation per element of `total`: the entry point header, the flat
 * index `i` with its bounds guard, then `body`.
 */
export function flatKernel(total: number, maxWg: number, body: string, decls = '', wg = 256): KernelBody {
  const { workgroups, nx } = grid(Math.ceil(total / wg), maxWg);
  const index = workgroups[1] > 1 ? `gid.x + gid.y * ${u32Lit(nx * wg)}` : 'gid.x';
  const code = `${decls}
@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = ${index};
  if (i >= ${u32Lit(total)}) { return; }
${body}}
`;
  return { code, workgroups };
}

/**
 * A kernel with one workgroup of `wg` invocations per item (a row, or a reduced output):
 * defines `row` (uniform across the workgroup, so barriers after the guard are legal) and
 * `lid`.
 */
export function rowKernel(rows: number, wg: number, maxWg: number, body: string, decls = ''): KernelBody {
  const { workgroups, nx } = grid(rows, maxWg);
  const row = workgroups[1] > 1 ? `wid.x + wid.y * ${u32Lit(nx)}` : 'wid.x';
  const code = `${decls}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = ${row};
  if (row >= ${u32Lit(rows)}) { return; }
${body}}
`;
  return { code, workgroups };
}

/**
 * Workgroup-shared tree reductions for `wg` invocations (a power of two). Called from
 * uniform control flow only; the trailing barrier lets the scratch array be reused.
 */
export function wgReduceFns(wg: number): string {
  const fn = (name: string, combine: string) => `
fn ${name}(lid: u32, v: f32) -> f32 {
  scratch[lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { let a = scratch[lid]; let b = scratch[lid + s]; scratch[lid] = ${combine}; }
    workgroupBarrier();
  }
  let r = scratch[0];
  workgroupBarrier();
  return r;
}`;
  return `var<workgroup> scratch: array<f32, ${wg}>;${fn('wg_sum', 'a + b')}${fn('wg_max', 'max(a, b)')}\n`;
}

/**
 * Builds the accessors of a node's sources from the kernel's bindings. A source fused into
 * this kernel is read by calling the WGSL function `inlined(s)` that computes it.
 */
export function sourceAccess(
  storage: NodeStorage,
  k: Kernel,
  srcs: readonly NodeId[],
  inlined?: (s: NodeId) => string | undefined,
): SrcAccess[] {
  const g = storage.g;
  return srcs.map((s) => {
    const n = g.nodes[s]!;
    const shape = concreteShape(n.shape);
    const fn = inlined?.(s);
    if (fn !== undefined) return { shape, dtype: n.dtype, literal: undefined, at: (idx: string) => `${fn}(${idx})` };
    const r = storage.resolve(s);
    if (r.kind === 'literal') {
      const lit = f32Lit(r.value);
      return { shape, dtype: n.dtype, literal: r.value, at: () => lit };
    }
    const b = k.inputs.indexOf(r.node);
    if (b < 0) throw new Error(`kernel ${k.id}: source %${s} (storage %${r.node}) is not among its inputs`);
    const v = inputVar(b);
    return { shape, dtype: n.dtype, literal: undefined, at: (idx: string) => `${v}[${idx}]` };
  });
}
