/**
 * LN-tuning (Qi et al. 2022; peft `LN_TUNING`): the selected LayerNorms' own scale and
 * shift train; nothing is added and the forward is unchanged.
 *
 * peft replaces each target LayerNorm by a layer holding a trainable copy in
 * `ln_tuning_layers[<adapter>]`, so its saved keys (adapter name stripped) are
 * `base_model.model.<module>.ln_tuning_layers.weight` and `.bias`; the config lists the
 * LayerNorms as `target_modules` (modules the tune trains with `train` are `modules_to_save`).
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
  peftFormat: {
    peftType: 'LN_TUNING',
    checkedFields: [],
    config({ targets }) {
      return { target_modules: targets, exclude_modules: null };
    },
    keys({ sites }, moduleKey) {
      return sites.flatMap((s) =>
        s.instance.params.map((p) => ({ path: p.path, key: `${moduleKey(s)}.ln_tuning_layers.${p.name}`, shape: p.shape })),
      );
    },
  },
};
