/**
 * A VQA dataset for training and evaluation: items from one of the formats of
 * `vqa-formats.ts`, tokenised for the model's inputs (`vqa-model.ts`), served as batches in a
 * seeded order per epoch, with images decoded and resized through a cache.
 */
import { basename } from 'node:path';
import { pcgHash } from '../../compiler/ops/hash.ts';
import type { ElaboratedModel } from '../../compiler/sema/instance.ts';
import { ImageCache, ImageError } from './images.ts';
import type { Batch, Split } from './synthetic.ts';
import { loadTokenizer, type WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
import { type DataProblem, instructionQuestion, loadVqaSpec, type VqaItem } from './vqa-formats.ts';
import { VqaFormatError } from './json.ts';
import { answerIndex, answerList, checkAnswerCount, vqaInputShape, type VqaInputShape } from './vqa-model.ts';

export { VqaFormatError } from './json.ts';
export { checkAnswerCount, vqaInputShape } from './vqa-model.ts';
export type { DataProblem } from './vqa-formats.ts';

export interface VqaDatasetOptions {
  /** `vocab.txt` or `tokenizer.json` (required for file datasets). */
  vocabPath?: string;
  tokenizer?: WordPieceTokenizer;
  /** First token of questions: `[ENC]` as the study's model does (BLIP replaces `[CLS]` by `[ENC]`); or `[CLS]`. */
  questionStart?: '[ENC]' | '[CLS]';
  /** Image scale and normalization (default pixels/255, no normalization, as the study). */
  scale?: number;
  normalize?: { mean: readonly number[]; std: readonly number[] };
  /** Called once per newly found corrupt image; default writes a line to stderr. */
  warn?: (p: DataProblem) => void;
  /** A malformed item is an error instead of a reported, skipped item (`--strict`). */
  strict?: boolean;
}

export interface VqaBatch extends Batch {
  items: VqaItem[];
}

export interface VqaDataset {
  readonly name: string;
  readonly describe: string;
  readonly tokenizer: WordPieceTokenizer;
  /**
   * The answer list (the layout's `answer_list.json` when it has one, else `answerList` of the
   * training split): class i of input `answer_class` is `answers[i]`.
   */
  readonly answers: readonly string[];
  batch(step: number, batchSize: number, split: Split): VqaBatch;
  /** Usable items of a split (before corrupt images are found). */
  items(split: Split): readonly VqaItem[];
  /** Every problem so far: missing images (at load) and corrupt ones (found while batching). */
  problems(): readonly DataProblem[];
}

/** A seeded permutation of [0, n) for one epoch (Fisher–Yates over a counter hash). */
function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const key = pcgHash((seed >>> 0) ^ pcgHash(epoch >>> 0) ^ 0x0e90_c4);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((pcgHash((key ^ pcgHash(i)) >>> 0) / 4294967296) * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

export function openVqaDataset(spec: string, model: ElaboratedModel, seed: number, opts: VqaDatasetOptions = {}): VqaDataset {
  const shape = vqaInputShape(model, spec);
  const tok = datasetTokenizer(spec, model, opts);
  const { splits, problems, instruction, files, listed } = loadSplits(spec, opts.strict ?? false);
  const answers = listed ?? answerList(splits.train);
  if (shape.answerClass) checkAnswerCount(model, spec, answers);
  const cache = new ImageCache(
    { size: shape.imageSize, channels: shape.channels === 1 ? 1 : 3, scale: opts.scale, normalize: opts.normalize },
    512,
  );
  if (shape.channels !== 1 && shape.channels !== 3)
    throw new VqaFormatError(`--data ${spec}: images have 1 or 3 channels, \`${model.name}\` wants ${shape.channels}`);
  const batches = new VqaBatches({
    spec,
    seed,
    shape,
    splits,
    instruction,
    tok,
    questionStart: opts.questionStart ?? (tok.has('[ENC]') ? '[ENC]' : '[CLS]'),
    classOf: answerIndex(answers),
    cache,
    problems,
    warn: opts.warn ?? warnLine,
  });
  if (!opts.warn) warnLoadProblems(spec, problems);
  return {
    name: spec.split(':')[0]!,
    describe: describeVqa(spec, splits, problems, files, listed),
    tokenizer: tok,
    answers,
    items: (split) => splits[split],
    problems: () => problems,
    batch: (step, batchSize, split) => batches.batch(step, batchSize, split),
  };
}

function warnLine(p: DataProblem): void {
  process.stderr.write(`warning: ${p.path}: ${p.reason}; item skipped\n`);
}

/** The problems found at load (malformed items, missing images) on stderr: the first five, then how many in all. */
function warnLoadProblems(spec: string, problems: readonly DataProblem[]): void {
  problems.slice(0, 5).forEach(warnLine);
  if (problems.length > 5)
    process.stderr.write(`warning: --data ${spec}: ${problems.length} items skipped in all (\`milec data ${spec}\` lists them)\n`);
}

/** The tokenizer of `opts` (given, or read from `vocabPath`), which must have no more tokens than the model's `vocab`. */
function datasetTokenizer(spec: string, model: ElaboratedModel, opts: VqaDatasetOptions): WordPieceTokenizer {
  const tok = opts.tokenizer ?? (opts.vocabPath ? loadTokenizer(opts.vocabPath) : undefined);
  if (!tok) throw new VqaFormatError(`--data ${spec} needs a BERT vocabulary: pass --vocab PATH (vocab.txt or tokenizer.json)`);
  const vocab = model.config.get('vocab');
  if (vocab && vocab.kind === 'int' && typeof vocab.v === 'number' && vocab.v < tok.size) {
    throw new VqaFormatError(`--data ${spec}: the tokenizer has ${tok.size} tokens but \`${model.name}\` has vocab = ${vocab.v}`);
  }
  return tok;
}

/**
 * The usable items of both splits of `spec`, the problems that excluded others, whether they are
 * instructions, the files read and the layout's answer list. A split read from a file must have
 * usable items; a split without a file (a lone `testset.json`) may be empty, and is an error
 * only when batched.
 */
function loadSplits(
  spec: string,
  strict: boolean,
): { splits: Record<Split, VqaItem[]>; problems: DataProblem[]; instruction: boolean; files: string[]; listed?: string[] } {
  const loaded = loadVqaSpec(spec, { strict });
  const splits: Record<Split, VqaItem[]> = { train: loaded.train.items, eval: loaded.eval.items };
  for (const s of ['train', 'eval'] as const) {
    const hasFile = (loaded[s].files?.length ?? 1) > 0;
    if (splits[s].length === 0 && (hasFile || splits[s === 'train' ? 'eval' : 'train'].length === 0))
      throw new VqaFormatError(`--data ${spec}: the ${s} split has no usable items${excluded(loaded[s].problems)}`);
  }
  const files = [...new Set([...(loaded.train.files ?? []), ...(loaded.eval.files ?? [])])];
  const listed = loaded.train.answerList ?? loaded.eval.answerList;
  return {
    splits,
    problems: [...loaded.train.problems, ...loaded.eval.problems],
    instruction: loaded.instruction,
    files,
    ...(listed ? { listed } : {}),
  };
}

/** `; N excluded (the first three problems)`, or '' when there are none. */
function excluded(problems: readonly DataProblem[]): string {
  if (!problems.length) return '';
  const first = problems.slice(0, 3).map((p) => `${p.path}: ${p.reason}`);
  return `; ${problems.length} excluded (${first.join('; ')}${problems.length > 3 ? '; …' : ''})`;
}

/** `VqaDataset.describe`: the split sizes, the first three problems found at load, the files read and the answer list's size. */
function describeVqa(
  spec: string,
  splits: Record<Split, VqaItem[]>,
  problems: readonly DataProblem[],
  files: readonly string[],
  listed: readonly string[] | undefined,
): string {
  return (
    `${spec}: ${splits.train.length} train / ${splits.eval.length} eval items` +
    excluded(problems) +
    (files.length ? `; read ${files.map((f) => basename(f)).join(', ')}` : '') +
    (listed ? `; answer list of ${listed.length} (answer_list.json)` : '')
  );
}

/** What the batches of a VQA dataset are made from. */
interface BatchSource {
  readonly spec: string;
  readonly seed: number;
  readonly shape: VqaInputShape;
  readonly splits: Record<Split, VqaItem[]>;
  /** Instruction data: an item's question is drawn per epoch (`instructionQuestion`). */
  readonly instruction: boolean;
  readonly tok: WordPieceTokenizer;
  readonly questionStart: '[ENC]' | '[CLS]';
  /** Index of an answer in the answer list (input `answer_class`). */
  readonly classOf: (answer: string) => number;
  readonly cache: ImageCache;
  /** The dataset's problems: each corrupt image found while batching is appended. */
  readonly problems: DataProblem[];
  readonly warn: (p: DataProblem) => void;
}

/**
 * Batches of a VQA dataset: the training split in a seeded order per epoch, the eval split in
 * file order; an item whose image fails to decode is reported once and skipped from then on.
 */
class VqaBatches {
  private readonly orders = new Map<string, Uint32Array>();
  /** Image paths that failed to decode. */
  private readonly bad = new Set<string>();

  constructor(private readonly s: BatchSource) {}

  batch(step: number, batchSize: number, split: Split): VqaBatch {
    const { shape, tok } = this.s;
    const plane = shape.imageSize * shape.imageSize * shape.channels;
    const image = new Float32Array(batchSize * plane);
    const question = new Int32Array(batchSize * shape.qlen);
    const answer = new Int32Array(batchSize * shape.alen);
    const answerClass = new Int32Array(batchSize);
    const items: VqaItem[] = [];
    if (this.s.splits[split].length === 0)
      throw new VqaFormatError(`--data ${this.s.spec}: the ${split} split has no items (the dataset has no file for it)`);
    for (let b = 0; b < batchSize; b++) {
      const { item, pixels, epoch } = this.usableItem(split, step * batchSize + b);
      image.set(pixels, b * plane);
      const q = this.s.instruction ? instructionQuestion(item, epoch, this.s.seed) : item.question;
      question.set(tok.encodeQuestion(q, shape.qlen, { start: this.s.questionStart }), b * shape.qlen);
      if (shape.answer) answer.set(tok.encodeAnswer(item.answer, shape.alen), b * shape.alen);
      answerClass[b] = this.s.classOf(item.answer);
      items.push(item);
    }
    const inputs: Batch['inputs'] = { image, question };
    if (shape.answer) inputs.answer = answer;
    if (shape.answerClass) inputs.answer_class = answerClass;
    return { inputs, size: batchSize, items };
  }

  /**
   * The item at position `g` of the split's order (over epochs) with its image, or, when that
   * image is corrupt, the next one in order whose image decodes.
   */
  private usableItem(split: Split, g: number): { item: VqaItem; pixels: Float32Array; epoch: number } {
    const list = this.s.splits[split];
    const n = list.length;
    for (let tries = 0; ; tries++, g++) {
      if (tries > n)
        throw new VqaFormatError(
          `--data ${this.s.spec}: every image of the ${split} split failed to decode (${this.s.problems.length} problems)`,
        );
      const epoch = Math.floor(g / n);
      const item = list[this.order(split, epoch)[g % n]!]!;
      if (this.bad.has(item.imagePath)) continue;
      try {
        return { item, pixels: this.s.cache.get(item.imagePath), epoch };
      } catch (e) {
        if (!(e instanceof ImageError)) throw e;
        this.bad.add(item.imagePath);
        const p = { path: e.path, reason: e.reason, itemId: item.id };
        this.s.problems.push(p);
        this.s.warn(p);
      }
    }
  }

  /** The order of `split` in `epoch`; the last few are kept, as consecutive batches mostly share an epoch. */
  private order(split: Split, epoch: number): Uint32Array {
    const key = `${split}:${epoch}`;
    let o = this.orders.get(key);
    if (!o) {
      const n = this.s.splits[split].length;
      o = split === 'train' ? epochOrder(n, this.s.seed, epoch) : Uint32Array.from({ length: n }, (_, i) => i);
      if (this.orders.size > 8) this.orders.clear();
      this.orders.set(key, o);
    }
    return o;
  }
}
