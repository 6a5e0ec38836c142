/** Input `answer_class` of classifier-head VQA models: the answer lists and labels of the data sets. */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { DataError, openDataset } from '../../runtime/data/index.ts';
import { ANSWERS, QUESTION_KINDS, SYNTHETIC_VQA_ANSWERS, syntheticVqaExample } from '../../runtime/data/synthetic-vqa.ts';
import { answerList } from '../../runtime/data/vqa-model.ts';
import { fakeVqaModel } from './fake-model.ts';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const vocab = ['--vocab', join(fx, 'tokenizer', 'vocab.txt')];

/** A classifier model: image, question, answer_class (and `answer` too when `withAnswer`). */
function clsModel(answers: number | undefined, withAnswer = false) {
  return fakeVqaModel({ name: 'TinyCls', vocab: 64, answer: withAnswer, answerClass: true, answers });
}

describe('answer_class labels', () => {
  it("synthetic: a fixed list of every answer, and each label indexes the item's answer", () => {
    expect(SYNTHETIC_VQA_ANSWERS).toEqual(['yes', 'no', 'brain', 'lung', 'liver', 'left', 'right', 'small', 'large', 'zero', 'one', 'two']);
    expect(new Set(SYNTHETIC_VQA_ANSWERS)).toEqual(new Set(QUESTION_KINDS.flatMap((k) => ANSWERS[k])));
    const d = openDataset('synthetic', clsModel(12), 3);
    expect(d.answers).toEqual(SYNTHETIC_VQA_ANSWERS);
    const b = d.batch(1, 8, 'eval');
    expect(Object.keys(b.inputs).sort()).toEqual(['answer_class', 'image', 'question']);
    const labels = b.inputs.answer_class as Int32Array;
    expect(labels).toBeInstanceOf(Int32Array);
    expect(labels.length).toBe(8);
    for (let i = 0; i < 8; i++) expect(SYNTHETIC_VQA_ANSWERS[labels[i]!]).toBe(syntheticVqaExample(3, 'eval', 8 + i).answer);
    // With both inputs, both are fed.
    const both = openDataset('synthetic-vqa', clsModel(12, true), 3).batch(1, 8, 'eval');
    expect(both.inputs.answer!.length).toBe(8 * 5);
    expect(both.inputs.answer_class).toEqual(labels);
  });

  it('vqa-rad: the sorted distinct normalised training answers; eval answers outside the list are -1', () => {
    const d = openDataset(`vqa-rad:${join(fx, 'vqa', 'vqa-rad')}`, clsModel(2), 1, { vocabPath: vocab[1] });
    // Training items with an image: "Yes" and "left lung" (synpic404's "no" is excluded: missing image).
    expect(d.answers).toEqual(['left lung', 'yes']);
    const train = d.batch(0, 2, 'train');
    const items = (train as unknown as { items: { answer: string }[] }).items;
    const labels = [...(train.inputs.answer_class as Int32Array)];
    expect(labels.map((k) => d.answers![k])).toEqual(items.map((it) => it.answer.toLowerCase()));
    // Eval: "no" is not a training answer.
    const ev = d.batch(0, 1, 'eval');
    expect([...(ev.inputs.answer_class as Int32Array)]).toEqual([-1]);
  });

  it('slake: English training answers with an image, normalised and sorted', () => {
    const d = openDataset(`slake:${join(fx, 'vqa', 'slake')}`, clsModel(2), 1, { vocabPath: vocab[1] });
    // "Lung", "Yes" ("肺" is Chinese; the "No" item's image is missing).
    expect(d.answers).toEqual(['lung', 'yes']);
    expect(answerList([{ answer: 'The Lung.' }, { answer: 'yes' }, { answer: 'lung' }] as never)).toEqual(['lung', 'yes']);
  });

  it('a config `answers` that differs from the list (or is missing) is a DataError naming the expected count', () => {
    expect(() => openDataset('synthetic', clsModel(10), 0)).toThrow(DataError);
    expect(() => openDataset('synthetic', clsModel(10), 0)).toThrow(/answer list has 12 answers .* has answers = 10; .*`answers = 12`/);
    expect(() => openDataset('synthetic-vqa', clsModel(undefined), 0)).toThrow(/has no integer `answers` in its config; .*`answers = 12`/);
    expect(() => openDataset(`vqa-rad:${join(fx, 'vqa', 'vqa-rad')}`, clsModel(12), 0, { vocabPath: vocab[1] })).toThrow(
      /answer list has 2 answers \("left lung", "yes"\) but `TinyCls` has answers = 12/,
    );
  });
});
