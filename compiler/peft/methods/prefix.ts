/**
 * Prefix tuning (Li & Liang 2021) and P-tuning v2 (Liu et al. 2022), as HF peft's
 * `PREFIX_TUNING` with and without `prefix_projection`. One application (one tune item) over
 * L attention sites owns one set of shared parameters producing P ∈ R^{n × L·2·d}:
 *
 *   prefix: P = Linear(h, L·2d)(tanh(Linear(d, h)(E))),  E: [n, d]   (E ~ N(0,1), Linears as PyTorch)
 *   ptv2:   P = E,                                        E: [n, L·2d] (N(0,1))
 *
 * Site i (in tree order) takes columns [2i·d, (2i+1)·d) as its prefix keys and the next d as
 * its prefix values; each [n, d] block is split into heads ([heads, n, d/heads]), expanded to
 * the batch and concatenated before the keys/values at the site's `hook keys(...)` and
 * `hook values(...)` points ([B, heads, S, d/heads]). Queries get no prefix rows.
 * Any module type with both hooks is a site.
 *
 * Positions. Hugging Face's BERT (and BLIP's med.py) takes `past_key_values_length` from the
 * keys peft passes as `past_key_values` (n rows), and numbers the real tokens from there:
 * position ids n … n+T−1, not 0 … T−1 (peft drops any `position_ids` it is given). Both methods
 * therefore set the int hook `past_length` of the nearest module above each site that marks it
 * (`enclosingHooks`): std.bert's `BertModel` does, and passes it to its embeddings as the first
 * position. The hook belongs to one BERT, so a text encoder and a decoder get their own; sites
 * under one BERT with different `tokens` are a tune error, and n + T past `max_positions` is a
 * located error at the tune item. Generation runs the same static graph every step, so it uses
 * the same offset. Modules without the hook (std.attention's transformer) keep their positions.
 *
 * Both save as peft's PREFIX_TUNING `prompt_embeddings` [n, L·2·d], whose row is peft's
 * past_key_values of one virtual token: viewed as [L·2, heads, d/heads] (layer, then key or
 * value, then head), which is the column layout above. With `prefix_projection` (milec
 * `prefix`) peft's PrefixEncoder is Embedding → Linear → Tanh → Linear, and peft saves its
 * output, the table P, not the encoder: milec computes P on the CPU (`prefixTable`) and keeps
 * the encoder beside it for resuming (runtime/peft-format.ts).
 */
import { shapeToString } from '../../../core/dim.ts';
import type { NodeId } from '../../ir/graph.ts';
import type { Instance } from '../../sema/instance.ts';
import type { AddedParam, MethodOptions, PeftMethod, PeftTune, RewriteContext } from '../method.ts';
import { siteInt } from '../method.ts';
import { positive, probability, rewriteError, siteWidth } from './common.ts';

/** The common key width d of an application's sites, or a message. */
function width(method: string, sites: readonly Instance[]): number | string {
  let d: number | undefined;
  let first: Instance | undefined;
  for (const s of sites) {
    const w = siteWidth(s, 'key width');
    if (typeof w === 'string') return w;
    if (d !== undefined && w !== d) {
      return `\`${method}\` needs one key width across its sites, but \`${first!.path}\` has ${d} and \`${s.path}\` has ${w}; apply it in separate items`;
    }
    d ??= w;
    first ??= s;
  }
  return d!;
}

/** P after dropout, built once per application and graph (so every site sees one mask). */
function rows(ctx: RewriteContext, p: NodeId, rate: number): NodeId {
  return rate === 0 ? p : ctx.perApplication('dropped prefix', () => ctx.dropout(p, rate));
}

/** Installs the keys/values interventions of site `ctx.siteIndex` from P [n, L·2d]. */
function extend(ctx: RewriteContext, P: NodeId, d: number): NodeId {
  const { b, siteIndex: i, site, origin } = ctx;
  const n = b.shape(P)[0] as number;
  const block = (k: number) =>
    b.op(
      'slice',
      [P],
      {
        ranges: [
          { start: 0, stop: null },
          { start: k * d, stop: (k + 1) * d },
        ],
      },
      origin,
    );
  const prepend = (hook: string, prefix: NodeId) => (x: NodeId) => {
    const s = b.shape(x);
    const [batch, heads, , hd] = s;
    if (s.length !== 4 || typeof heads !== 'number' || typeof hd !== 'number' || heads * hd !== d) {
      throw rewriteError(
        `\`${ctx.site.type}\`'s \`${hook}\` hook at \`${site.path}\` gives ${shapeToString(s)}; prefix rows need [B, heads, S, head_dim] with heads·head_dim = ${d}`,
        origin,
      );
    }
    const perHead = b.permute(b.reshape(prefix, [n, heads, hd], origin), [1, 0, 2], origin);
    return b.op('concat', [b.expand(perHead, [batch!, heads, n, hd], origin), x], { axis: 2 }, origin);
  };
  ctx.hook('keys', prepend('keys', block(2 * i)));
  ctx.hook('values', prepend('values', block(2 * i + 1)));
  return ctx.base(ctx.args);
}

