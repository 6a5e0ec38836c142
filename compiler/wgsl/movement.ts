/**
 * Data movement and indexing kernels. Each is one invocation per output element that
 * computes where its value comes from: movement ops are strided reads (permute, expand,
 * slice), or reads guarded by a range test (pad, concat); indexing ops read i32 ids.
 * Movement ops also carry i32 tensors (reshaped or sliced ids), so they use the node's dtype.
 */
import { elementCount } from '../../core/dim.ts';
import {
  type KernelBody,
  type RenderCtx,
  type SrcAccess,
  NAN,
  OUT,
  coordLines,
  flatKernel,
  loopCount,
  offsetExpr,
  stridesOf,
  u32Lit,
  wgslType,
} from './common.ts';
import { broadcastLoads, type InlineRenderer } from './elementwise.ts';

/** A reshape that could not alias its source (a root over a param, input or literal): a copy. */
export function renderReshape(ctx: RenderCtx<'reshape'>): KernelBody {
  return flatKernel(ctx.numel, ctx.maxWg, `  ${OUT}[i] = ${ctx.src[0]!.at('i')};\n`);
}

export function renderExpand(ctx: RenderCtx<'expand'>): KernelBody {
  const { prelude, loads } = broadcastLoads(ctx.shape, ctx.src);
  return flatKernel(ctx.numel, ctx.maxWg, `${prelude}  ${OUT}[i] = ${loads[0]};\n`);
}

/** A permute fused into its consumer: the source read at the permuted coordinates of element i. */
export const inlinePermute: InlineRenderer<'permute'> = (node, shape, src) => {
  const st = stridesOf(src[0]!.shape);
  return { body: `${coordLines(shape, 'i')}  return ${src[0]!.at(offsetExpr(node.attrs.perm.map((p) => st[p]!)))};\n`, helpers: '' };
};

/** A slice fused into its consumer: the source read at element i's coordinates plus the ranges' starts. */
export const inlineSlice: InlineRenderer<'slice'> = (node, shape, src) => {
  const st = stridesOf(src[0]!.shape);
  const base = node.attrs.ranges.reduce((acc, r, d) => acc + r.start * st[d]!, 0);
  return { body: `${coordLines(shape, 'i')}  return ${src[0]!.at(offsetExpr(st, base))};\n`, helpers: '' };
};

export function renderPermute(ctx: RenderCtx<'permute'>): KernelBody {
  const st = stridesOf(ctx.src[0]!.shape);
  const strides = ctx.attrs.perm.map((p) => st[p]!);
  return flatKernel(ctx.numel, ctx.maxWg, `${coordLines(ctx.shape, 'i')}  ${ctx.store('i', ctx.src[0]!.at(offsetExpr(strides)))}\n`);
}

export function renderSlice(ctx: RenderCtx<'slice'>): KernelBody {
  const st = stridesOf(ctx.src[0]!.shape);
  const base = ctx.attrs.ranges.reduce((acc, r, d) => acc + r.start * st[d]!, 0);
  return flatKernel(ctx.numel, ctx.maxWg, `${coordLines(ctx.shape, 'i')}  ${ctx.store('i', ctx.src[0]!.at(offsetExpr(st, base)))}\n`);
}

export function renderPad(ctx: RenderCtx<'pad'>): KernelBody {
  const src = ctx.src[0]!;
  const st = stridesOf(src.shape);
  const { before } = ctx.attrs;
  const conds: string[] = [];
  const terms: string[] = [];
  src.shape.forEach((d, ax) => {
    const b = before[ax]!;
    if (b !== 0 || d !== ctx.shape[ax]) {
      // u32 wraps below `b`, so one comparison tests both ends of the range.
      conds.push(`c${ax} - ${u32Lit(b)} < ${u32Lit(d)}`);
    }
    if (st[ax] !== 0 && d !== 1) terms.push(b === 0 ? `c${ax} * ${st[ax]}u` : `(c${ax} - ${u32Lit(b)}) * ${st[ax]}u`);
  });
  const off = terms.length ? terms.join(' + ') : '0u';
  const body = `${coordLines(ctx.shape, 'i')}  var v = 0.0;
  if (${conds.length ? conds.join(' && ') : 'true'}) { v = ${src.at(off)}; }
  ${OUT}[i] = v;
`;
  return flatKernel(ctx.numel, ctx.maxWg, body);
}

/**
 * Writes the region of the output that this kernel's sources cover (all of it, unless the
 * concat was split across kernels to respect the binding limit): the first matching
 * source along the concat axis supplies each element.
 */
