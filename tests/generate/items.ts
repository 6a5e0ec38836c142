/** Shared pieces of the generation tests: vqa_tiny with decisive logits, and random items whose questions end in padding. */
import { expect } from 'vitest';
import type { Graph } from '../../compiler/ir/graph.ts';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import type { ItemInputs } from '../../runtime/generate.ts';
import { mulberry32 } from '../../runtime/init.ts';
import { initialParams } from '../../runtime/params.ts';
import { fileHost } from '../../runtime/source-files.ts';

/** vqa_tiny's `[DEC]`, `[SEP]` and `[PAD]` ids. */
export const special = { bos: 4, eos: 3, pad: 0 };

/** Questions of 8, 7 or 6 tokens, then [PAD]s (0), so the question masks take part. */
export function tinyItems(n: number, seed: number): ItemInputs[] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, (_, k) => ({
    image: Float32Array.from({ length: 3 * 16 * 16 }, () => 2 * rng() - 1),
    question: Int32Array.from({ length: 8 }, (_, i) => (i === 0 ? 2 : i >= 8 - (k % 3) ? 0 : 5 + Math.floor(rng() * 19))),
  }));
}

/** vqa_tiny's inference forward (tune f_f_lora) with seeded weights. */
export function tinyModel(): { graph: Graph; params: Map<string, Float32Array> } {
  const fe = compileFrontEnd({ host: fileHost(), file: 'examples/vqa_tiny.mile', tune: 'f_f_lora', training: false });
  expect(fe.diagnostics).toEqual([]);
  const graph = fe.result!.forward;
  const params = initialParams(graph, 3);
  // Make the logits decisive (random init leaves them nearly flat): scale up the tied table.
  const rng = mulberry32(99);
  for (const [name, v] of params)
    if (name.endsWith('word_embeddings.weight') || name.endsWith('predictions.bias'))
      for (let i = 0; i < v.length; i++) v[i] = v[i]! * 50 + (rng() - 0.5);
  return { graph, params };
}
