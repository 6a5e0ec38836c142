import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { DataError, openDataset } from '../../runtime/data/index.ts';
import { openVqaDataset, type DataProblem } from '../../runtime/data/vqa.ts';
import { fakeVqaModel } from './fake-model.ts';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));

function vqaModel(vocab: number, image = 8) {
  return fakeVqaModel({ vocab, image, answer: true });
}

describe('openDataset for VQA specs', () => {
  it('synthetic-vqa feeds image/question/answer at the model sizes, deterministically', () => {
    const d = openDataset('synthetic-vqa', vqaModel(64), 5);
    const b = d.batch(2, 4, 'train');
    expect(b.size).toBe(4);
    expect(b.inputs.image).toBeInstanceOf(Float32Array);
    expect(b.inputs.image!.length).toBe(4 * 3 * 8 * 8);
    expect(b.inputs.question!.length).toBe(4 * 12);
    expect(b.inputs.answer!.length).toBe(4 * 5);
    expect(d.batch(2, 4, 'train')).toEqual(b);
    // `synthetic` on a VQA model means the synthetic VQA set.
    expect(openDataset('synthetic', vqaModel(64), 5).batch(2, 4, 'train').inputs).toEqual(b.inputs);
    expect(() => openDataset('synthetic-vqa', vqaModel(10), 5)).toThrow(DataError);
  });

  it('vqa-rad: tokenizes with the vocab, skips and reports missing and corrupt images', () => {
    const problems: DataProblem[] = [];
    const d = openVqaDataset(`vqa-rad:${join(fx, 'vqa', 'vqa-rad')}`, vqaModel(64), 1, {
      vocabPath: join(fx, 'tokenizer', 'vocab.txt'),
      warn: (p) => problems.push(p),
    });
    expect(d.describe).toMatch(/2 train \/ 2 eval items; 1 excluded \(.*synpic404\.jpg: missing image\)/);
    // Eval: items 3 (corrupt image) and 5 in order: 3 is reported and 5 takes its place.
    const b = d.batch(0, 2, 'eval');
    expect(b.items.map((i) => i.id)).toEqual(['5', '5']);
    expect(problems.length).toBe(1);
    expect(problems[0]!.path).toMatch(/synpic300\.jpg$/);
    expect(problems[0]!.reason).toMatch(/^corrupt PNG/); // a truncated PNG named .jpg: the signature decides;
    expect(d.problems().length).toBe(2);
    // [ENC] is the question start (as the study's model), [DEC] the answer start.
    expect(b.inputs.question![0]).toBe(d.tokenizer.encId);
    expect([...b.inputs.answer!.slice(0, 5)]).toEqual([d.tokenizer.decId, d.tokenizer.id('no'), d.tokenizer.sepId, 0, 0]);
    const t = d.batch(0, 4, 'train');
    expect(new Set(t.items.map((i) => i.id))).toEqual(new Set(['1', '2']));
    expect(t.inputs.image!.length).toBe(4 * 3 * 64);
  });

  it('rejects a VQA spec without a vocabulary, or too small a model vocab, as DataError', () => {
    expect(() => openDataset(`vqa-rad:${join(fx, 'vqa', 'vqa-rad')}`, vqaModel(64), 1)).toThrow(
      /needs a BERT vocabulary: pass --vocab PATH/,
    );
    expect(() =>
      openDataset(`slake:${join(fx, 'vqa', 'slake')}`, vqaModel(20), 1, { vocabPath: join(fx, 'tokenizer', 'vocab.txt') }),
    ).toThrow(DataError);
    expect(() =>
      openDataset(`vqa-rad:${join(fx, 'vqa', 'bad', 'missing-field.json')}`, vqaModel(64), 1, {
        vocabPath: join(fx, 'tokenizer', 'vocab.txt'),
      }),
    ).toThrow(/missing-field\.json: item 1: missing field `question`/);
  });

  it('instruction: draws a template per epoch', () => {
    const d = openDataset(`instruction:${join(fx, 'vqa', 'instruction', 'instruction.json')}`, vqaModel(64), 1, {
      vocabPath: join(fx, 'tokenizer', 'vocab.txt'),
    });
    const qs = Array.from({ length: 12 }, (_, s) => [...d.batch(s, 1, 'train').inputs.question!].join());
    // Item 5924 (3 templates) and 5925 (2) alternate through epochs; not every epoch repeats the same question.
    expect(new Set(qs).size).toBeGreaterThan(2);
    expect(
      openDataset(`instruction:${join(fx, 'vqa', 'instruction', 'instruction.json')}`, vqaModel(64), 1, {
        vocabPath: join(fx, 'tokenizer', 'vocab.txt'),
      }).batch(3, 1, 'train'),
    ).toEqual(d.batch(3, 1, 'train'));
  });
});
