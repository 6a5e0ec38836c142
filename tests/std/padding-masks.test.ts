/**
 * Padding masks in std.bert, std.attention and the VQA examples, on the float64 reference:
 * a padded sequence with its attention mask gives the unpadded sequence's states at every
 * real position (also under prefix tuning, P-tuning v2 and prompt tuning, whose extra leading
 * keys must stay visible); the decoder's cross-attention ignores the question's [PAD] states;
 * the VQA loss is BLIP's (pads ignored, summed per answer, averaged over the batch); and
 * gradients through the masked attention check against central differences.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compile, expectClose, gradCheck, initParams, randomParams, run } from '../peft/helpers.ts';

// ------------------------------------------------------------------ BERT encoder, padded vs not

const enc = (T: number, masked = true) => `use std.bert
model Enc {
  config { vocab = 20, dim = 8 }
  input ids: i32[B, ${T}]
  bert = BertModel(vocab, dim, 2, 2, 16, max_positions = 16)
  forward { output h = bert(ids${masked ? ', mask = attention_mask(ids)' : ''}) }
}
tune base for Enc { train ** }
tune prefix for Enc { prefix(tokens = 2, hidden = 4) on bert.encoder.layer.*.attention.self }
tune ptv2 for Enc { ptv2(tokens = 2) on bert.encoder.layer.*.attention.self }
tune prompt for Enc { prompt(tokens = 3) on bert.embeddings.word_embeddings }
`;

const dim = 8;
// [CLS] w w [SEP] [PAD] [PAD]; [CLS] w [SEP] [PAD] [PAD] [PAD]
const rows = [
  [2, 7, 9, 3],
  [2, 5, 3],
];
const padded = Int32Array.from(rows.flatMap((r) => [...r, ...Array(6 - r.length).fill(0)]));

/** States of the real tokens of row `r` (after `lead` prompt tokens), from a [B, L, dim] output. */
function realStates(h: Float64Array, L: number, r: number, lead: number, len: number): Float64Array {
  return h.slice((r * L + lead) * dim, (r * L + lead + len) * dim);
}

describe('BertModel with an attention mask', () => {
  for (const [tune, lead] of [
    ['base', 0],
    ['prefix', 0],
    ['ptv2', 0],
    ['prompt', 3],
  ] as const) {
    it(`${tune}: a padded row gives the unpadded row's states at every real position`, () => {
      const fe6 = compile(enc(6), tune, { training: false });
      const params = initParams(fe6.forward, { B: 2 });
      const L = 6 + lead;
      const h6 = run(fe6.forward, { B: 2 }, params, new Map([['ids', padded]])).h!;
      rows.forEach((row, r) => {
        const fe = compile(enc(row.length), tune, { training: false });
        const alone = run(fe.forward, { B: 1 }, params, new Map([['ids', Int32Array.from(row)]])).h!;
        expectClose(realStates(h6, L, r, lead, row.length), alone.slice(lead * dim), 1e-10);
      });
      // Without the mask the padded row differs: the test has teeth.
      const open = run(compile(enc(6, false), tune, { training: false }).forward, { B: 2 }, params, new Map([['ids', padded]])).h!;
      const a = realStates(open, L, 1, lead, 3);
      const b = realStates(h6, L, 1, lead, 3);
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-4);
    });
  }

  it('prefix rows are attended to under the mask (the prefix changes the states)', () => {
    const base = compile(enc(6), 'base', { training: false });
    const pre = compile(enc(6), 'prefix', { training: false });
    const params = initParams(pre.forward, { B: 2 });
    const hb = run(base.forward, { B: 2 }, params, new Map([['ids', padded]])).h!;
    const hp = run(pre.forward, { B: 2 }, params, new Map([['ids', padded]])).h!;
    expect(Math.max(...hb.map((v, i) => Math.abs(v - hp[i]!)))).toBeGreaterThan(1e-4);
  });
});

// ------------------------------------------------------------------ std.attention

describe('MultiHeadAttention / TransformerBlock with a mask', () => {
  const block = (T: number) => `use std.nn, std.attention
model Blk {
  input ids: i32[B, ${T}]
  embed = Embedding(12, 8)
  blocks = repeat 2 TransformerBlock(8, 2, 16)
  forward { output h = blocks(embed(ids), attention_mask(ids)) }
}`;
  it('a padded row gives the unpadded row at the real positions', () => {
    const fe6 = compile(block(6), undefined, { training: false });
    const params = initParams(fe6.forward, { B: 2 });
    const h6 = run(fe6.forward, { B: 2 }, params, new Map([['ids', padded]])).h!;
    rows.forEach((row, r) => {
      const alone = run(
        compile(block(row.length), undefined, { training: false }).forward,
        { B: 1 },
        params,
        new Map([['ids', Int32Array.from(row)]]),
      ).h!;
      expectClose(realStates(h6, 6, r, 0, row.length), alone, 1e-10);
    });
  });
});

// ------------------------------------------------------------------ the VQA examples

const tiny = readFileSync('examples/vqa_tiny.mile', 'utf8');
const misstiny = readFileSync('examples/miss_tiny.mile', 'utf8');
const withQlen = (src: string, q: number) => src.replace('qlen = 8', `qlen = ${q}`);