export function renderConcat(ctx: RenderCtx<'concat'>): KernelBody {
  const ax = ctx.attrs.axis;
  const all = ctx.node.src.map((s) => ctx.g.nodes[s]!.shape[ax] as number);
  const part = ctx.kernel.concatPart ?? { first: 0, count: all.length };
  const regionStart = all.slice(0, part.first).reduce((a, b) => a + b, 0);
  const region = [...ctx.shape];
  region[ax] = ctx.src.reduce((a, s) => a + s.shape[ax]!, 0);
  const outStrides = stridesOf(ctx.shape);
  const lines: string[] = [];
  let at = 0;
  ctx.src.forEach((s, j) => {
    const st = stridesOf(s.shape);
    const terms = st
      .map((v, d) =>
        s.shape[d] === 1 ? '' : d === ax ? (at === 0 ? `c${d} * ${v}u` : `(c${d} - ${u32Lit(at)}) * ${v}u`) : `c${d} * ${v}u`,
      )
      .filter(Boolean);
    const load = s.at(terms.length ? terms.join(' + ') : '0u');
    at += s.shape[ax]!;
    const last = j === ctx.src.length - 1;
    lines.push(last ? `  ${j ? 'else ' : ''}{ v = ${load}; }` : `  ${j ? 'else ' : ''}if (c${ax} < ${u32Lit(at)}) { v = ${load}; }`);
  });
  const body = `${coordLines(region, 'i')}  var v: ${wgslType(ctx.dtype)};
${lines.join('\n')}
  ${OUT}[${offsetExpr(outStrides, regionStart * outStrides[ax]!)}] = v;
`;
  return flatKernel(elementCount(region), ctx.maxWg, body);
}

/**
 * out[..idx, ..rest] = table[ids[..idx], ..rest]. The reference throws on an id outside
 * the table; a kernel cannot, so it writes NaN there: the loss turns NaN instead of the
 * run silently training on a clamped row.
 */
export function renderGather(ctx: RenderCtx<'gather'>): KernelBody {
  const [table, ids] = [ctx.src[0]!, ctx.src[1]!];
  const V = table.shape[0]!;
  const R = elementCount(table.shape.slice(1));
  const body = `  let j = i % ${u32Lit(R)};
  let id = ${ids.at(`i / ${u32Lit(R)}`)};
  var v = ${NAN};
  if (id >= 0 && id < ${V}) { v = ${table.at(`u32(id) * ${u32Lit(R)} + j`)}; }
  ${OUT}[i] = v;
`;
  return flatKernel(ctx.numel, ctx.maxWg, body);
}

/**
 * out[r, j] = Σ_{t: ids[t] = r} g[t, j]. WGSL has no float atomics, so each output element
 * scans all ids in order: deterministic, and ids outside [0, rows) add nowhere.
 * O(rows · row · ids) work; fine for LoRA-sized tables, to be replaced by a sort-based
 * kernel if full embedding tables are trained.
 */
export function renderScatterAdd(ctx: RenderCtx<'scatter_add'>): KernelBody {
  const [ids, g] = [ctx.src[0]!, ctx.src[1]!];
  const n = elementCount(ids.shape);
  const R = elementCount(ctx.shape.slice(1));
  const body = `  let r = i32(i / ${u32Lit(R)});
  let j = i % ${u32Lit(R)};
  var acc = 0.0;
  for (var t = 0u; t < ${loopCount(ctx.target, n)}; t++) {
    if (${ids.at('t')} == r) { acc += ${g.at(`t * ${u32Lit(R)} + j`)}; }
  }
  ${OUT}[i] = acc;
`;
  return flatKernel(ctx.numel, ctx.maxWg, body);
}

/** A label outside [0, classes) matches no class: an all-zero row, as in the reference. */
/** A copy, for when a detach must own its buffer (a root aliasing a leaf). */
export function renderDetach(ctx: RenderCtx<'detach'>): KernelBody {
  return flatKernel(ctx.numel, ctx.maxWg, `  ${OUT}[i] = ${ctx.src[0]!.at('i')};\n`);
}

export function renderCausalMask(ctx: RenderCtx<'causal_mask'>): KernelBody {
  const { rows, cols } = ctx.attrs;
  const body = `  ${OUT}[i] = ${causalValue(rows, cols)};\n`;
  return flatKernel(ctx.numel, ctx.maxWg, body);
}

function causalValue(rows: number, cols: number): string {
  return `select(-1e9, 0.0, i % ${u32Lit(cols)} <= i / ${u32Lit(cols)} + ${u32Lit(cols - rows)})`;
}

function oneHotValue(classes: number, labels: SrcAccess): string {
  return `select(0.0, 1.0, ${labels.at(`i / ${u32Lit(classes)}`)} == i32(i % ${u32Lit(classes)}))`;
}

/** A causal mask computed where it is read (a softmax's bias): a function of the element index alone. */
export const inlineCausalMask: InlineRenderer<'causal_mask'> = (node) => ({
  body: `  return ${causalValue(node.attrs.rows, node.attrs.cols)};\n`,
  helpers: '',
});

/** A one-hot row computed where it is read (the cross-entropy's pick and its gradient), from the labels buffer. */
export const inlineOneHot: InlineRenderer<'one_hot'> = (node, _shape, src) => ({
  body: `  return ${oneHotValue(node.attrs.classes, src[0]!)};\n`,
  helpers: '',
});

export function renderOneHot(ctx: RenderCtx<'one_hot'>): KernelBody {
  const body = `  ${OUT}[i] = ${oneHotValue(ctx.attrs.classes, ctx.src[0]!)};\n`;
  return flatKernel(ctx.numel, ctx.maxWg, body);
}
