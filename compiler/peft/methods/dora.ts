/**
 * DoRA (Liu et al. 2024), as HF peft's `use_dora`: LoRA plus a trainable magnitude
 * m ∈ R^out, initialised to the row norms of W + s·BA (= of W, since B = 0 at init):
 *
 *   y = base(x) + (m/‖W + sBA‖ − 1) ⊙ (x̃ Wᵀ) + (m/‖W + sBA‖) ⊙ s·(x̃ Aᵀ Bᵀ),   x̃ = dropout(x)
 *
 * with the row norm detached (the paper's §4.3, so no gradient flows through it). With
 * dropout off, x̃ = x and the first two terms are exactly m/‖·‖ ⊙ (x Wᵀ) + bias.
 */
import type { PeftMethod } from '../method.ts';
import { linear } from './common.ts';
import { loraLinearParams, loraOptions, loraPeftFormat, loraScale } from './lora.ts';

export const dora: PeftMethod = {
  name: 'dora',
  summary: 'weight-decomposed LoRA: a low-rank direction update plus a trainable magnitude per output',
  sites: ['Linear'],
  options: loraOptions,
  params(site, o) {
    const ab = loraLinearParams(site, o);
    if (typeof ab === 'string') return ab;
    const w = site.params.find((p) => p.name === 'weight');
    if (!w || w.shape.length !== 2) return `\`${site.path}\` has no 2-D \`weight\` to take the magnitude of`;
    return [...ab, { name: 'lora_magnitude_vector', shape: [w.shape[0]!], init: { kind: 'row_norm', of: w.path } }];
  },
  rewrite({ b, args, base, params, siteParams, options, dropout, origin }) {
    const s = b.scalar(loraScale(options), origin);
    const A = params.lora_A!;
    const B = params.lora_B!;
    const m = params.lora_magnitude_vector!;
    const W = siteParams.weight!;
    // ‖W + s·BA‖ per output row, detached.
    const merged = b.add(W, b.mul(b.op('matmul', [B, A], { transA: false, transB: false }, origin), s, origin), origin);
    const norm = b.op('detach', [b.op('sqrt', [b.sum(b.mul(merged, merged, origin), [1], false, origin)], {}, origin)], {}, origin);
    const mag = b.div(m, norm, origin);
    const x = dropout(args[0]!, options.dropout as number);
    const xw = linear(b, x, W, undefined, origin);
    const update = linear(b, linear(b, x, A, undefined, origin), B, undefined, origin);
    const one = b.scalar(1, origin);
    return b.add(
      b.add(base(args), b.mul(b.sub(mag, one, origin), xw, origin), origin),
      b.mul(b.mul(mag, s, origin), update, origin),
      origin,
    );
  },
  peftFormat: loraPeftFormat(true),
};
