/**
 * A built-in synthetic medical-like VQA set, deterministic from a seed.
 *
 * Each example is a procedural grayscale "scan" and one question about it:
 *
 *   organ   brain: a round head with a bright skull ring; lung: a wide chest with two dark
 *           lung fields and a heart blob; liver: an abdomen with a large liver blob on the
 *           image's left, two kidneys and the spine.
 *   lesions 0, 1 or 2 bright disks, all on one side (image left or right: image coordinates,
 *           not the patient's), all small or all large.
 *
 *   kind      question (one of a few phrasings)        answers              type
 *   presence  is there a lesion?                        yes / no             CLOSED
 *   left      is the lesion on the left?                yes / no             CLOSED (asked only with a lesion)
 *   organ     which organ is shown?                     brain / lung / liver OPEN
 *   side      on which side is the lesion?              left / right         OPEN   (with a lesion)
 *   size      how large is the lesion?                  small / large        OPEN   (with a lesion)
 *   count     how many lesions are there?               zero / one / two     OPEN
 *
 * Balance: the kind is drawn uniformly, then the answer uniformly among the kind's answers, then
 * the image parameters uniformly among those consistent with that answer. So within each kind
 * answers are uniform (chance: 50% closed, 1/3 or 1/2 open), and the answer is still a pure
 * function of the image parameters (`answerFor`), which is what makes the set learnable: the
 * visual evidence (ring/lung fields/liver, bright disks' side, size and number) is large and
 * high-contrast even at 32×32: lesions are white (1.0) disks of 2–4 pixels' radius there, and
 * no anatomy is brighter than 0.72 (with ±0.03 noise), so "is there a lesion?" is a matter of
 * the brightest pixels, not of telling a lesion from the skull ring or the spine.
 *
 * Determinism: as runtime/data/synthetic.ts, example i of a split is a pure function of
 * (seed, split, i), so batch(step) is random-access and resumable.
 *
 * Instruction variant (`--data synthetic-instruction`): the same examples (images, kinds,
 * answers), each question wrapped in a template of INSTRUCTION_TEMPLATES drawn per item and
 * epoch from the seed (`instructionTemplate`, as `instructionQuestion` draws from an
 * instruction file's pool). The stream never repeats an item, so the batches draw with epoch 0;
 * `epoch` is there for a caller that revisits items. Only templates whose question fits the
 * model's `qlen` (with its start and `[SEP]` tokens) are drawn from; the bare `{q}` is always
 * among them, so nothing is truncated that the plain set would not truncate. The template words
 * extend the vocabulary after `[ENC]` (`syntheticInstructionVocab`): the plain set's ids stay.
 */
import { pcgHash } from '../../compiler/ops/hash.ts';
import type { Batch, Split } from './synthetic.ts';

export type Organ = 'brain' | 'lung' | 'liver';
export type QuestionKind = 'presence' | 'left' | 'organ' | 'side' | 'size' | 'count';

export interface LesionSpec {
  u: number;
  v: number;
  r: number;
}

export interface ScanParams {
  organ: Organ;
  count: 0 | 1 | 2;
  side: 'left' | 'right';
  size: 'small' | 'large';
  /** Body centre offset and scale jitter, in units of the image size. */
  du: number;
  dv: number;
  scale: number;
  lesions: LesionSpec[];
  /** Seed of the pixel noise. */
  noise: number;
}

export interface SyntheticVqaExample {
  params: ScanParams;
  kind: QuestionKind;
  question: string;
  answer: string;
  answerType: 'OPEN' | 'CLOSED';
}

export const QUESTION_KINDS: readonly QuestionKind[] = ['presence', 'left', 'organ', 'side', 'size', 'count'];

export const ANSWERS: Record<QuestionKind, readonly string[]> = {
  presence: ['yes', 'no'],
  left: ['yes', 'no'],
  organ: ['brain', 'lung', 'liver'],
  side: ['left', 'right'],
  size: ['small', 'large'],
  count: ['zero', 'one', 'two'],
};

/**
 * The answer list of the synthetic set, for a classifier head (input `answer_class`): every
 * answer it can give, once, in the order of QUESTION_KINDS then of each kind's ANSWERS —
 * yes, no, brain, lung, liver, left, right, small, large, zero, one, two. Fixed: a trained
 * head's classes keep their meaning.
 */
