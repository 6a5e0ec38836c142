/**
 * An example PEFT plugin: SSF, "Scaling & Shifting your Features" (Lian et al. 2022).
 * After a Linear or LayerNorm, each output feature is scaled and shifted by trainable
 * vectors: y = γ ⊙ base(x) + β, γ ones and β zeros (a no-op at initialisation).
 * γ and β add 2·out parameters per site (2·dim on a LayerNorm).
 *
 * Load it with `--plugin` on any command that compiles, and use it in a tune like any
 * built-in (`ssf() on blocks.*.mlp.{fc1, fc2}`):
 *
 *   milec train model.mile --tune mine --plugin examples/plugins/ssf.ts
 *
 * From TypeScript, register it next to the built-ins and pass the registry to the compiler:
 *
 *   compileFrontEnd({ host: fileHost(), file, tune, training: true, registry: new MethodRegistry([...builtinMethods, ssf]) });
 */
import { type PeftMethod, siteInt } from 'milec/peft';

export const ssf: PeftMethod = {
  name: 'ssf',
  summary: 'per-feature scale and shift of a Linear or LayerNorm output',
  sites: ['Linear', 'LayerNorm'],
  options: {
    shift: { type: 'bool', default: true, doc: 'also learn the shift β (scale only when false)' },
  },
  params(site, options) {
    const width = siteInt(site, site.type === 'Linear' ? 'out' : 'dim');
    if (width === undefined) return `\`${site.path}\` has no integer output width`;
    return [
      { name: 'ssf_scale', shape: [width], init: { kind: 'ones' } },
      ...(options.shift ? [{ name: 'ssf_shift', shape: [width], init: { kind: 'zeros' } } as const] : []),
    ];
  },
  rewrite({ b, args, base, params, origin }) {
    const y = b.mul(base(args), params.ssf_scale!, origin);
    return params.ssf_shift === undefined ? y : b.add(y, params.ssf_shift, origin);
  },
};
