/** Shared inputs of the generation tests: random vqa_tiny items whose questions end in padding. */
import type { ItemInputs } from '../../runtime/generate.ts';
import { mulberry32 } from '../../runtime/init.ts';

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