export const SYNTHETIC_VQA_ANSWERS: readonly string[] = [...new Set(QUESTION_KINDS.flatMap((k) => ANSWERS[k]))];

export const TEMPLATES: Record<QuestionKind, readonly string[]> = {
  presence: ['is there a lesion?', 'is there a lesion in this image?', 'is any lesion present?'],
  left: ['is the lesion on the left?', 'is the lesion on the left side?'],
  organ: ['which organ is shown?', 'what organ is in this image?'],
  side: ['on which side is the lesion?', 'which side is the lesion on?'],
  size: ['how large is the lesion?', 'what size is the lesion?'],
  count: ['how many lesions are there?', 'how many lesions are in this image?'],
};

/**
 * The instruction templates (`{q}` is the plain question). Short, and with 7 words beyond the
 * plain vocabulary's (`question`, `:`, `look`, `at`, `answer`, `briefly`, `.`), so the
 * instruction vocabulary has 48 tokens: what examples/miss_tiny.mile's `vocab` holds.
 */
export const INSTRUCTION_TEMPLATES: readonly string[] = [
  '{q}',
  'question: {q}',
  'look at the image: {q}',
  '{q} answer briefly.',
  'question: {q} answer:',
];

const ORGANS: readonly Organ[] = ['brain', 'lung', 'liver'];
const COUNT_WORDS = ['zero', 'one', 'two'] as const;

export function answerType(kind: QuestionKind): 'OPEN' | 'CLOSED' {
  return kind === 'presence' || kind === 'left' ? 'CLOSED' : 'OPEN';
}

/** The answer to `kind` about a scan: a pure function of its parameters. */
export function answerFor(p: ScanParams, kind: QuestionKind): string {
  switch (kind) {
    case 'presence':
      return p.count > 0 ? 'yes' : 'no';
    case 'left':
      return p.side === 'left' ? 'yes' : 'no';
    case 'organ':
      return p.organ;
    case 'side':
      return p.side;
    case 'size':
      return p.size;
    case 'count':
      return COUNT_WORDS[p.count];
  }
}

/** Every word the generator writes (questions and answers), sorted: the built-in vocabulary. */
export function syntheticVqaWords(): string[] {
  const words = new Set<string>();
  const add = (s: string): void => {
    for (const w of s.toLowerCase().split(/\s+/)) for (const part of w.split(/([?])/)) if (part) words.add(part);
  };
  for (const k of QUESTION_KINDS) {
    TEMPLATES[k].forEach(add);
    ANSWERS[k].forEach(add);
  }
  return [...words].sort();
}

/** BERT-style vocabulary for the synthetic set: specials, the generator's words, then `[DEC]`, `[ENC]`. */
export function syntheticVqaVocab(): string[] {
  return ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...syntheticVqaWords(), '[DEC]', '[ENC]'];
}

/** The words of INSTRUCTION_TEMPLATES that the plain vocabulary lacks, in order of first use. */
export function syntheticInstructionWords(): string[] {
  const plain = new Set(syntheticVqaWords());
  const out: string[] = [];
  for (const t of INSTRUCTION_TEMPLATES)
    for (const w of t.replace('{q}', ' ').toLowerCase().split(/\s+/))
      for (const part of w.split(/([?:.])/)) if (part && !plain.has(part) && !out.includes(part)) out.push(part);
  return out;
}

/** The instruction variant's vocabulary: `syntheticVqaVocab()` (same ids), then the template words. */
export function syntheticInstructionVocab(): string[] {
  return [...syntheticVqaVocab(), ...syntheticInstructionWords()];
}

/**
 * Example `index`'s question in template form: a template of INSTRUCTION_TEMPLATES drawn from
 * (seed, split, index, epoch) among those whose text `fits` (all when absent; `{q}` always).
 */
export function instructionTemplate(
  seed: number,
  split: Split,
  index: number,
  epoch: number,
  question: string,
  fits: (text: string) => boolean = () => true,
): string {
  const pool = INSTRUCTION_TEMPLATES.map((t) => t.replace('{q}', question)).filter((t, i) => i === 0 || fits(t));
  const h = pcgHash(exampleKey(seed, split, index) ^ pcgHash((epoch >>> 0) ^ 0x1e57_7c7));
  return pool[Math.floor((h / 4294967296) * pool.length)]!;
}