function vqaInputs(
  B: number,
  qlen: number,
  alen: number,
  questions: number[][],
  answers: number[][],
  image = 16,
): Map<string, Float64Array | Int32Array> {
  const fill = (r: number[], n: number) => [...r, ...Array(n - r.length).fill(0)];
  return new Map<string, Float64Array | Int32Array>([
    ['image', Float64Array.from({ length: B * 3 * image * image }, (_, i) => Math.sin(0.31 * i))],
    ['question', Int32Array.from(questions.flatMap((q) => fill(q, qlen)))],
    ['answer', Int32Array.from(answers.flatMap((a) => fill(a, alen)))],
  ]);
}

// [DEC] = 4, [SEP] = 3 in vqa_tiny's vocabulary; the answers are padded after [SEP].
const questions = [
  [2, 5, 6, 7, 3],
  [2, 8, 9, 10, 11, 3],
];
const answers = [
  [4, 9, 3],
  [4, 13, 14, 15, 3],
];

describe('examples/vqa_tiny.mile: question masks and the answer loss', () => {
  const fe = compile(tiny, 'full', { training: false });
  const params = randomParams(fe.forward, 5, { B: 2 });

  it("the decoder ignores the question's [PAD] states: padded question = unpadded question", () => {
    const padded8 = run(fe.forward, { B: 2 }, params, vqaInputs(2, 8, 6, questions, answers)).logits!;
    questions.forEach((q, r) => {
      const short = compile(withQlen(tiny, q.length), 'full', { training: false });
      const one = vqaInputs(1, q.length, 6, [q], [answers[r]!]);
      const n3 = 3 * 16 * 16;
      one.set('image', (vqaInputs(2, 8, 6, questions, answers).get('image') as Float64Array).slice(r * n3, (r + 1) * n3));
      const alone = run(short.forward, { B: 1 }, params, one).logits!;
      const n = alone.length;
      expectClose(padded8.slice(r * n, (r + 1) * n), alone, 1e-9);
    });
  });

  it("changing [PAD]'s encoder embedding leaves every logit unchanged", () => {
    const inputs = vqaInputs(2, 8, 6, questions, answers);
    const a = run(fe.forward, { B: 2 }, params, inputs).logits!;
    const table = params.get('text_encoder.embeddings.word_embeddings.weight')!.slice();
    for (let j = 0; j < 32; j++) table[j] = 3 * Math.cos(j); // row 0 = [PAD]
    const moved = new Map(params).set('text_encoder.embeddings.word_embeddings.weight', table);
    expectClose(run(fe.forward, { B: 2 }, moved, inputs).logits!, a, 1e-10);
    // Without the masks it does change them.
    const open = compile(tiny.replace(', mask = question_mask', '').replace(', context_mask = question_mask', ''), 'full', {
      training: false,
    });
    const o1 = run(open.forward, { B: 2 }, params, inputs).logits!;
    const o2 = run(open.forward, { B: 2 }, moved, inputs).logits!;
    expect(Math.max(...o1.map((v, i) => Math.abs(v - o2[i]!)))).toBeGreaterThan(1e-4);
  });

  it('the loss sums the non-[PAD] targets of each answer and averages over the batch', () => {
    const inputs = vqaInputs(2, 8, 6, questions, answers);
    const out = run(fe.forward, { B: 2 }, params, inputs);
    expect(out.loss![0]).toBeCloseTo(blipLoss(out.logits!, inputs.get('answer') as Int32Array, 2, 6, 24, 0), 10);
  });

  it('gradients through the masked self- and cross-attention, by central differences', () => {
    const tr = compile(tiny, 'full', { training: true });
    const inputs = vqaInputs(2, 8, 6, questions, answers);
    const which = (n: string) =>
      n === 'text_encoder.encoder.layer[0].attention.self.key.weight' ||
      n === 'text_decoder.bert.encoder.layer[0].crossattention.self.query.weight' ||
      n === 'text_decoder.cls.predictions.bias';
    expect(gradCheck(tr, { B: 2 }, params, inputs, which, 6)).toBeGreaterThan(12);
  });
});

describe('examples/miss_tiny.mile: the study loss', () => {
  it("is BLIP's: smoothed per-token losses of non-[PAD] targets, summed per answer, averaged over the batch", () => {
    const fe = compile(misstiny, 'f_f_lora_r4', { training: false });
    const params = initParams(fe.forward, { B: 2 });
    const inputs = vqaInputs(
      2,
      12,
      5,
      questions,
      [
        [45, 9, 3],
        [45, 13, 14, 3],
      ],
      32,
    );
    const out = run(fe.forward, { B: 2 }, params, inputs);
    // MISS-tiny's vocabulary: the width of its logits.
    expect(out.loss![0]).toBeCloseTo(blipLoss(out.logits!, inputs.get('answer') as Int32Array, 2, 5, 64, 0.1), 10);
  });
});

/** mean over items of Σ over targets answer[:, 1:] ≠ 0 of the (smoothed) cross-entropy of logits [B, alen-1, V]. */
function blipLoss(logits: Float64Array, answer: Int32Array, B: number, alen: number, V: number, eps: number): number {
  let total = 0;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < alen - 1; t++) {
      const y = answer[b * alen + t + 1]!;
      if (y === 0) continue;
      const row = logits.subarray((b * (alen - 1) + t) * V, (b * (alen - 1) + t + 1) * V);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      total += (1 - eps) * (lse - row[y]!) + (eps * row.reduce((s, v) => s + (lse - v), 0)) / V;
    }
  return total / B;
}
