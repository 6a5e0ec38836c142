/**
 * The methods at the sites of the standard library's ViT and BERT: LoRA on the patch
 * embedding's Conv2d, prefix tuning and adapters on ViT's fused-qkv `Attention`/`Mlp`,
 * P-tuning v2 on `BertSelfAttention`, prompt tuning on BERT's word embeddings (positions are
 * added after it), adapters on BERT's output dense layers, DoRA and LN-tuning.
 */
import { describe, expect, it } from 'vitest';
import { addedCount, compile, floats, initParams, run, trainableCount } from './helpers.ts';

const text = `use std.vit, std.bert, std.nn

model V {
  input image: f32[B, 3, 8, 8]
  input ids: i32[B, 5]
  input labels: i32[B]
  vit  = VisionTransformer(8, 4, 8, 2, 2, 2)
  bert = BertModel(20, 8, 2, 2, 16, 16)
  head = Linear(8, 3)
  forward {
    let v = vit(image)[:, 0]
    let t = bert(ids)[:, 0]
    output logits = head(v + t)
    loss cross_entropy(logits, labels)
  }
}

tune base for V { train head }
tune vit_lora for V { lora(r = 2) on vit.patch_embed.proj }
tune vit_prefix for V { prefix(tokens = 2, hidden = 4) on vit.blocks.*.attn }
tune vit_adapter for V { adapter(size = 2) on vit.blocks.*.{attn, mlp} }
tune bert_ptv2 for V { ptv2(tokens = 2) on bert.encoder.layer.*.attention.self }
tune bert_prefix for V { prefix(tokens = 2, hidden = 4) on bert.encoder.layer.*.attention.self }
tune bert_prompt for V { prompt(tokens = 3) on bert.embeddings.word_embeddings }
tune bert_adapter for V { adapter(size = 2) on bert.encoder.layer.*.attention.output.dense, bert.encoder.layer.*.output.dense }
tune bert_dora for V { dora(r = 2) on bert.**.{query, value} }
tune bert_ln for V { ln_tuning() on bert.**.LayerNorm }
`;

const [d, L, n, h, m] = [8, 2, 2, 4, 2];
const counts: Record<string, [string, number]> = {
  vit_lora: ['lora', 2 * (3 * 4 * 4 + d)],
  vit_prefix: ['prefix', n * d + d * h + h + h * L * 2 * d + L * 2 * d],
  vit_adapter: ['adapter', 2 * L * (2 * d * m + d + m)],
  bert_ptv2: ['ptv2', n * L * 2 * d],
  bert_prefix: ['prefix', n * d + d * h + h + h * L * 2 * d + L * 2 * d],
  bert_prompt: ['prompt', 3 * d],
  bert_adapter: ['adapter', 2 * L * (2 * d * m + d + m)],
  bert_dora: ['dora', 2 * L * (2 * (d + d) + d)],
};

const B = 2;
const inputs = () =>
  new Map<string, Float64Array | Int32Array>([
    ['image', floats(B * 3 * 8 * 8, 61)],
    ['ids', Int32Array.from({ length: B * 5 }, (_, i) => (i * 7 + 3) % 20)],
    ['labels', Int32Array.of(0, 2)],
  ]);

describe('PEFT methods on std.vit and std.bert sites', () => {
  for (const [tune, [method, count]] of Object.entries(counts)) {
    it(`${tune}: ${count} parameters (closed form), and the model runs`, () => {
      const fe = compile(text, tune);
      expect(addedCount(fe, method)).toBe(count);
      const out = run(fe.forward, { B }, initParams(fe.forward, { B }), inputs());
      expect(Array.from(out.logits!).every(Number.isFinite)).toBe(true);
    });
  }

  it('LN-tuning trains every LayerNorm of BERT: (1 + 2·layers)·2d', () => {
    const fe = compile(text, 'bert_ln');
    expect(trainableCount(fe)).toBe((1 + 2 * L) * 2 * d);
  });

  it('LoRA on the Conv2d, adapters and DoRA start as the base model', () => {
    const base = compile(text, 'base');
    const want = run(base.forward, { B }, initParams(base.forward, { B }), inputs()).logits!;
    for (const tune of ['vit_lora', 'vit_adapter', 'bert_adapter', 'bert_dora']) {
      const fe = compile(text, tune);
      const got = run(fe.forward, { B }, initParams(fe.forward, { B }), inputs()).logits!;
      for (let i = 0; i < want.length; i++) expect(got[i], tune).toBeCloseTo(want[i]!, 7);
    }
  });
});
