/**
 * The built-in synthetic dataset behind the default example: keyword classification.
 *
 * The vocabulary is split in two. The top `classes * keywordsPerClass` ids are keywords,
 * `keywordsPerClass` consecutive ids owned by each class; every id below them is filler.
 * An example of class c is a sequence of `seq` tokens in which 2 or 3 positions (chosen at
 * random, distinct) hold keywords of class c (each drawn at random from c's set, repeats
 * allowed) and every other position holds a uniformly random filler token. The label is c.
 *
 * Why this task: the answer is a function of which tokens occur, not where, so a tiny
 * transformer with mean pooling can learn it (mean pooling of embeddings is a bag of
 * words, and the classes are linearly separable in it), yet nothing about it is guessable
 * without looking at the tokens: labels are uniform, so chance is 1/classes, and filler is
 * drawn from the same distribution for every class. Keywords are a small fraction of a
 * long sequence, so attention that learns to up-weight them helps, but it is not required.
 *
 * Determinism: the data is an infinite stream of examples per split, example i being a
 * pure function of (seed, split, i). batch(step, B) returns examples [step*B, (step+1)*B),
 * so a resumed run sees exactly the batches it would have seen, and any step can be
 * regenerated without replaying earlier ones. The train and eval streams are keyed by
 * different derived seeds, so they do not share random draws.
 */
import { pcgHash } from '../../compiler/ops/hash.ts';

export interface Batch {
  /** `tokens`: i32 [size, seq], row-major; `labels`: i32 [size]. */
  inputs: Record<string, Int32Array | Float32Array>;
  size: number;
}

export type Split = 'train' | 'eval';

export interface SyntheticTaskOptions {
  vocab: number;
  seq: number;
  classes: number;
  seed: number;
  /** Keyword ids owned by each class; default min(4, vocab / (2 * classes)), at least 1. */
  keywordsPerClass?: number;
}

export interface SyntheticTask {
  name: string;
  describe: string;
  batch(step: number, batchSize: number, split: Split): Batch;
}

/** Keywords per example: uniformly 2 or 3 (sequences must have room for 3). */
const MIN_KEYWORDS = 2;
const MAX_KEYWORDS = 3;

/**
 * Salts keep the split streams apart: each split's key is derived from the seed with a
 * different salt, so train example i and eval example i share no random draws.
 */
const SPLIT_SALT: Record<Split, number> = { train: 0x7472_6e31, eval: 0x6576_6c32 };

/**
 * A counter-based generator: draw k of an example is hash(key, k). Stateless per example,
 * which is what makes random access by step possible.
 */
class ExampleRng {
  private k = 0;
  constructor(private readonly key: number) {}
  /** A u32. */
  next(): number {
    return pcgHash((this.key ^ pcgHash((this.k++ + 0x9e37_79b9) >>> 0)) >>> 0);
  }
  /** Uniform in [0, n) for n well below 2^32 (bias is at most n / 2^32). */
  below(n: number): number {
    return Math.floor((this.next() / 4294967296) * n);
  }
}

function checkInt(what: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`syntheticSequenceTask: ${what} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

export function syntheticSequenceTask(opts: SyntheticTaskOptions): SyntheticTask {
  const classes = checkInt('classes', opts.classes, 2);
  const seq = checkInt('seq', opts.seq, MAX_KEYWORDS);
  const vocab = checkInt('vocab', opts.vocab, 1);
  // Default: up to 4 keywords per class, but keep at least half the vocab as filler.
  const perClass =
    opts.keywordsPerClass === undefined
      ? Math.max(1, Math.min(4, Math.floor(vocab / (2 * classes))))
      : checkInt('keywordsPerClass', opts.keywordsPerClass, 1);
  if (typeof opts.seed !== 'number' || !Number.isSafeInteger(opts.seed)) {
    throw new RangeError(`syntheticSequenceTask: seed must be a safe integer, got ${String(opts.seed)}`);
  }
  const keywordCount = classes * perClass;
  const filler = vocab - keywordCount;
  if (filler < 1) {
    throw new RangeError(
      `syntheticSequenceTask: vocab ${vocab} must exceed the keyword range: ${classes} classes x ${perClass} keywords ` +
        `take ${keywordCount} ids and filler needs at least one more (vocab >= ${keywordCount + 1})`,
    );
  }

  // Fold the whole safe-integer seed in, so seeds 2^32 apart are different datasets.
  const seedLo = opts.seed >>> 0;
  const seedHi = Math.floor(opts.seed / 4294967296) >>> 0;
  const splitKey = (split: Split): number => pcgHash(seedLo ^ pcgHash(seedHi ^ pcgHash(SPLIT_SALT[split])));
  const keys: Record<Split, number> = { train: splitKey('train'), eval: splitKey('eval') };

  const positions = new Int32Array(seq);

  /** Writes example `index` of `split` into row `row`; returns its label. */
  function example(split: Split, index: number, tokens: Int32Array, row: number): number {
    const idxLo = index >>> 0;
    const idxHi = Math.floor(index / 4294967296) >>> 0;
    const rng = new ExampleRng(pcgHash(keys[split] ^ pcgHash(idxLo ^ pcgHash(idxHi))));
    const label = rng.below(classes);
    const base = row * seq;
    for (let p = 0; p < seq; p++) tokens[base + p] = rng.below(filler);
    // Partial Fisher-Yates: the first `count` entries become distinct random positions.
    const count = MIN_KEYWORDS + rng.below(MAX_KEYWORDS - MIN_KEYWORDS + 1);
    for (let p = 0; p < seq; p++) positions[p] = p;
    for (let j = 0; j < count; j++) {
      const r = j + rng.below(seq - j);
      const t = positions[j]!;
      positions[j] = positions[r]!;
      positions[r] = t;
      tokens[base + positions[j]!] = filler + label * perClass + rng.below(perClass);
    }
    return label;
  }

  return {
    name: 'synthetic-keywords',
    describe:
      `keyword classification: ${classes} classes; sequences of ${seq} tokens from a vocab of ${vocab}; ` +
      `class c owns keyword ids [${filler} + ${perClass}c, ${filler} + ${perClass}(c+1)); each sequence holds ` +
      `${MIN_KEYWORDS}-${MAX_KEYWORDS} keywords of its class at random positions among filler ids [0, ${filler}); chance accuracy ${(100 / classes).toFixed(1)}%`,
    batch(step: number, batchSize: number, split: Split): Batch {
      checkInt('step', step, 0);
      checkInt('batchSize', batchSize, 1);
      if (split !== 'train' && split !== 'eval')
        throw new RangeError(`syntheticSequenceTask: split must be 'train' or 'eval', got ${String(split)}`);
      const first = step * batchSize;
      if (!Number.isSafeInteger(first + batchSize))
        throw new RangeError(`syntheticSequenceTask: step ${step} x batchSize ${batchSize} is out of range`);
      const tokens = new Int32Array(batchSize * seq);
      const labels = new Int32Array(batchSize);
      for (let b = 0; b < batchSize; b++) labels[b] = example(split, first + b, tokens, b);
      return { inputs: { tokens, labels }, size: batchSize };
    },
  };
}
