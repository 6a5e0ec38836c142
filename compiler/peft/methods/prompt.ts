/**
 * Prompt tuning (Lester et al. 2021), as HF peft with random init: n trainable virtual-token
 * embeddings P ∈ R^{n×dim} (normal(0, 1), like a fresh `nn.Embedding`) are prepended to an
 * Embedding's output along the sequence axis: [B, L] ids -> [B, n + L, dim] = [P; E(ids)].
 * Positions added after the embedding (std.nn `Positions`) then cover the longer sequence.
 */
import { shapeToString } from '../../../core/dim.ts';
import type { PeftMethod } from '../method.ts';
import { paramOf, siteInt } from '../method.ts';
import { positive, rewriteError } from './common.ts';

export const prompt: PeftMethod = {
  name: 'prompt',
  summary: 'trainable virtual-token embeddings prepended to an Embedding output',
  sites: ['Embedding'],
  options: {
    tokens: { type: 'int', default: 10, doc: 'number of virtual tokens', check: positive },
  },
  params(site, o) {
    const dim = siteInt(site, 'dim');
    if (dim === undefined) return `\`${site.path}\` has no integer \`dim\` argument`;
    return [{ name: 'prompt_embeddings', shape: [o.tokens as number, dim], init: { kind: 'normal', mean: 0, std: 1 } }];
  },
  rewrite({ b, args, base, params, site, origin }) {
    const e = base(args);
    const s = b.shape(e);
    if (s.length !== 3)
      throw rewriteError(
        `\`prompt\` prepends along the sequence axis of \`${site.path}\`, which needs ids [B, L] (an output [B, L, dim]), got output ${shapeToString(s)}`,
        origin,
      );
    const p = params.prompt_embeddings!;
    const [n, dim] = b.shape(p);
    return b.op('concat', [b.expand(p, [s[0]!, n!, dim!], origin), e], { axis: 1 }, origin);
  },
  // peft's PROMPT_TUNING has one prompt per model, saved as the top-level `prompt_embeddings`.
  peftFormat: {
    peftType: 'PROMPT_TUNING',
    checkedFields: ['num_virtual_tokens', 'token_dim'],
    unsupported: ({ sites }) => (sites.length !== 1 ? 'prompt tuning at several sites' : undefined),
    config({ sites }) {
      const [n, d] = paramOf(sites[0]!.attachment, 'prompt_embeddings')!.shape;
      return { num_virtual_tokens: n, token_dim: d, num_transformer_submodules: 1, prompt_tuning_init: 'RANDOM' };
    },
    keys({ sites }) {
      const p = paramOf(sites[0]!.attachment, 'prompt_embeddings')!;
      return [{ path: p.path, key: 'prompt_embeddings', shape: p.shape }];
    },
  },
};
