/**
 * Every tune of examples/tiny_classifier.mile: it compiles, trains exactly the closed-form
 * number of parameters, and (for the methods that have the property) starts as the base model.
 */
import { describe, expect, it } from 'vitest';
import { compile, initParams, run, trainableCount } from './helpers.ts';
import { readFileSync } from 'node:fs';

const text = readFileSync('examples/tiny_classifier.mile', 'utf8');
const [vocab, seq, maxLen, dim, hidden, depth, classes] = [64, 16, 32, 32, 64, 2, 4];
const head = dim * classes + classes;
const block = 2 * 2 * dim + 4 * (dim * dim + dim) + (dim * hidden + hidden) + (hidden * dim + dim);
const base = vocab * dim + maxLen * dim + depth * block + 2 * dim + head;
const n = 8;

const expected: Record<string, number> = {
  lora_qv: depth * 2 * 8 * (dim + dim) + head,
  dora: depth * 2 * (8 * (dim + dim) + dim) + head,
  ia3: depth * (2 * dim + hidden) + head,
  prefix: n * dim + dim * 32 + 32 + 32 * depth * 2 * dim + depth * 2 * dim + head,
  ptv2: n * depth * 2 * dim + head,
  prompt: n * dim + head,
  adapter: 2 * depth * (2 * dim * 8 + dim + 8) + head,
  bitfit: depth * (2 * dim + 4 * dim + hidden + dim) + dim + head,
  ln_tuning: (2 * depth + 1) * 2 * dim + head,
  full: base,
};

const B = 2;
const inputs = new Map([
  ['tokens', Int32Array.from({ length: B * seq }, (_, i) => (i * 37 + 5) % vocab)],
  ['labels', Int32Array.of(1, 3)],
]);

describe('the tiny example: one tune per method family', () => {
  it('declares exactly these tunes', () => {
    expect([...text.matchAll(/^tune (\w+)/gm)].map((m) => m[1]).sort()).toEqual(Object.keys(expected).sort());
  });

  for (const [tune, count] of Object.entries(expected)) {
    it(`${tune}: ${count} trainable parameters (closed form)`, () => {
      const fe = compile(text, tune);
      expect(fe.forward.params.reduce((a, p) => a + (p.addedBy ? 0 : p.shape.reduce<number>((x, d) => x * Number(d), 1)), 0)).toBe(base);
      expect(trainableCount(fe)).toBe(count);
      expect(Object.keys(fe.train!.grads).sort()).toEqual(
        fe.forward.params
          .filter((p) => p.trainable)
          .map((p) => p.name)
          .sort(),
      );
    });
  }

  it('LoRA, DoRA, IA3 and adapters start as the base model; prompt and prefix methods do not', () => {
    const full = compile(text, 'full', { training: false });
    const want = run(full.forward, { B }, initParams(full.forward, { B }), inputs).logits!;
    for (const tune of ['lora_qv', 'dora', 'ia3', 'adapter', 'bitfit', 'ln_tuning']) {
      const fe = compile(text, tune, { training: false });
      const got = run(fe.forward, { B }, initParams(fe.forward, { B }), inputs).logits!;
      for (let i = 0; i < want.length; i++) expect(got[i], tune).toBeCloseTo(want[i]!, tune === 'dora' ? 7 : 12); // DoRA: m is ‖W‖ rounded to f32
    }
    for (const tune of ['prefix', 'ptv2', 'prompt']) {
      const fe = compile(text, tune, { training: false });
      const got = run(fe.forward, { B }, initParams(fe.forward, { B }), inputs).logits!;
      expect(
        got.some((v, i) => Math.abs(v - want[i]!) > 1e-6),
        tune,
      ).toBe(true);
    }
  });
});
