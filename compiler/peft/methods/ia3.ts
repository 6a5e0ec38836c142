/**
 * IA3 (Liu et al. 2022), as HF peft: a learned vector `ia3_l`, initialised to ones, that
 * rescales a Linear's output (`base(x) ⊙ l`, l ∈ R^out: attention keys and values) or, for
 * feed-forward modules, its input (`base(x ⊙ l)`, l ∈ R^in). A no-op at initialisation.
 */
import type { PeftMethod } from '../method.ts';
import { siteInt } from '../method.ts';

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
};
