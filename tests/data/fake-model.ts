/** A stand-in for an elaborated VQA model: only the config and inputs the data layer reads. */
import type { ElaboratedModel, Scalar } from '../../compiler/sema/instance.ts';

export interface FakeVqaModel {
  name?: string;
  vocab: number;
  image?: number;
  /** Adds input `answer: i32[B, 5]` (and config `alen = 5`). */
  answer?: boolean;
  /** Adds input `answer_class: i32[B]`, with config `answers` when a number is given. */
  answerClass?: boolean;
  answers?: number;
  /** The answer length when `answer` is set (default 5). */
  alen?: number;
}

export function fakeVqaModel(o: FakeVqaModel): ElaboratedModel {
  const config = new Map<string, Scalar>([
    ['vocab', { kind: 'int', v: o.vocab }],
    ['image', { kind: 'int', v: o.image ?? 8 }],
    ['qlen', { kind: 'int', v: 12 }],
  ]);
  if (o.answer) config.set('alen', { kind: 'int', v: o.alen ?? 5 });
  if (o.answers !== undefined) config.set('answers', { kind: 'int', v: o.answers });
  const span = undefined as never;
  return {
    name: o.name ?? 'TinyVQA',
    root: undefined as never,
    shared: [],
    config,
    weights: [],
    inputs: [
      { name: 'image', dtype: 'f32', shape: ['B', 3, 'image', 'image'], span },
      { name: 'question', dtype: 'i32', shape: ['B', 'qlen'], span },
      ...(o.answer ? [{ name: 'answer', dtype: 'i32', shape: ['B', o.alen ?? 5], span }] : []),
      ...(o.answerClass ? [{ name: 'answer_class', dtype: 'i32', shape: ['B'], span }] : []),
    ],
  } as unknown as ElaboratedModel;
}
