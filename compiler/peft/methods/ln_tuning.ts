/**
 * LN-tuning (Qi et al. 2022; peft `LN_TUNING`): the selected LayerNorms' own scale and
 * shift train; nothing is added and the forward is unchanged.
 */
import type { PeftMethod } from '../method.ts';

export const lnTuning: PeftMethod = {
  name: 'ln_tuning',
  summary: "trains the selected LayerNorms' own weight and bias",
  sites: ['LayerNorm'],
  options: {},
  trainsSite: true,
  params() {
    return [];
  },
  rewrite({ args, base }) {
    return base(args);
  },
};
