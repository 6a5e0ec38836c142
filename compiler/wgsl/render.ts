/**
 * Kernel -> WGSL. One renderer per op kind in an exhaustive table (a missing op is a compile
 * error); the families live beside this file. Every shape is concrete here, so sizes and
 * strides are baked into the code as constants: the same op on the same shapes renders to
 * the same text, which the runtime uses as its pipeline cache key.
 *
 * Binding layout of every kernel: binding 0 is the output (read_write), bindings 1.. are
 * `kernel.inputs` in order (read). Folded constants are literals, not bindings.
 */
import { elementCount } from '../../core/dim.ts';
import type { Graph, Node, NodeId } from '../ir/graph.ts';
import { concreteShape } from '../ir/graph.ts';
import type { OpKind } from '../ops/kinds.ts';
import type { Kernel } from '../fuse/kernel.ts';
import { NodeStorage } from '../fuse/storage.ts';
import {
  type KernelBody,
  type RenderCtx,
  type RenderOptions,
  type SrcAccess,
  OUT,
  inputVar,
  sourceAccess,
  wgslPrelude,
  wgslType,
} from './common.ts';
import {
  type InlineBody,
  type InlineRenderer,
  inlineBinary,
  inlineBroadcast,
  inlineDropoutMask,
  inlineIdentity,
  inlineUnary,
  renderBinary,
  renderConst,
  renderDropoutMask,
  renderUnary,
} from './elementwise.ts';
import { renderMatmul } from './matmul.ts';
import {
  renderConcat,
  renderExpand,
  renderGather,
  renderOneHot,
  renderDetach,
  renderCausalMask,
  renderPad,
  renderPermute,
  inlineCausalMask,
  inlineOneHot,
  inlinePermute,
  inlineSlice,
  renderReshape,
  renderScatterAdd,
  renderSlice,
} from './movement.ts';
import { renderReduce, renderRowOp } from './reduce.ts';

export type { KernelTarget, RenderOptions } from './common.ts';

/** The private variable that holds an epilogue core's value while its consumer chain runs. */
const CORE_VALUE = 'core_v';

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

/**
 * What each op computes when it is fused into its consumer's kernel (`OpTraits.fusable`):
 * null for an op that always has a kernel or a buffer of its own. `tests/ops/traits.test.ts`
 * checks that exactly the fusable ops have one.
 */
export const inliners: { readonly [K in OpKind]: InlineRenderer<K> | null } = {
  param: null,
  input: null,
  const: null,
  neg: inlineUnary,
  exp: inlineUnary,
  log: inlineUnary,
  tanh: inlineUnary,
  sqrt: inlineUnary,
  recip: inlineUnary,
  sigmoid: inlineUnary,
  relu: inlineUnary,
  gelu: inlineUnary,
  gelu_grad: inlineUnary,
  step: inlineUnary,
  add: inlineBinary,
  sub: inlineBinary,
  mul: inlineBinary,
  div: inlineBinary,
  eq: inlineBinary,
  sum: null,
  max: null,
  matmul: null,
  reshape: inlineIdentity,
  permute: inlinePermute,
  expand: inlineBroadcast,
  slice: inlineSlice,
  pad: null,
  concat: null,
  gather: null,
  scatter_add: null,
  one_hot: inlineOneHot,
  detach: inlineIdentity,
  causal_mask: inlineCausalMask,
  softmax: null,
  log_softmax: null,
  normalize: null,
  normalize_grad: null,
  dropout_mask: inlineDropoutMask,
};

function inlineBody<K extends OpKind>(node: Node<K>, shape: readonly number[], src: readonly SrcAccess[]): InlineBody {
  const inline = inliners[node.op] as InlineRenderer<K> | null;
  if (inline === null) throw new Error(`%${node.id} (${node.op}) cannot be inlined`);
  return inline(node, shape, src);
}

/** Helper WGSL (erf, the dropout hash) that the fused functions need and the body lacks. */
function dedupeHelpers(helpers: Set<string>, body: string): string {
  return [...helpers].filter((h) => !body.includes(h)).join('');
}

function render<K extends OpKind>(ctx: RenderCtx<K>): KernelBody {
  return (renderers[ctx.node.op] as Renderer<K>)(ctx);
}

/** `storage`: the graph's storage view, shared by every kernel of a plan (built here when not given). */
export function renderKernel(g: Graph, k: Kernel, opts: RenderOptions = {}, storage: NodeStorage = new NodeStorage(g)): ShaderModule {
  if (!k.nodes.includes(k.output)) throw new Error(`kernel ${k.id}: its nodes do not include its output %${k.output}`);
  // Fused producers become functions of the element index, named by position in the kernel
  // (not by node id, so identical kernels still share one pipeline).
  // With an epilogue, the core (a matmul, reduction, row op, …) is rendered and `output`, with
  // the chain of fused elementwise nodes between them, applies at its stores: the stored value
  // goes to a private variable that the chain reads where it reads the core.
  const coreId = k.core ?? k.output;
  const fused = k.nodes.filter((id) => id !== k.output && id !== coreId);
  const inlined = (s: NodeId) => (fused.includes(s) ? `fused${fused.indexOf(s)}` : undefined);
  const withEpilogue = coreId !== k.output;
  const access = (srcs: readonly NodeId[]) =>
    srcs.map((s) =>
      withEpilogue && s === coreId
        ? { shape: concreteShape(g.nodes[s]!.shape), dtype: g.nodes[s]!.dtype, literal: undefined, at: () => CORE_VALUE }
        : sourceAccess(storage, k, [s], inlined)[0]!,
    );
  const helperSet = new Set<string>();
  const fns: string[] = [];
  for (const id of fused) {
    const n = g.nodes[id]! as Node;
    const { body, helpers } = inlineBody(n, concreteShape(n.shape), access(n.src));
    if (helpers) helperSet.add(helpers);
    fns.push(`fn ${inlined(id)}(i: u32) -> f32 {\n${body}}\n`);
  }
  let epilogue = '';
  if (withEpilogue) {
    const out = g.nodes[k.output]! as Node;
    const { body, helpers } = inlineBody(out, concreteShape(out.shape), access(out.src));
    if (helpers) helperSet.add(helpers);
    epilogue = `var<private> ${CORE_VALUE}: f32;\nfn epilogue(i: u32, v: f32) -> f32 {\n  ${CORE_VALUE} = v;\n${body}}\n`;
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
    numel: elementCount(shape),
    dtype: node.dtype,
    src: sourceAccess(storage, k, srcs, inlined),
    maxWg: opts.maxWorkgroupsPerDim ?? 65535,
    target: opts.target ?? 'gpu',
    store: (idx, value) => (epilogue ? `${OUT}[${idx}] = epilogue(${idx}, ${value});` : `${OUT}[${idx}] = ${value};`),
  };
  const body = render(ctx);
  const decls = [`@group(0) @binding(0) var<storage, read_write> ${OUT}: array<${wgslType(g.nodes[k.output]!.dtype)}>;`];
  k.inputs.forEach((id, i) =>
    decls.push(`@group(0) @binding(${i + 1}) var<storage, read> ${inputVar(i)}: array<${wgslType(g.nodes[id]!.dtype)}>;`),
  );
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
