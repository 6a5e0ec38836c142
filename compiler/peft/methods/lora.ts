/**
 * LoRA (Hu et al. 2021), as HF peft defines it: y = base(x) + s · B(A(dropout(x))),
 * A: [r, in] Kaiming-uniform (a = √5), B: [out, r] zeros, s = α/r (or α/√r with rsLoRA).
 * B = 0 makes the adapter a no-op at initialisation.
 */
import type { PeftMethod } from '../method.ts';
import { siteInt } from '../method.ts';

const positive = (v: number | boolean) => (typeof v === 'number' && v > 0 ? undefined : 'must be positive');

export const lora: PeftMethod = {
  name: 'lora',
  summary: 'low-rank update B·A added to a Linear layer',
  sites: ['Linear'],
  options: {
    r: { type: 'int', default: 8, doc: 'rank of the update', check: positive },
    alpha: { type: 'float', default: 8, doc: 'scaling numerator (scale = alpha / r)', check: positive },
    dropout: { type: 'float', default: 0, doc: 'dropout on the LoRA branch input', check: (v) => (typeof v === 'number' && v >= 0 && v < 1 ? undefined : 'must be in [0, 1)') },
    rslora: { type: 'bool', default: false, doc: 'scale by alpha / sqrt(r) (rank-stabilised LoRA)' },
  },
  params(site, o) {
    const din = siteInt(site, 'in');
    const dout = siteInt(site, 'out');
    if (din === undefined || dout === undefined) return `\`${site.path}\` has no integer \`in\`/\`out\` arguments`;
    const r = o.r as number;
    return [
      { name: 'lora_A', shape: [r, din], init: { kind: 'kaiming_uniform', a: Math.sqrt(5), fanIn: din } },
      { name: 'lora_B', shape: [dout, r], init: { kind: 'zeros' } },
    ];
  },
  rewrite({ b, args, base, params, options, dropout, origin }) {
    const x = args[0]!;
    const r = options.r as number;
    const alpha = options.alpha as number;
    const scale = options.rslora ? alpha / Math.sqrt(r) : alpha / r;
    const A = params.lora_A!;
    const B = params.lora_B!;
    const down = b.op('matmul', [dropout(x, options.dropout as number), A], { transA: false, transB: true }, origin);
    const up = b.op('matmul', [down, B], { transA: false, transB: true }, origin);
    return b.add(base(args), b.mul(up, b.scalar(scale, origin), origin), origin);
  },
};
