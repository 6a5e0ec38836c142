/**
 * Elementwise kernels: unary and binary ops with numpy broadcasting, constant fills and
 * dropout masks. One invocation per output element; a broadcast operand is read through
 * strides with 0 on its broadcast axes, so no expanded copy is ever materialized.
 */
import { elementCount } from '../../core/dim.ts';
import { wgslPcgHash } from '../ops/hash.ts';
import type { BinaryOp, OpKind, UnaryOp } from '../ops/kinds.ts';
import type { Node } from '../ir/graph.ts';
import {
  type KernelBody,
  type RenderCtx,
  type SrcAccess,
  OUT,
  broadcastStrides,
  coordLines,
  f32Lit,
  flatKernel,
  isContiguous,
  offsetExpr,
  u32Lit,
} from './common.ts';

/**
 * GELU needs erf, which WGSL lacks. erfc(z) for z ≥ 0 uses the Chebyshev-fitted form of
 * Press et al. (Numerical Recipes §6.2), relative error below 1.2e-7 for every z ≥ 0
 * (measured 1.05e-7 against the float64 reference). Working with erfc of |x|/√2 keeps the
 * relative accuracy in gelu's left tail, where 1 + erf(x/√2) would cancel.
 */
const wgslErf = /* wgsl */ `
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
          t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(p - z * z);
}
// Φ(x), the standard normal CDF, = 0.5·erfc(−x/√2).
fn norm_cdf(x: f32) -> f32 {
  let h = 0.5 * erfc_pos(abs(x) * 0.70710678118654752);
  return select(h, 1.0 - h, x >= 0.0);
}
fn gelu(x: f32) -> f32 { return x * norm_cdf(x); }
fn gelu_grad(x: f32) -> f32 { return norm_cdf(x) + x * 0.39894228040143268 * exp(-0.5 * x * x); }
`;

/** Each branch keeps exp's argument ≤ 0, so it never overflows. */
const wgslSigmoid = /* wgsl */ `
fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
`;

/** WGSL for each unary op of a value `x`, plus any helper functions it needs. */
const unaryExpr: { readonly [K in UnaryOp]: { expr: string; helpers?: string } } = {
  neg: { expr: '-x' },
  exp: { expr: 'exp(x)' },
  log: { expr: 'log(x)' },
  // Some drivers compute tanh through exp(2x) and return NaN once that overflows; tanh is
  // ±1 in f32 well before |x| = 20.
  tanh: { expr: 'tanh(clamp(x, -20.0, 20.0))' },
  sqrt: { expr: 'sqrt(x)' },
  recip: { expr: '1.0 / x' },
  sigmoid: { expr: 'sigmoid(x)', helpers: wgslSigmoid },
  // select, not max: NaN > 0 is false, as in the reference.
  relu: { expr: 'select(0.0, x, x > 0.0)' },
  gelu: { expr: 'gelu(x)', helpers: wgslErf },
  gelu_grad: { expr: 'gelu_grad(x)', helpers: wgslErf },
  step: { expr: 'select(0.0, 1.0, x > 0.0)' },
};

const binaryExpr: { readonly [K in BinaryOp]: string } = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  eq: 'select(0.0, 1.0, a == b)',
};

/**
 * Loads of `srcs` at output element `i` of `shape`, each broadcast to it. Coordinates are
 * computed only when some source is not read at `i` itself or at its single element.
 */
export function broadcastLoads(shape: readonly number[], srcs: readonly SrcAccess[]): { prelude: string; loads: string[] } {
  let needCoords = false;
  const loads = srcs.map((s) => {
    if (s.literal !== undefined) return s.at('0u');
    if (elementCount(s.shape) === 1) return s.at('0u');
    const strides = broadcastStrides(s.shape, shape);
    if (s.shape.length === shape.length && isContiguous(strides, shape)) return s.at('i');
    needCoords = true;
    return s.at(offsetExpr(strides));
  });
  return { prelude: needCoords ? coordLines(shape, 'i') : '', loads };
}

