/**
 * Kernel -> WGSL. One renderer per op kind in an exhaustive table (a missing op is a compile
 * error); the families live beside this file. Every shape is concrete here, so sizes and
 * strides are baked into the code as constants: the same op on the same shapes renders to
 * the same text, which the runtime uses as its pipeline cache key.
 *
 * Binding layout of every kernel: binding 0 is the output (read_write), bindings 1.. are
 * `kernel.inputs` in order (read). Folded constants are literals, not bindings.
 */
import type { Graph, Node, NodeId } from '../ir/graph.ts';
import { concreteShape } from '../ir/graph.ts';
import type { OpKind } from '../ops/kinds.ts';
import type { Kernel } from '../fuse/schedule.ts';
import { type KernelBody, type RenderCtx, type RenderOptions, OUT, inputVar, size, sourceAccess, wgslPrelude, wgslType } from './common.ts';
import { inlineBody, renderBinary, renderConst, renderDropoutMask, renderUnary } from './elementwise.ts';
import { renderMatmul } from './matmul.ts';
import { renderConcat, renderExpand, renderGather, renderOneHot, renderDetach, renderCausalMask, renderPad, renderPermute, renderReshape, renderScatterAdd, renderSlice } from './movement.ts';
import { renderReduce, renderRowOp } from './reduce.ts';

export type { KernelTarget, RenderOptions } from './common.ts';

export interface ShaderModule {
  kernel: number;
  /** The op the kernel runs: its output node's, or its core's (a matmul with an epilogue). For plans, profiles and error messages. */
  op: OpKind;
  code: string;
  entryPoint: string;
  workgroups: [number, number, number];
  /** In binding order: `bindings[i]` is `@binding(i)`. */
  bindings: { node: NodeId; access: 'read' | 'read_write' }[];
}

type Renderer<K extends OpKind> = (ctx: RenderCtx<K>) => KernelBody;

const leaf = (ctx: RenderCtx<'param' | 'input'>): never => {
  throw new Error(`%${ctx.node.id} is a ${ctx.node.op}: leaves are buffers, not kernels`);
};

export const renderers: { readonly [K in OpKind]: Renderer<K> } = {
  param: leaf,
  input: leaf,
  const: renderConst,
  neg: renderUnary,
  exp: renderUnary,
  log: renderUnary,
  tanh: renderUnary,
  sqrt: renderUnary,
  recip: renderUnary,
  sigmoid: renderUnary,
  relu: renderUnary,
  gelu: renderUnary,
  gelu_grad: renderUnary,
  step: renderUnary,
  add: renderBinary,
  sub: renderBinary,
  mul: renderBinary,
  div: renderBinary,
  eq: renderBinary,
  sum: renderReduce,
  max: renderReduce,
  matmul: renderMatmul,
  reshape: renderReshape,
  permute: renderPermute,
  expand: renderExpand,
  slice: renderSlice,
  pad: renderPad,
  concat: renderConcat,
  gather: renderGather,
  scatter_add: renderScatterAdd,
  one_hot: renderOneHot,
  detach: renderDetach,
  causal_mask: renderCausalMask,
  softmax: renderRowOp,
  log_softmax: renderRowOp,
  normalize: renderRowOp,
  normalize_grad: renderRowOp,
  dropout_mask: renderDropoutMask,
};

/** Helper WGSL (erf, the dropout hash) that the fused functions need and the body lacks. */
function dedupeHelpers(helpers: Set<string>, body: string): string {
  return [...helpers].filter((h) => !body.includes(h)).join('');
}

function render<K extends OpKind>(ctx: RenderCtx<K>): KernelBody {
  return (renderers[ctx.node.op] as Renderer<K>)(ctx);
}

export function renderKernel(g: Graph, k: Kernel, opts: RenderOptions = {}): ShaderModule {
  if (!k.nodes.includes(k.output)) throw new Error(`kernel ${k.id}: its nodes do not include its output %${k.output}`);
  // Fused producers become functions of the element index, named by position in the kernel
  // (not by node id, so identical kernels still share one pipeline).
  // With an epilogue, the core (a matmul) is rendered and `output` applies at its stores.
  const coreId = k.core ?? k.output;
  const fused = k.nodes.filter((id) => id !== k.output && id !== coreId);
  const inlined = (s: NodeId) => (fused.includes(s) ? `fused${fused.indexOf(s)}` : undefined);
  const helperSet = new Set<string>();
  const fns: string[] = [];
  for (const id of fused) {
    const n = g.nodes[id]! as Node;
    const { body, helpers } = inlineBody(n, concreteShape(n.shape), sourceAccess(g, k, n.src, inlined));
    if (helpers) helperSet.add(helpers);
    fns.push(`fn ${inlined(id)}(i: u32) -> f32 {\n${body}}\n`);
  }
  let epilogue = '';
  if (coreId !== k.output) {
    const out = g.nodes[k.output]! as Node;
    const core = g.nodes[coreId]!;
    const src = out.src.map((s) =>
      s === coreId ? { shape: concreteShape(core.shape), dtype: core.dtype, literal: undefined, at: () => 'v' } : sourceAccess(g, k, [s], inlined)[0]!,
    );
    const { body, helpers } = inlineBody(out, concreteShape(out.shape), src);
    if (helpers) helperSet.add(helpers);
    epilogue = `fn epilogue(i: u32, v: f32) -> f32 {\n${body}}\n`;
  }
  const node = g.nodes[coreId]! as Node;
  const shape = concreteShape(node.shape);
  const srcs = k.concatPart ? node.src.slice(k.concatPart.first, k.concatPart.first + k.concatPart.count) : node.src;
  const ctx: RenderCtx<OpKind> = {
    g,
    kernel: k,
    node,
    attrs: node.attrs,
    shape,
    numel: size(shape),
    dtype: node.dtype,
    src: sourceAccess(g, k, srcs, inlined),
    maxWg: opts.maxWorkgroupsPerDim ?? 65535,
    target: opts.target ?? 'gpu',
    store: (idx, value) => (epilogue ? `${OUT}[${idx}] = epilogue(${idx}, ${value});` : `${OUT}[${idx}] = ${value};`),
  };
  const body = render(ctx);
  const decls = [`@group(0) @binding(0) var<storage, read_write> ${OUT}: array<${wgslType(g.nodes[k.output]!.dtype)}>;`];
  k.inputs.forEach((id, i) => decls.push(`@group(0) @binding(${i + 1}) var<storage, read> ${inputVar(i)}: array<${wgslType(g.nodes[id]!.dtype)}>;`));
  // No node or kernel ids in the text: identical kernels share one pipeline.
  const ops = fused.length ? ` ⊃ ${fused.map((id) => g.nodes[id]!.op).join(', ')}` : '';
  const then = epilogue ? ` → ${g.nodes[k.output]!.op}` : '';
  const code = `// ${node.op}${ops}${then} -> [${shape.join(', ')}]\n${decls.join('\n')}\n${wgslPrelude}${dedupeHelpers(helperSet, body.code)}${fns.join('')}${epilogue}${body.code}`;
  return {
    kernel: k.id,
    op: node.op,
    code,
    entryPoint: 'main',
    workgroups: body.workgroups,
    bindings: [{ node: k.output, access: 'read_write' }, ...k.inputs.map((node) => ({ node, access: 'read' as const }))],
  };
}