/** peft's `num_attention_heads`: the sites' common `heads` argument, or null (peft then reads the model's config). */
function heads({ sites }: PeftTune): number | null {
  const hs = new Set(sites.map((s) => siteInt(s.instance, 'heads')));
  const [h] = hs;
  return hs.size === 1 && h !== undefined ? h : null;
}

/**
 * Prefix tuning's table P = W₂·tanh(W₁·E + b₁) + b₂ per virtual token, as peft's
 * PrefixEncoder computes it (Embedding → Linear(d, h) → Tanh → Linear(h, L·2d)); E [n, d],
 * W₁ [h, d], b₁ [h], W₂ [w, h], b₂ [w]; accumulated in float64, returned as [n, w] float32.
 */
export function prefixTable(E: Float32Array, W1: Float32Array, b1: Float32Array, W2: Float32Array, b2: Float32Array): Float32Array {
  const h = b1.length;
  const w = b2.length;
  const d = W1.length / h;
  const n = E.length / d;
  const out = new Float32Array(n * w);
  const t = new Float64Array(h);
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < h; k++) {
      let acc = b1[k]!;
      for (let j = 0; j < d; j++) acc += W1[k * d + j]! * E[r * d + j]!;
      t[k] = Math.tanh(acc);
    }
    for (let c = 0; c < w; c++) {
      let acc = b2[c]!;
      for (let k = 0; k < h; k++) acc += W2[c * h + k]! * t[k]!;
      out[r * w + c] = acc;
    }
  }
  return out;
}

const tokens = { type: 'int', default: 10, doc: 'number of virtual tokens n', check: positive } as const;

/** Where the real tokens' positions start in the model the prefix is attached to (see above). */
const enclosingHooks = {
  past_length: {
    value: (o: MethodOptions) => o.tokens as number,
    doc: "prefix keys are Hugging Face's past_key_values: the real tokens' position ids start after the virtual tokens (past_key_values_length = tokens), so every prefixed attention of one BERT needs the same `tokens`, and tokens + sequence length must fit in `max_positions`",
  },
} as const;

function linearInit(fanIn: number, shape: number[], name: string): AddedParam[] {
  // PyTorch's nn.Linear defaults: weight Kaiming-uniform (a = √5), bias U(±1/√fan_in).
  const bound = 1 / Math.sqrt(fanIn);
  return [
    { name: `${name}_weight`, shape, init: { kind: 'kaiming_uniform', a: Math.sqrt(5), fanIn } },
    { name: `${name}_bias`, shape: [shape[0]!], init: { kind: 'uniform', low: -bound, high: bound } },
  ];
}