export function renderUnary(ctx: RenderCtx<UnaryOp>): KernelBody {
  const { expr, helpers } = unaryExpr[ctx.node.op];
  const { prelude, loads } = broadcastLoads(ctx.shape, ctx.src);
  return flatKernel(ctx.numel, ctx.maxWg, `${prelude}  let x = ${loads[0]};\n  ${OUT}[i] = ${expr};\n`, helpers ?? '');
}

export function renderBinary(ctx: RenderCtx<BinaryOp>): KernelBody {
  const { prelude, loads } = broadcastLoads(ctx.shape, ctx.src);
  const body = `${prelude}  let a = ${loads[0]};\n  let b = ${loads[1]};\n  ${OUT}[i] = ${binaryExpr[ctx.node.op]};\n`;
  return flatKernel(ctx.numel, ctx.maxWg, body);
}

/** A `const` that must be a buffer of its own (a root): a fill. */
export function renderConst(ctx: RenderCtx<'const'>): KernelBody {
  return flatKernel(ctx.numel, ctx.maxWg, `  ${OUT}[i] = ${f32Lit(ctx.attrs.value)};\n`);
}

/**
 * What a fused node computes at flat index `i` of its own shape: the body of a WGSL
 * function (see `schedule.ts` fusion), the same expression its standalone kernel stores,
 * plus any helper functions it needs. `render.ts : inliners` has one for every op whose
 * `OpTraits.fusable` is set.
 */
export interface InlineBody {
  body: string;
  helpers: string;
}
export type InlineRenderer<K extends OpKind> = (node: Node<K>, shape: readonly number[], src: readonly SrcAccess[]) => InlineBody;

export const inlineUnary: InlineRenderer<UnaryOp> = (node, shape, src) => {
  const { expr, helpers } = unaryExpr[node.op];
  const { prelude, loads } = broadcastLoads(shape, src);
  return { body: `${prelude}  let x = ${loads[0]};\n  return ${expr};\n`, helpers: helpers ?? '' };
};

export const inlineBinary: InlineRenderer<BinaryOp> = (node, shape, src) => {
  const { prelude, loads } = broadcastLoads(shape, src);
  return { body: `${prelude}  let a = ${loads[0]};\n  let b = ${loads[1]};\n  return ${binaryExpr[node.op]};\n`, helpers: '' };
};

/** expand: the source read through broadcast strides. */
export const inlineBroadcast: InlineRenderer<'expand'> = (_node, shape, src) => {
  const { prelude, loads } = broadcastLoads(shape, src);
  return { body: `${prelude}  return ${loads[0]};\n`, helpers: '' };
};

/** An alias (reshape, detach): buffers are dense row-major, so the same flat index. */
export const inlineIdentity: InlineRenderer<'reshape' | 'detach'> = (_node, _shape, src) => ({
  body: `  return ${src[0]!.at('i')};\n`,
  helpers: '',
});

export const inlineDropoutMask: InlineRenderer<'dropout_mask'> = (node, _shape, src) => ({
  body: `  return ${dropoutValue(node.attrs.p, node.attrs.salt, src[0]!.at('0u'))};\n`,
  helpers: wgslPcgHash,
});

function dropoutValue(p: number, salt: number, seed: string): string {
  const threshold = Math.ceil(p * 4294967296);
  if (threshold > 0xffffffff) return '0.0';
  return `select(0.0, ${f32Lit(1 / (1 - p))}, dropout_bits(bitcast<u32>(${seed}), ${u32Lit(salt >>> 0)}, i) >= ${u32Lit(threshold)})`;
}

/**
 * The reference keeps element i when bits(seed, salt, i) / 2³² ≥ p. Since bits is an
 * integer, that is bits ≥ ⌈p·2³²⌉, an exact u32 comparison (no float rounding to differ).
 */
export function renderDropoutMask(ctx: RenderCtx<'dropout_mask'>): KernelBody {
  const value = dropoutValue(ctx.attrs.p, ctx.attrs.salt, ctx.src[0]!.at('0u'));
  return flatKernel(ctx.numel, ctx.maxWg, `  ${OUT}[i] = ${value};\n`, wgslPcgHash);
}
