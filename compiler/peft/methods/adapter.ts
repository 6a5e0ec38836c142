/**
 * Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2020; He et al. 2022's parallel
 * form), with AdapterHub's "mam" initialisation so they are a no-op at init:
 *
 *   sequential: y = base(x);  y + s · up(relu(down(y)))
 *   parallel:   base(x) + s · up(relu(down(x)))
 *
 * down: Linear(d, m) (Kaiming-uniform a = √5, zero bias), up: Linear(m, d) (zeros), so
 * 2dm + d + m parameters per site. Sites: a pre-LN block's attention or MLP (std.attention's
 * `MultiHeadAttention`/`MLP`, std.vit's `Attention`/`Mlp`, width `dim`), or a `Linear`
 * (BERT's post-LN blocks: `attention.output.dense` and `output.dense`, before the residual
 * LayerNorm); on a parallel Linear adapter `down` reads the Linear's input (width `in`).
 * Houlsby places one after the attention and one after the FFN (select both sites);
 * Pfeiffer one after the FFN only.
 */
import type { PeftMethod } from '../method.ts';
import { siteInt } from '../method.ts';
import { expectWidth, linear, positive, siteWidth } from './common.ts';

export const adapter: PeftMethod = {
  name: 'adapter',
  summary: 'bottleneck adapter (down-project, relu, up-project) on an attention, MLP or Linear output',
  sites: ['MultiHeadAttention', 'MLP', 'Attention', 'Mlp', 'Linear'],
  options: {
    size: { type: 'int', default: 64, doc: 'bottleneck width m', check: positive },
    parallel: { type: 'bool', default: false, doc: "read the site's input instead of its output (parallel adapter)" },
    scale: { type: 'float', default: 1, doc: 'multiplier s of the adapter output', check: positive },
  },
  params(site, o) {
    let dIn: number;
    let dOut: number;
    if (site.type === 'Linear') {
      const din = siteInt(site, 'in');
      const dout = siteInt(site, 'out');
      if (din === undefined || dout === undefined) return `\`${site.path}\` has no integer \`in\`/\`out\` arguments`;
      [dIn, dOut] = [o.parallel ? din : dout, dout];
    } else {
      const d = siteWidth(site, 'width');
      if (typeof d === 'string') return d;
      [dIn, dOut] = [d, d];
    }
    const m = o.size as number;
    return [
      { name: 'adapter_down', shape: [m, dIn], init: { kind: 'kaiming_uniform', a: Math.sqrt(5), fanIn: dIn } },
      { name: 'adapter_down_bias', shape: [m], init: { kind: 'zeros' } },
      { name: 'adapter_up', shape: [dOut, m], init: { kind: 'zeros' } },
      { name: 'adapter_up_bias', shape: [dOut], init: { kind: 'zeros' } },
    ];
  },
  rewrite({ b, args, base, params, options, site, origin }) {
    const y = base(args);
    const h = options.parallel ? args[0]! : y;
    expectWidth(b, h, b.shape(params.adapter_down!)[1] as number, `the adapter input at \`${site.path}\``, origin);
    expectWidth(b, y, b.shape(params.adapter_up!)[0] as number, `the output of \`${site.path}\``, origin);
    const down = b.op('relu', [linear(b, h, params.adapter_down!, params.adapter_down_bias!, origin)], {}, origin);
    const up = linear(b, down, params.adapter_up!, params.adapter_up_bias!, origin);
    const scale = options.scale as number;
    return b.add(y, scale === 1 ? up : b.mul(up, b.scalar(scale, origin), origin), origin);
  },
};