export const prefix: PeftMethod = {
  name: 'prefix',
  summary: 'trainable key/value prefixes for every selected attention, from a shared Embedding→Linear→Tanh→Linear encoder',
  sites: ['*'],
  hooks: ['keys', 'values'],
  enclosingHooks,
  options: {
    tokens,
    hidden: { type: 'int', default: 768, doc: 'hidden width h of the reparametrisation MLP', check: positive },
    dropout: { type: 'float', default: 0, doc: 'dropout on the prefix keys and values', check: probability },
  },
  params() {
    return [];
  },
  shared(sites, o: MethodOptions) {
    const d = width('prefix', sites);
    if (typeof d === 'string') return d;
    const n = o.tokens as number;
    const h = o.hidden as number;
    return [
      { name: 'embedding', shape: [n, d], init: { kind: 'normal', mean: 0, std: 1 } },
      ...linearInit(d, [h, d], 'transform_in'),
      ...linearInit(h, [sites.length * 2 * d, h], 'transform_out'),
    ];
  },
  rewrite(ctx) {
    const { b, shared: p, origin } = ctx;
    const d = b.shape(p.embedding!)[1] as number;
    const hidden = b.op(
      'tanh',
      [
        b.add(
          b.op('matmul', [p.embedding!, p.transform_in_weight!], { transA: false, transB: true }, origin),
          p.transform_in_bias!,
          origin,
        ),
      ],
      {},
      origin,
    );
    const P = b.add(
      b.op('matmul', [hidden, p.transform_out_weight!], { transA: false, transB: true }, origin),
      p.transform_out_bias!,
      origin,
    );
    return extend(ctx, rows(ctx, P, ctx.options.dropout as number), d);
  },
  // peft's PREFIX_TUNING with `prefix_projection`: its file holds the encoder's output P as
  // `prompt_embeddings` (what a peft model in inference mode puts into a plain Embedding), not
  // the encoder, so the encoder's parameters go to milec's side file.
  peftFormat: {
    peftType: 'PREFIX_TUNING',
    checkedFields: ['num_virtual_tokens', 'token_dim', 'num_layers', 'prefix_projection', 'encoder_hidden_size'],
    unsupported: ({ shared }) => (shared.length !== 1 ? 'prefix tuning applied more than once (peft has one prefix per model)' : undefined),
    config(tune) {
      const { sites, shared } = tune;
      const [n, d] = shared[0]!.params.find((p) => p.name === 'embedding')!.shape as [number, number];
      const h = shared[0]!.params.find((p) => p.name === 'transform_in_bias')!.shape[0]!;
      return {
        num_virtual_tokens: n,
        token_dim: d,
        num_layers: sites.length,
        num_transformer_submodules: 1,
        num_attention_heads: heads(tune),
        encoder_hidden_size: h,
        prefix_projection: true,
      };
    },
    keys() {
      return [];
    },
    derived({ sites, shared }) {
      const p = (name: string) => shared[0]!.params.find((q) => q.name === name)!;
      const E = p('embedding');
      const names = ['embedding', 'transform_in_weight', 'transform_in_bias', 'transform_out_weight', 'transform_out_bias'];
      const w = p('transform_out_bias').shape[0]!;
      return [
        {
          key: 'prompt_embeddings',
          shape: [E.shape[0]!, w],
          params: names.map((x) => p(x).path),
          compute: ([e, w1, b1, w2, b2]) => prefixTable(e!, w1!, b1!, w2!, b2!),
          withoutParams: `a tune \`ptv2(tokens = ${E.shape[0]})\` on the same ${sites.length} sites loads the table itself (as peft in inference mode uses it)`,
        },
      ];
    },
  },
};

export const ptv2: PeftMethod = {
  name: 'ptv2',
  summary: 'P-tuning v2: trainable key/value prefixes for every selected attention, one shared Embedding(n, L·2·d)',
  sites: ['*'],
  hooks: ['keys', 'values'],
  enclosingHooks,
  options: { tokens },
  params() {
    return [];
  },
  shared(sites, o) {
    const d = width('ptv2', sites);
    if (typeof d === 'string') return d;
    return [{ name: 'embedding', shape: [o.tokens as number, sites.length * 2 * d], init: { kind: 'normal', mean: 0, std: 1 } }];
  },
  rewrite(ctx) {
    const E = ctx.shared.embedding!;
    const d = (ctx.b.shape(E)[1] as number) / (2 * ctx.siteCount);
    return extend(ctx, E, d);
  },
  // peft's PREFIX_TUNING without `prefix_projection`: E is its `prompt_embeddings`, whose columns
  // are past_key_values in layer order, so only one application (one prefix per model) fits.
  // `prefix_projection` is not checked on load: a folder saved with it holds the encoder's
  // output in the same place and layout, which is exactly E (how peft in inference mode uses it).
  peftFormat: {
    peftType: 'PREFIX_TUNING',
    checkedFields: ['num_virtual_tokens', 'token_dim', 'num_layers'],
    unsupported: ({ shared }) => (shared.length !== 1 ? 'P-tuning v2 applied more than once (peft has one prefix per model)' : undefined),
    config(tune) {
      const { sites, shared } = tune;
      const [n, w] = shared[0]!.params[0]!.shape as [number, number];
      const d = w / (2 * sites.length);
      return {
        num_virtual_tokens: n,
        token_dim: d,
        num_layers: sites.length,
        num_transformer_submodules: 1,
        num_attention_heads: heads(tune),
        encoder_hidden_size: d,
        prefix_projection: false,
      };
    },
    keys({ shared }) {
      const E = shared[0]!.params[0]!;
      return [{ path: E.path, key: 'prompt_embeddings', shape: E.shape }];
    },
  },
};
