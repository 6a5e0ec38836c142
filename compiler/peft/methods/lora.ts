/**
 * LoRA (Hu et al. 2021), as HF peft defines it: y = base(x) + s · B(A(dropout(x))),
 * s = α/r (or α/√r with rsLoRA), B zeros so the adapter is a no-op at initialisation.
 *
 * - `Linear(in, out)`: A: [r, in] Kaiming-uniform (a = √5), B: [out, r].
 * - `Conv2d(in, out, kernel)` (stride = kernel): as peft, A is a Conv2d(in, r, kernel,
 *   stride kernel) with weight [r, in, k, k] and B a 1×1 Conv2d(r, out) with weight
 *   [out, r, 1, 1]; both are applied as matmuls over non-overlapping k×k patches.
 */
import { isConcrete, shapeToString } from '../../../core/dim.ts';
import type { NodeId } from '../../ir/graph.ts';
import type { Instance } from '../../sema/instance.ts';
import type { AddedParam, MethodOption, MethodOptions, PeftFormat, PeftKey, PeftMethod, RewriteContext } from '../method.ts';
import { paramOf, siteInt } from '../method.ts';
import { positive, probability, rewriteError } from './common.ts';

export const loraOptions: Readonly<Record<string, MethodOption>> = {
  r: { type: 'int', default: 8, doc: 'rank of the update', check: positive },
  alpha: { type: 'float', default: 8, doc: 'scaling numerator (scale = alpha / r)', check: positive },
  dropout: { type: 'float', default: 0, doc: 'dropout on the LoRA branch input', check: probability },
  rslora: { type: 'bool', default: false, doc: 'scale by alpha / sqrt(r) (rank-stabilised LoRA)' },
};

export function loraScale(o: MethodOptions): number {
  const r = o.r as number;
  const alpha = o.alpha as number;
  return o.rslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** LoRA's A and B on a Linear site. */
export function loraLinearParams(site: Instance, o: MethodOptions): AddedParam[] | string {
  const din = siteInt(site, 'in');
  const dout = siteInt(site, 'out');
  if (din === undefined || dout === undefined) return `\`${site.path}\` has no integer \`in\`/\`out\` arguments`;
  const r = o.r as number;
  return [
    { name: 'lora_A', shape: [r, din], init: { kind: 'kaiming_uniform', a: Math.sqrt(5), fanIn: din } },
    { name: 'lora_B', shape: [dout, r], init: { kind: 'zeros' } },
  ];
}

function convParams(site: Instance, o: MethodOptions): AddedParam[] | string {
  const cin = siteInt(site, 'in');
  const cout = siteInt(site, 'out');
  const k = siteInt(site, 'kernel');
  if (cin === undefined || cout === undefined || k === undefined)
    return `\`${site.path}\` has no integer \`in\`/\`out\`/\`kernel\` arguments`;
  const r = o.r as number;
  return [
    { name: 'lora_A', shape: [r, cin, k, k], init: { kind: 'kaiming_uniform', a: Math.sqrt(5), fanIn: cin * k * k } },
    { name: 'lora_B', shape: [cout, r, 1, 1], init: { kind: 'zeros' } },
  ];
}

/** B(A(x)) for a Conv2d site with stride = kernel: x [B, in, H, W] -> [B, out, H/k, W/k]. */
function convUpdate(ctx: RewriteContext, x: NodeId): NodeId {
  const { b, params, site, origin } = ctx;
  const s = b.shape(x);
  const k = siteInt(site, 'kernel')!;
  const [r, cin] = b.shape(params.lora_A!) as number[];
  const cout = b.shape(params.lora_B!)[0]!;
  const [batch, c, h, w] = s;
  if (s.length !== 4 || c !== cin || !isConcrete(h!) || !isConcrete(w!) || h % k !== 0 || w % k !== 0) {
    throw rewriteError(
      `LoRA on the Conv2d \`${site.path}\` needs an input [B, ${cin}, H, W] with H and W multiples of ${k}, got ${shapeToString(s)}`,
      origin,
    );
  }
  const hp = h / k;
  const wp = w / k;
  // Non-overlapping k×k patches, flattened in the (channel, row, column) order of the weight.
  const patches = b.reshape(
    b.permute(b.reshape(x, [batch!, cin!, hp, k, wp, k], origin), [0, 2, 4, 1, 3, 5], origin),
    [batch!, hp * wp, cin! * k * k],
    origin,
  );
  const down = b.op('matmul', [patches, b.reshape(params.lora_A!, [r!, cin! * k * k], origin)], { transA: false, transB: true }, origin);
  const up = b.op('matmul', [down, b.reshape(params.lora_B!, [cout, r!], origin)], { transA: false, transB: true }, origin);
  return b.reshape(b.permute(up, [0, 2, 1], origin), [batch!, cout, hp, wp], origin);
}

/** Tensors of a LORA adapter under their site's module, by milec parameter name. */
const LORA_KEYS = [
  ['lora_A', 'lora_A.weight'],
  ['lora_B', 'lora_B.weight'],
  ['lora_magnitude_vector', 'lora_magnitude_vector'],
] as const;

/** peft's LORA format: one rank and alpha for every target module; DoRA is `use_dora`. */
export function loraPeftFormat(useDora: boolean): PeftFormat {
  return {
    peftType: 'LORA',
    checkedFields: ['r', 'lora_alpha', 'use_dora', 'use_rslora'],
    unsupported({ sites }) {
      const first = JSON.stringify(sites[0]!.attachment.options);
      return sites.every((s) => JSON.stringify(s.attachment.options) === first) ? undefined : 'LoRA options differ between sites';
    },
    config({ sites, targets }) {
      const o = sites[0]!.attachment.options;
      return {
        r: o.r,
        lora_alpha: o.alpha,
        lora_dropout: o.dropout ?? 0,
        target_modules: targets,
        fan_in_fan_out: false,
        bias: 'none',
        use_rslora: Boolean(o.rslora),
        use_dora: useDora,
        init_lora_weights: true,
        layers_to_transform: null,
        layers_pattern: null,
        rank_pattern: {},
        alpha_pattern: {},
      };
    },
    keys({ sites }, moduleKey) {
      const out: PeftKey[] = [];
      for (const s of sites) {
        for (const [name, key] of LORA_KEYS) {
          const p = paramOf(s.attachment, name);
          if (p) out.push({ path: p.path, key: `${moduleKey(s)}.${key}`, shape: p.shape });
        }
      }
      return out;
    },
  };
}

export const lora: PeftMethod = {
  name: 'lora',
  summary: 'low-rank update B·A added to a Linear (or stride-k Conv2d) layer',
  sites: ['Linear', 'Conv2d'],
  options: loraOptions,
  params(site, o) {
    return site.type === 'Conv2d' ? convParams(site, o) : loraLinearParams(site, o);
  },
  rewrite(ctx) {
    const { b, args, base, params, options, dropout, origin, site } = ctx;
    const x = dropout(args[0]!, options.dropout as number);
    let update: NodeId;
    if (site.type === 'Conv2d') update = convUpdate(ctx, x);
    else {
      const down = b.op('matmul', [x, params.lora_A!], { transA: false, transB: true }, origin);
      update = b.op('matmul', [down, params.lora_B!], { transA: false, transB: true }, origin);
    }
    return b.add(base(args), b.mul(update, b.scalar(loraScale(options), origin), origin), origin);
  },
  peftFormat: loraPeftFormat(false),
};
