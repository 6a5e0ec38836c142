/**
 * What a VQA model expects of its data, read from its declared inputs and config: input shapes
 * (image size, question and answer lengths), and for classifier heads the answer list.
 */
import type { ElaboratedModel } from '../../compiler/sema/instance.ts';
import { normalizeAnswer } from './answers.ts';
import { VqaFormatError } from './json.ts';
import type { VqaItem } from './vqa-formats.ts';

export interface VqaInputShape {
  channels: number;
  imageSize: number;
  qlen: number;
  /** Length of input `answer: i32[B, alen]`; 0 when the model has no `answer` (a classifier). */
  alen: number;
  /** Whether the model has input `answer: i32[B, alen]` (the decoder's target). */
  answer: boolean;
  /** Whether the model has input `answer_class: i32[B]` (index in the answer list, for a classifier head). */
  answerClass: boolean;
}

/**
 * Reads the sizes of inputs `image: f32[B, C, S, S]`, `question: i32[B, qlen]`, and
 * `answer: i32[B, alen]` and/or `answer_class: i32[B]` (at least one of the two).
 */
export function vqaInputShape(model: ElaboratedModel, spec: string): VqaInputShape {
  const dim = (d: unknown, what: string): number => {
    if (typeof d === 'number') return d;
    const v = typeof d === 'string' ? model.config.get(d) : undefined;
    if (v && v.kind === 'int' && typeof v.v === 'number') return v.v;
    throw new VqaFormatError(`--data ${spec}: ${what} of \`${model.name}\` must be a concrete size, got ${String(d)}`);
  };
  const mismatch = (): VqaFormatError =>
    new VqaFormatError(
      `--data ${spec} feeds inputs \`image: f32[B, C, S, S]\`, \`question: i32[B, qlen]\` and \`answer: i32[B, alen]\` (or \`answer_class: i32[B]\`, for a classifier head); \`${model.name}\` has ${model.inputs.map((x) => `\`${x.name}\``).join(', ')}`,
    );
  const find = (name: string, dtype: string, rank: number, optional = false): readonly unknown[] | undefined => {
    const i = model.inputs.find((x) => x.name === name);
    if (!i && optional) return undefined;
    if (!i || i.dtype !== dtype || i.shape.length !== rank) throw mismatch();
    return i.shape;
  };
  const img = find('image', 'f32', 4)!;
  const q = find('question', 'i32', 2)!;
  const cls = find('answer_class', 'i32', 1, true);
  const a = find('answer', 'i32', 2, cls !== undefined);
  const h = dim(img[2], 'the image height');
  const w = dim(img[3], 'the image width');
  if (h !== w) throw new VqaFormatError(`--data ${spec}: square images only, \`${model.name}\` wants ${h}x${w}`);
  return {
    channels: dim(img[1], 'the image channels'),
    imageSize: h,
    qlen: dim(q[1], 'the question length'),
    alen: a ? dim(a[1], 'the answer length') : 0,
    answer: a !== undefined,
    answerClass: cls !== undefined,
  };
}

/**
 * The answer list of a file dataset: the sorted (JavaScript's default, UTF-16 code unit
 * order) distinct normalised answers (`normalizeAnswer`, as the metrics compare) of `items`,
 * the training split.
 */
export function answerList(items: readonly VqaItem[]): string[] {
  return [...new Set(items.map((it) => normalizeAnswer(it.answer)))].sort();
}

/** Index of `answer`, normalised, in `list`, or -1 when the list lacks it. */
export function answerIndex(list: readonly string[]): (answer: string) => number {
  const at = new Map(list.map((a, i) => [a, i]));
  return (answer) => at.get(normalizeAnswer(answer)) ?? -1;
}

/**
 * A classifier (input `answer_class`) needs an integer `answers` in its config equal to the
 * answer list's length: the width of its head.
 */
export function checkAnswerCount(model: ElaboratedModel, spec: string, list: readonly string[]): void {
  const v = model.config.get('answers');
  const got = v && v.kind === 'int' && typeof v.v === 'number' ? v.v : undefined;
  if (got === list.length) return;
  const sample =
    list
      .slice(0, 6)
      .map((a) => JSON.stringify(a))
      .join(', ') + (list.length > 6 ? ', …' : '');
  throw new VqaFormatError(
    `--data ${spec}: the answer list has ${list.length} answers (${sample}) but \`${model.name}\` ` +
      (got === undefined ? 'has no integer `answers` in its config' : `has answers = ${got}`) +
      `; input \`answer_class\` needs \`answers = ${list.length}\``,
  );
}