/** A stream of hashed draws from one key (so example i is a pure function of its key). */
export class Rng {
  private k = 0;
  constructor(private readonly key: number) {}
  next(): number {
    return pcgHash((this.key ^ pcgHash((this.k++ + 0x9e37_79b9) >>> 0)) >>> 0);
  }
  unit(): number {
    return this.next() / 4294967296;
  }
  below(n: number): number {
    return Math.floor(this.unit() * n);
  }
  range(a: number, b: number): number {
    return a + (b - a) * this.unit();
  }
}

const SPLIT_SALT: Record<Split, number> = { train: 0x5651_4174, eval: 0x5651_4165 };

function exampleKey(seed: number, split: Split, index: number): number {
  const s = pcgHash((seed >>> 0) ^ pcgHash((Math.floor(seed / 4294967296) >>> 0) ^ pcgHash(SPLIT_SALT[split])));
  return pcgHash(s ^ pcgHash((index >>> 0) ^ pcgHash(Math.floor(index / 4294967296) >>> 0)));
}

/** Example `index` of `split`: a pure function of (seed, split, index). */
export function syntheticVqaExample(seed: number, split: Split, index: number): SyntheticVqaExample {
  const rng = new Rng(exampleKey(seed, split, index));
  const kind = QUESTION_KINDS[rng.below(QUESTION_KINDS.length)]!;
  const answers = ANSWERS[kind];
  const answer = answers[rng.below(answers.length)]!;
  // Free parameters, then the ones the answer pins.
  let organ = ORGANS[rng.below(3)]!;
  let count = rng.below(3) as 0 | 1 | 2;
  let side: 'left' | 'right' = rng.below(2) === 0 ? 'left' : 'right';
  let size: 'small' | 'large' = rng.below(2) === 0 ? 'small' : 'large';
  const withLesion = (): 1 | 2 => (1 + rng.below(2)) as 1 | 2;
  switch (kind) {
    case 'presence':
      count = answer === 'yes' ? withLesion() : 0;
      break;
    case 'left':
      count = withLesion();
      side = answer === 'yes' ? 'left' : 'right';
      break;
    case 'organ':
      organ = answer as Organ;
      break;
    case 'side':
      count = withLesion();
      side = answer as 'left' | 'right';
      break;
    case 'size':
      count = withLesion();
      size = answer as 'small' | 'large';
      break;
    case 'count':
      count = COUNT_WORDS.indexOf(answer as (typeof COUNT_WORDS)[number]) as 0 | 1 | 2;
      break;
  }
  const du = rng.range(-0.03, 0.03);
  const dv = rng.range(-0.03, 0.03);
  const scale = rng.range(0.93, 1.05);
  const lesions: LesionSpec[] = [];
  for (let j = 0; j < count; j++) {
    const u = side === 'left' ? rng.range(0.25, 0.35) : rng.range(0.65, 0.75);
    const v = count === 1 ? rng.range(0.36, 0.62) : j === 0 ? rng.range(0.3, 0.4) : rng.range(0.58, 0.68);
    const r = size === 'small' ? rng.range(0.06, 0.075) : rng.range(0.11, 0.13);
    lesions.push({ u, v, r });
  }
  const params: ScanParams = { organ, count, side, size, du, dv, scale, lesions, noise: rng.next() };
  const templates = TEMPLATES[kind];
  const question = templates[rng.below(templates.length)]!;
  return { params, kind, question, answer: answerFor(params, kind), answerType: answerType(kind) };
}

