/**
 * Misuse of the PEFT catalogue: wrong site types, missing hooks, bad options, inconsistent
 * sites. Each is one located diagnostic, with its message, line and column (and help).
 */
import { describe, expect, it } from 'vitest';
import { at, compileText } from '../compiler/helpers.ts';

const model = (tunes: string) => `use std.nn, std.attention

module KeysOnly(dim: int) {
  key = Linear(dim, dim)
  forward(x: f32[B, T, dim]) -> f32[B, T, dim] {
    let k = hook keys(transpose(reshape(key(x), [B, T, 2, dim / 2]), 1, 2))
    x
  }
}

module Odd(dim: int) {
  proj = Linear(dim, 6)
  forward(x: f32[B, T, dim]) -> f32[B, T, dim] {
    let k = hook keys(transpose(reshape(proj(x), [B, T, 2, 3]), 1, 2))
    let v = hook values(transpose(reshape(proj(x), [B, T, 2, 3]), 1, 2))
    x + mean(k) + mean(v)
  }
}

module Widthless(heads: int) {
  forward(x: f32[B, T, 8]) -> f32[B, T, 8] {
    let k = hook keys(transpose(reshape(x, [B, T, heads, 8 / heads]), 1, 2))
    let v = hook values(transpose(reshape(x, [B, T, heads, 8 / heads]), 1, 2))
    x
  }
}

model M {
  config { vocab = 16, seq = 4, dim = 8, classes = 3 }
  input tokens: i32[B, seq]
  input labels: i32[B]
  embed = Embedding(vocab, dim)
  pos   = Positions(16, dim)
  block = TransformerBlock(dim, 2, 16)
  wide  = MultiHeadAttention(16, 2)
  keys_only = KeysOnly(dim)
  odd   = Odd(dim)
  wl    = Widthless(2)
  head  = Linear(dim, classes)
  forward {
    let x = wl(odd(keys_only(block(pos(embed(tokens))))))
    output logits = head(mean(x, dim = 1))
    loss cross_entropy(logits, labels)
  }
}

tune t for M {
  ${tunes}
}
`;

const rank1 = `use std.nn
model R1 {
  config { vocab = 16, dim = 8 }
  input ids: i32[5]
  embed = Embedding(vocab, dim)
  forward { loss mean(embed(ids)) }
}
tune t for R1 { prompt(tokens = 2) on embed }
`;

const conv = `module Conv2d(in: int, out: int, kernel: int) {
  param weight: f32[out, in, kernel, kernel] = normal(0, 0.02)
  forward(x: f32[B, in, H, W]) { x }
}
model C1 {
  input x: f32[B, 2, 5, 4]
  conv = Conv2d(2, 3, 2)
  forward { loss mean(conv(x)) }
}
tune t for C1 { lora(r = 2) on conv }
`;

interface Case {
  name: string;
  /** The tune body, or a whole source. */
  tune?: string;
  src?: string;
  message: string;
  /** Text whose first character the diagnostic points at, searched after `tune t` (nth match). */
  where: string;
  nth?: number;
  help?: string;
}

