/**
 * IA3 (Liu et al. 2022), as HF peft: a learned vector `ia3_l`, initialised to ones, that
 * rescales a Linear's output (`base(x) ⊙ l`, l ∈ R^out: attention keys and values) or, for
 * feed-forward modules, its input (`base(x ⊙ l)`, l ∈ R^in). A no-op at initialisation.
 */
import type { PeftMethod } from '../method.ts';
import { paramOf, siteInt } from '../method.ts';

export const ia3: PeftMethod = {
  name: 'ia3',
  summary: 'learned rescaling of a Linear output (or input, for feed-forward layers)',
  sites: ['Linear'],
  options: {
    feedforward: { type: 'bool', default: false, doc: 'scale the input (peft `feedforward_modules`) instead of the output' },
  },
  params(site, o) {
    const width = siteInt(site, o.feedforward ? 'in' : 'out');
    if (width === undefined) return `\`${site.path}\` has no integer \`${o.feedforward ? 'in' : 'out'}\` argument`;
    return [{ name: 'ia3_l', shape: [width], init: { kind: 'ones' } }];
  },
  rewrite({ b, args, base, params, options, origin }) {
    const l = params.ia3_l!;
    if (options.feedforward) return base([b.mul(args[0]!, l, origin), ...args.slice(1)]);
    return b.mul(base(args), l, origin);
  },
  // peft stores `ia3_l` as [out, 1], or [1, in] for `feedforward_modules`.
  peftFormat: {
    peftType: 'IA3',
    checkedFields: [],
    config: ({ sites, targets }) => ({
      target_modules: targets,
      feedforward_modules: sites.filter((s) => s.attachment.options.feedforward).map((s) => s.module),
      fan_in_fan_out: false,
      init_ia3_weights: true,
    }),
    keys: ({ sites }, moduleKey) =>
      sites.map((s) => {
        const l = paramOf(s.attachment, 'ia3_l')!;
        return {
          path: l.path,
          key: `${moduleKey(s)}.ia3_l`,
          shape: s.attachment.options.feedforward ? [1, l.shape[0]!] : [l.shape[0]!, 1],
        };
      }),
  },
};
