/**
 * Reductions (`sum`, `max` over any axes) and the row ops over the last axis (softmax,
 * log_softmax, normalize, normalize_grad). Row ops use one workgroup per row with
 * shared-memory tree reductions, since rows can be a vocabulary long. Every reduction is
 * in a fixed order, so results are deterministic run to run.
 */
import { elementCount } from '../../core/dim.ts';
import {
  type KernelBody,
  type RenderCtx,
  NEG_INF,
  OUT,
  coordLines,
  f32Lit,
  flatKernel,
  loopCount,
  rowKernel,
  stridesOf,
  u32Lit,
  wgReduceFns,
} from './common.ts';

/** `Σ coord·stride` over a subset of the source axes, with coordinates named `${p}j`. */
function subsetOffset(axes: readonly number[], st: readonly number[], shape: readonly number[], p: string): string {
  const terms = axes.map((a, j) => (shape[a] === 1 ? '' : st[a] === 1 ? `${p}${j}` : `${p}${j} * ${st[a]}u`)).filter(Boolean);
  return terms.length ? terms.join(' + ') : '0u';
}

/**
 * Two strategies, both one pass over the input:
 *  - one invocation per output element looping over its reduced elements: coalesced when
 *    the kept axes are innermost (column sums such as a bias gradient);
 *  - one workgroup per output element, its invocations striding over the reduced elements
 *    and combining in shared memory: for long reductions (the loss, row sums), where one
 *    invocation per output would leave the GPU idle (not on the `cpu` target, where the
 *    shared-memory combine costs more than the loop it splits).
 */
/** How each reduction combines elements: its WGSL step, its identity, and its workgroup tree reduction (`wgReduceFns`). */
const reductions: { readonly [K in 'sum' | 'max']: { combine: (acc: string, x: string) => string; init: string; workgroupTotal: string } } =
  {
    sum: { combine: (acc, x) => `${acc} + ${x}`, init: '0.0', workgroupTotal: 'wg_sum' },
    // The reference's max is `x > acc ? x : acc`; select keeps that NaN behaviour.
    max: { combine: (acc, x) => `select(${acc}, ${x}, ${x} > ${acc})`, init: NEG_INF, workgroupTotal: 'wg_max' },
  };

export function renderReduce(ctx: RenderCtx<'sum' | 'max'>): KernelBody {
  const src = ctx.src[0]!;
  const shape = src.shape;
  const axes = ctx.attrs.axes;
  const kept = shape.map((_, a) => a).filter((a) => !axes.includes(a));
  const keptShape = kept.map((a) => shape[a]!);
  const redShape = axes.map((a) => shape[a]!);
  const R = elementCount(redShape);
  const st = stridesOf(shape);
  const { combine, init, workgroupTotal } = reductions[ctx.node.op];
  // Reducing trailing axes: each output reads one contiguous run.
  const trailing = axes.every((a, j) => a === shape.length - axes.length + j);
  const offsets = (outIdx: string, red: string) => {
    if (trailing) return { pre: '', base: `${outIdx} * ${u32Lit(R)}`, preR: '', off: red };
    return {
      pre: coordLines(keptShape, outIdx, 'k'),
      base: subsetOffset(kept, st, shape, 'k'),
      preR: coordLines(redShape, red, 'q').replace(/^ {2}/gm, '    '),
      off: subsetOffset(axes, st, shape, 'q'),
    };
  };
  const innerReduced = axes.includes(shape.length - 1);
  if (ctx.target === 'gpu' && R >= 256 && (innerReduced || ctx.numel < 4096)) {
    const wg = 256;
    const o = offsets('row', 'r');
    const body = `${o.pre}  let base = ${o.base};
  var acc = ${init};
  for (var r = lid; r < ${u32Lit(R)}; r += ${wg}u) {
${o.preR}    let x = ${src.at(`base + ${o.off}`)};
    acc = ${combine('acc', 'x')};
  }
  let total = ${workgroupTotal}(lid, acc);
  if (lid == 0u) { ${ctx.store('row', 'total')} }
`;
    return rowKernel(ctx.numel, wg, ctx.maxWg, body, wgReduceFns(wg));
  }
  const o = offsets('i', 'r');
  const body = `${o.pre}  let base = ${o.base};
  var acc = ${init};
  for (var r = 0u; r < ${loopCount(ctx.target, R)}; r++) {
${o.preR}    let x = ${src.at(`base + ${o.off}`)};
    acc = ${combine('acc', 'x')};
  }
  ${ctx.store('i', 'acc')}
`;
  return flatKernel(ctx.numel, ctx.maxWg, body, '', 64);
}