const cases: Case[] = [
  // site types
  {
    name: 'dora on a LayerNorm',
    tune: 'dora(r = 4) on block.norm1',
    message: '`dora` attaches to Linear sites, but `block.norm1` is a LayerNorm',
    where: 'block.norm1',
  },
  {
    name: 'ia3 on an Embedding',
    tune: 'ia3() on embed',
    message: '`ia3` attaches to Linear sites, but `embed` is a Embedding',
    where: 'embed',
  },
  {
    name: 'prompt on a Linear',
    tune: 'prompt(tokens = 2) on head',
    message: '`prompt` attaches to Embedding sites, but `head` is a Linear',
    where: 'head',
  },
  {
    name: 'adapter on a LayerNorm',
    tune: 'adapter(size = 4) on block.norm2',
    message: '`adapter` attaches to MultiHeadAttention, MLP, Attention, Mlp or Linear sites, but `block.norm2` is a LayerNorm',
    where: 'block.norm2',
    help: 'narrow the selector `block.norm2` to MultiHeadAttention/MLP/Attention/Mlp/Linear modules',
  },
  {
    name: 'adapter on a block',
    tune: 'adapter(size = 4) on block',
    message: '`adapter` attaches to MultiHeadAttention, MLP, Attention, Mlp or Linear sites, but `block` is a TransformerBlock',
    where: 'block',
  },
  {
    name: 'ln_tuning on a Linear',
    tune: 'ln_tuning() on block.attn.query',
    message: '`ln_tuning` attaches to LayerNorm sites, but `block.attn.query` is a Linear',
    where: 'block.attn.query',
  },
  {
    name: 'lora on an attention module',
    tune: 'lora(r = 2) on block.attn',
    message: '`lora` attaches to Linear or Conv2d sites, but `block.attn` is a MultiHeadAttention',
    where: 'block.attn',
  },
  // hooks
  {
    name: 'prefix on a Linear (no hooks)',
    tune: 'prefix(tokens = 2, hidden = 4) on head',
    message: '`prefix` needs the hooks `keys`, `values` in the forward of Linear, which has none',
    where: 'head',
    help: "mark the tensor in Linear's forward with `hook keys(...)`",
  },
  {
    name: 'prefix on a block (hooks are in its child)',
    tune: 'prefix(tokens = 2, hidden = 4) on block',
    message: '`prefix` needs the hooks `keys`, `values` in the forward of TransformerBlock, which has none',
    where: 'block',
  },
  {
    name: 'ptv2 on a module with only `keys`',
    tune: 'ptv2(tokens = 2) on keys_only',
    message: '`ptv2` needs the hook `values` in the forward of KeysOnly, which has `keys`',
    where: 'keys_only',
    help: "mark the tensor in KeysOnly's forward with `hook values(...)`",
  },
  {
    name: 'prefix on hooks of the wrong width',
    tune: 'prefix(tokens = 2, hidden = 4) on odd',
    message: "`Odd`'s `keys` hook at `odd` gives [B, 2, 4, 3]; prefix rows need [B, heads, S, head_dim] with heads·head_dim = 8",
    where: 'prefix',
  },
  {
    name: 'prefix on sites of different widths',
    tune: 'prefix(tokens = 2, hidden = 4) on block.attn, wide',
    message: '`prefix` needs one key width across its sites, but `block.attn` has 8 and `wide` has 16; apply it in separate items',
    where: 'prefix',
  },
  {
    name: 'ptv2 where the key width is unknown',
    tune: 'ptv2(tokens = 2) on wl',
    message: 'cannot tell the key width of `wl` (Widthless): it has no integer `dim` argument and no `key` Linear',
    where: 'ptv2',
  },
  // options
  {
    name: 'prefix tokens = 0',
    tune: 'prefix(tokens = 0) on block.attn',
    message: 'option `tokens` of `prefix` must be positive, got 0',
    where: '0)',
  },
  {
    name: 'prefix hidden < 0',
    tune: 'prefix(hidden = -3) on block.attn',
    message: 'option `hidden` of `prefix` must be positive, got -3',
    where: '-3',
  },
  {
    name: 'prefix dropout = 1',
    tune: 'prefix(dropout = 1) on block.attn',
    message: 'option `dropout` of `prefix` must be in [0, 1), got 1',
    where: '1)',
  },
  {
    name: 'ptv2 has no hidden layer',
    tune: 'ptv2(hidden = 16) on block.attn',
    message: '`ptv2` has no option `hidden`',
    where: 'hidden',
    help: 'options of `ptv2`: tokens',
  },
  { name: 'prompt tokens not an int', tune: 'prompt(tokens = 2.5) on embed', message: 'option `tokens` is int, got 2.5', where: '2.5' },
  {
    name: 'ia3 feedforward not a bool',
    tune: 'ia3(feedforward = 1) on head',
    message: 'option `feedforward` is bool, got int 1',
    where: '1)',
  },
  { name: 'ia3 with too many options', tune: 'ia3(true, 2) on head', message: '`ia3` takes at most 1 option(s)', where: '2)' },
  {
    name: 'adapter size = 0',
    tune: 'adapter(size = 0) on block.mlp',
    message: 'option `size` of `adapter` must be positive, got 0',
    where: '0)',
  },
  {
    name: 'adapter has no `kind`',
    tune: 'adapter(kind = 1) on block.mlp',
    message: '`adapter` has no option `kind`',
    where: 'kind',
    help: 'options of `adapter`: size, parallel, scale',
  },
  {
    name: 'adapter scale not a float',
    tune: 'adapter(scale = true) on block.mlp',
    message: 'option `scale` is float, got bool true',
    where: 'true',
  },
  {
    name: 'ln_tuning takes no options',
    tune: 'ln_tuning(1) on block.norm1',
    message: '`ln_tuning` takes at most 0 option(s)',
    where: '1)',
  },
  { name: 'dora r = 0', tune: 'dora(r = 0) on head', message: 'option `r` of `dora` must be positive, got 0', where: '0)' },
  {
    name: 'dora with an unknown option',
    tune: 'dora(use_dora = true) on head',
    message: '`dora` has no option `use_dora`',
    where: 'use_dora',
    help: 'options of `dora`: r, alpha, dropout, rslora',
  },
  // names and stacking
  {
    name: 'misspelled method',
    tune: 'prefx(tokens = 2) on block.attn',
    message: 'unknown PEFT method `prefx`',
    where: 'prefx',
    help: 'did you mean `prefix`?',
  },
  {
    name: 'the same method twice on one site',
    tune: 'ia3() on head\n  ia3(feedforward = true) on head',
    message: '`ia3` is applied to `head` twice',
    where: 'head',
    nth: 1,
  },
  {
    name: 'BitFit selector typo',
    tune: 'train **.biass',
    message: 'selector `**.biass` matches nothing in the model',
    where: '**.biass',
    help: 'did you mean `**.bias`?',
  },
  // shapes found while rewriting
  {
    name: 'prompt on an Embedding without a batch axis',
    src: rank1,
    message: '`prompt` prepends along the sequence axis of `embed`, which needs ids [B, L] (an output [B, L, dim]), got output [5, 8]',
    where: 'prompt',
  },
  {
    name: 'LoRA on a Conv2d whose input is not a multiple of the kernel',
    src: conv,
    message: 'LoRA on the Conv2d `conv` needs an input [B, 2, H, W] with H and W multiples of 2, got [B, 2, 5, 4]',
    where: 'lora',
  },
];

describe('PEFT misuse diagnostics', () => {
  it('covers at least 20 invalid tunes', () => expect(cases.length).toBeGreaterThanOrEqual(20));
  for (const c of cases) {
    it(c.name, () => {
      const src = c.src ?? model(c.tune!);
      const r = compileText(src, { tune: 't', training: true });
      expect(r.fe).toBeUndefined();
      const d = r.diagnostics[0]!;
      expect(d.severity).toBe('error');
      expect(d.message).toBe(c.message);
      const tuneAt = src.indexOf('tune t');
      const idx = (() => {
        let i = tuneAt;
        for (let k = 0; k <= (c.nth ?? 0); k++) i = src.indexOf(c.where, i + 1);
        return i;
      })();
      expect(idx).toBeGreaterThan(tuneAt);
      const want = at(src.slice(0, idx) + '\u0000', '\u0000');
      expect({ file: d.span.file, line: d.span.line, col: d.span.col }).toEqual({ file: 'test.mile', ...want });
      if (c.help !== undefined) expect(d.help).toBe(c.help);
    });
  }
});