/** Renders the scan as grayscale [size, size] in [0, 1]. */
export function renderScan(p: ScanParams, size: number): Float32Array {
  const out = new Float32Array(size * size);
  const ell = (u: number, v: number, cu: number, cv: number, ru: number, rv: number): number => ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2;
  const s = p.scale;
  const cu = 0.5 + p.du;
  const cv = 0.5 + p.dv;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) / size;
      const v = (y + 0.5) / size;
      let val = 0.02;
      if (p.organ === 'brain') {
        const d = ell(u, v, cu, cv, 0.4 * s, 0.4 * s);
        if (d <= 1) val = d >= 0.78 ? 0.7 : 0.42;
      } else if (p.organ === 'lung') {
        if (ell(u, v, cu, cv, 0.45 * s, 0.34 * s) <= 1) {
          val = 0.5;
          if (ell(u, v, cu - 0.18 * s, cv - 0.02, 0.13 * s, 0.23 * s) <= 1 || ell(u, v, cu + 0.18 * s, cv - 0.02, 0.13 * s, 0.23 * s) <= 1)
            val = 0.12;
          if (ell(u, v, cu + 0.02, cv + 0.08, 0.08 * s, 0.08 * s) <= 1) val = 0.62;
        }
      } else {
        if (ell(u, v, cu, cv, 0.42 * s, 0.36 * s) <= 1) {
          val = 0.38;
          if (ell(u, v, cu - 0.13 * s, cv - 0.05, 0.17 * s, 0.13 * s) <= 1) val = 0.6;
          if (ell(u, v, cu - 0.16 * s, cv + 0.16, 0.05 * s, 0.06 * s) <= 1 || ell(u, v, cu + 0.16 * s, cv + 0.16, 0.05 * s, 0.06 * s) <= 1)
            val = 0.55;
          if (ell(u, v, cu, cv + 0.24 * s, 0.045 * s, 0.045 * s) <= 1) val = 0.72;
        }
      }
      for (const l of p.lesions) if (ell(u, v, l.u, l.v, l.r, l.r) <= 1) val = 1;
      const n = pcgHash((p.noise ^ pcgHash(y * size + x)) >>> 0) / 4294967296;
      out[y * size + x] = Math.min(1, Math.max(0, val + (n - 0.5) * 0.06));
    }
  }
  return out;
}

export interface SyntheticVqaOptions {
  seed: number;
  /** Image side and channels of the model's `image` input (gray is replicated to every channel). */
  imageSize: number;
  channels: number;
  /** Question and answer lengths (`question: i32[B, qlen]`, `answer: i32[B, alen]`). */
  qlen: number;
  alen: number;
  /** Feed input `answer` (default true). */
  answer?: boolean;
  /** Feed input `answer_class: i32[B]`, the answer's index in SYNTHETIC_VQA_ANSWERS (default false). */
  answerClass?: boolean;
  /**
   * The instruction variant: each question in a drawn template (`instructionTemplate`), among
   * the templates for which `fitsQuestion` holds (the tokens fit `qlen`).
   */
  instruction?: boolean;
  fitsQuestion?: (text: string) => boolean;
  /** Token ids: `encodeQuestion`/`encodeAnswer` of a tokenizer built on `syntheticVqaVocab()` (`syntheticInstructionVocab()`). */
  encodeQuestion(text: string, maxLen: number): Int32Array;
  encodeAnswer(text: string, maxLen: number): Int32Array;
}

export interface SyntheticVqaBatch extends Batch {
  examples: SyntheticVqaExample[];
}

/**
 * Batches of the synthetic set: inputs `image` f32[B, C, S, S], `question` i32[B, qlen],
 * `answer` i32[B, alen] (unless `o.answer` is false) and `answer_class` i32[B] (when `o.answerClass`).
 */
export function syntheticVqaBatch(o: SyntheticVqaOptions, step: number, batchSize: number, split: Split): SyntheticVqaBatch {
  if (!Number.isSafeInteger(step) || step < 0 || !Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`syntheticVqa: step must be >= 0 and batchSize >= 1, got ${step}, ${batchSize}`);
  }
  const S = o.imageSize;
  const plane = S * S;
  const image = new Float32Array(batchSize * o.channels * plane);
  const question = new Int32Array(batchSize * o.qlen);
  const answer = new Int32Array(batchSize * o.alen);
  const answerClass = new Int32Array(batchSize);
  const withAnswer = o.answer ?? true;
  const examples: SyntheticVqaExample[] = [];
  for (let b = 0; b < batchSize; b++) {
    const index = step * batchSize + b;
    let ex = syntheticVqaExample(o.seed, split, index);
    if (o.instruction) ex = { ...ex, question: instructionTemplate(o.seed, split, index, 0, ex.question, o.fitsQuestion) };
    examples.push(ex);
    const g = renderScan(ex.params, S);
    for (let c = 0; c < o.channels; c++) image.set(g, (b * o.channels + c) * plane);
    question.set(o.encodeQuestion(ex.question, o.qlen), b * o.qlen);
    if (withAnswer) answer.set(o.encodeAnswer(ex.answer, o.alen), b * o.alen);
    answerClass[b] = SYNTHETIC_VQA_ANSWERS.indexOf(ex.answer);
  }
  const inputs: Batch['inputs'] = { image, question };
  if (withAnswer) inputs.answer = answer;
  if (o.answerClass) inputs.answer_class = answerClass;
  return { inputs, size: batchSize, examples };
}