/**
 * Row ops over the last axis. On a GPU one workgroup takes a row, its invocations striding
 * over the elements and combining partial results in workgroup memory (rows can be a
 * vocabulary long). On the `cpu` target one invocation takes a row and loops over it: no
 * barriers, and 16 rows per workgroup keep both the SIMD lanes and the CPU threads busy.
 */
type RowOp = 'softmax' | 'log_softmax' | 'normalize' | 'normalize_grad';

export function renderRowOp(ctx: RenderCtx<RowOp>): KernelBody {
  const D = ctx.shape[ctx.shape.length - 1]!;
  const rows = D === 0 ? 0 : ctx.numel / D;
  const serial = ctx.target === 'cpu';
  const wg = D >= 1024 ? 256 : 64;
  const x = (j = 'j') => ctx.src[0]!.at(`base + ${j}`);
  const loop = serial ? `for (var j = 0u; j < ${loopCount(ctx.target, D)}; j++)` : `for (var j = lid; j < ${u32Lit(D)}; j += ${wg}u)`;
  // Combines the invocations' partial results; one invocation per row has nothing to combine.
  const total = (fn: 'wg_sum' | 'wg_max', v: string) => (serial ? v : `${fn}(lid, ${v})`);
  const invD = f32Lit(1 / D);
  // Mean and 1/sqrt(biased variance + eps), in two passes for accuracy.
  const stats = (eps: number) => `  var s1 = 0.0;
  ${loop} { s1 += ${x()}; }
  let mean = ${total('wg_sum', 's1')} * ${invD};
  var s2 = 0.0;
  ${loop} { let d = ${x()} - mean; s2 += d * d; }
  let rstd = 1.0 / sqrt(${total('wg_sum', 's2')} * ${invD} + ${f32Lit(eps)});
`;
  const maxAndSum = `  var m = ${NEG_INF};
  ${loop} { m = max(m, ${x()}); }
  m = ${total('wg_max', 'm')};
  var s = 0.0;
  ${loop} { s += exp(${x()} - m); }
  s = ${total('wg_sum', 's')};
`;
  let body: string;
  switch (ctx.node.op) {
    case 'softmax':
      body = `${maxAndSum}  let inv = 1.0 / s;
  ${loop} { ${ctx.store('base + j', `exp(${x()} - m) * inv`)} }
`;
      break;
    case 'log_softmax':
      body = `${maxAndSum}  let lse = m + log(s);
  ${loop} { ${ctx.store('base + j', `${x()} - lse`)} }
`;
      break;
    case 'normalize':
      body = `${stats((ctx.attrs as { eps: number }).eps)}  ${loop} { ${ctx.store('base + j', `(${x()} - mean) * rstd`)} }
`;
      break;
    case 'normalize_grad': {
      const dy = ctx.src[1]!.at('base + j');
      body = `${stats((ctx.attrs as { eps: number }).eps)}  var t1 = 0.0;
  var t2 = 0.0;
  ${loop} { let g = ${dy}; t1 += g; t2 += g * (${x()} - mean); }
  let mdy = ${total('wg_sum', 't1')} * ${invD};
  let mdyx = ${total('wg_sum', 't2')} * ${invD} * rstd;
  ${loop} { ${ctx.store('base + j', `rstd * (${dy} - mdy - (${x()} - mean) * rstd * mdyx)`)} }
`;
      break;
    }
  }
  if (serial) return flatKernel(rows, ctx.maxWg, `  let row = i;\n  let base = row * ${u32Lit(D)};\n${body}`, '', 16);
  return rowKernel(rows, wg, ctx.maxWg, `  let base = row * ${u32Lit(D)};\n${body}`, wgReduceFns(wg));
}
