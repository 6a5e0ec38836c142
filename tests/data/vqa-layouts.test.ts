import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError, openDataset } from '../../runtime/data/index.ts';
import { loadAnswerList, loadSlake, loadVqaRad, loadVqaSpec, vqaRadLayout } from '../../runtime/data/vqa-formats.ts';
import { openVqaDataset } from '../../runtime/data/vqa.ts';
import { fakeVqaModel } from './fake-model.ts';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const vqa = (...p: string[]): string => join(fx, 'vqa', ...p);
const vocabPath = join(fx, 'tokenizer', 'vocab.txt');
const ids = (r: { items: { id: string }[] }): string[] => r.items.map((i) => i.id);

describe('malformed items', () => {
  it('are counted, listed and skipped by default; an error with strict', () => {
    const r = loadVqaRad(vqa('bad', 'wrong-type.json'));
    expect(r.total).toBe(3);
    // The two good items' images are missing (there is no image folder): two more problems.
    expect(r.problems.map((p) => p.reason)).toEqual([expect.stringMatching(/^item 2:/), 'missing image', 'missing image']);
    expect(r.problems.slice(0, 1)).toEqual([
      {
        path: vqa('bad', 'wrong-type.json'),
        reason: 'item 2: field `question` must be a string, got number',
        itemId: '1',
        malformed: true,
      },
    ]);
    expect(() => loadVqaRad(vqa('bad', 'wrong-type.json'), { strict: true })).toThrow(/item 2: field `question` must be a string/);
    // A malformed file is still an error.
    expect(() => loadVqaRad(vqa('bad', 'not-a-list.json'))).toThrow(/expected a JSON list of items/);
  });
});

describe('VQA-RAD layouts', () => {
  it('a trainset.json/testset.json folder: the file is the split, answer_list.json the answer list', () => {
    const dir = vqa('vqa-rad-split');
    expect(vqaRadLayout(dir)).toEqual({
      kind: 'split-files',
      root: dir,
      train: join(dir, 'trainset.json'),
      test: join(dir, 'testset.json'),
      answerList: join(dir, 'answer_list.json'),
    });
    const train = loadVqaRad(dir, { split: 'train' });
    expect(ids(train)).toEqual(['1', '3']);
    expect(train.problems.map((p) => p.reason)).toEqual(['item 1: field `answer` is empty']);
    expect(train.answerList).toEqual(['yes', 'no', 'left lung', 'left', 'right']);
    const test = loadVqaRad(dir, { split: 'test' });
    expect(ids(test)).toEqual(['11', '13']);
    expect(test.problems).toEqual([{ path: join(dir, 'images', 'synpic999.jpg'), reason: 'missing image', itemId: '12' }]);
    expect(loadVqaRad(dir).total).toBe(6);
  });

  it('DIR/testset.json is the test split (its sibling trainset.json the training one)', () => {
    const s = loadVqaSpec(`vqa-rad:${vqa('vqa-rad-split', 'testset.json')}`);
    expect(ids(s.eval)).toEqual(['11', '13']);
    expect(ids(s.train)).toEqual(['1', '3']);
    expect(ids(loadVqaRad(vqa('vqa-rad-split', 'trainset.json'), { split: 'train' }))).toEqual(['1', '3']);
  });

  it('a lone testset.json evaluates; training on it is an error when batched', () => {
    const d = openVqaDataset(`vqa-rad:${vqa('vqa-rad-testonly')}`, fakeVqaModel({ vocab: 64, image: 8, answer: true }), 0, { vocabPath });
    expect(d.items('eval').map((i) => i.id)).toEqual(['21', '22']);
    expect(d.describe).toMatch(/0 train \/ 2 eval items; read testset\.json$/);
    expect(d.batch(0, 2, 'eval').items.map((i) => i.id)).toEqual(['21', '22']);
    expect(() => d.batch(0, 1, 'train')).toThrow(/the train split has no items/);
  });

  it('a classifier head gets the answer list of answer_list.json', () => {
    const model = fakeVqaModel({ vocab: 64, image: 8, answerClass: true, answers: 5 });
    const d = openVqaDataset(`vqa-rad:${vqa('vqa-rad-split')}`, model, 0, { vocabPath });
    expect(d.answers).toEqual(['yes', 'no', 'left lung', 'left', 'right']);
    expect(d.describe).toMatch(/answer list of 5 \(answer_list\.json\)/);
    const b = d.batch(0, 2, 'eval');
    expect(Array.from(b.inputs.answer_class!)).toEqual(b.items.map((i) => ['yes', 'no', 'left lung', 'left', 'right'].indexOf(i.answer)));
  });

  it('answer lists: a list, or an {answer: index} object; a folder with several other .json files is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-answers-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ 'Left Lung': 1, yes: 0 }));
    expect(loadAnswerList(join(dir, 'a.json'))).toEqual(['yes', 'left lung']);
    writeFileSync(join(dir, 'b.json'), JSON.stringify([['x']]));
    expect(() => loadAnswerList(join(dir, 'b.json'))).toThrow(/answer 0 must be a string/);
    expect(() => vqaRadLayout(dir)).toThrow(
      /expected `VQA_RAD Dataset Public.json`, `trainset.json`\/`testset.json`, or exactly one .json file, found/,
    );
  });
});

describe('SLAKE 1.0 release', () => {
  it('slake:DIR finds Slake1.0/; an English item with an empty answer is skipped, not fatal', () => {
    const r = loadSlake(vqa('slake-release'));
    expect(ids(r)).toEqual(['1', '4']);
    expect(r.total).toBe(3);
    expect(r.problems).toEqual([
      {
        path: vqa('slake-release', 'Slake1.0', 'train.json'),
        reason: 'item 1: field `answer` is empty',
        itemId: '2',
        malformed: true,
      },
    ]);
    expect(() => loadSlake(vqa('slake-release'), { strict: true })).toThrow(/train\.json: item 1: field `answer` is empty/);
    const model = fakeVqaModel({ vocab: 64, image: 8, answer: true });
    expect(openDataset(`slake:${vqa('slake-release')}`, model, 0, { vocabPath }).describe).toMatch(
      /2 train \/ 2 eval items; 1 excluded \(.*train\.json: item 1: field `answer` is empty\)/,
    );
    expect(() => openDataset(`slake:${vqa('slake-release')}`, model, 0, { vocabPath, strict: true })).toThrow(DataError);
  });
});

describe('instruction splits', () => {
  it('count their own items', () => {
    const s = loadVqaSpec(`instruction:${vqa('instruction', 'instruction.json')}`);
    expect([s.train.total, s.eval.total]).toEqual([2, 1]);
    expect(ids(s.eval)).toEqual(['5926']);
  });
});
