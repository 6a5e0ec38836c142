import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { milec } from '../helpers/milec.ts';

const fx = 'tests/fixtures/vqa';
const vocab = ['--vocab', 'tests/fixtures/tokenizer/vocab.txt'];

describe('milec data', () => {
  it('counts a trainset/testset folder: items per split, open/closed, answer list, problems', async () => {
    const r = await milec('data', `vqa-rad:${fx}/vqa-rad-split`, '--json');
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.layout).toMatch(/train\/test files \(trainset\.json \+ testset\.json \+ answer_list\.json\)/);
    expect(j.splits.train).toEqual({ read: 3, usable: 2, open: 1, closed: 1, missingImages: 0, corruptImages: 0, malformed: 1 });
    expect(j.splits.eval).toEqual({ read: 3, usable: 2, open: 1, closed: 1, missingImages: 1, corruptImages: 0, malformed: 0 });
    expect(j.answerList).toEqual({ size: 5, source: 'answer_list.json' });
    expect(j.samples).toBeUndefined();
  });

  it('DIR/testset.json has its evaluation items; the OSF file reports its corrupt image', async () => {
    const t = await milec('data', `vqa-rad:${fx}/vqa-rad-split/testset.json`, '--json');
    expect(t.code, t.err).toBe(0);
    expect(JSON.parse(t.out).splits.eval.usable).toBe(2);
    const r = await milec('data', `vqa-rad:${fx}/vqa-rad`);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/one file \(the test split is phrase_type test_\*\)/);
    expect(r.out).toMatch(/^eval +2 +1 +0 +1 +0 +1 +0$/m);
    expect(r.out).toMatch(/synpic300\.jpg: corrupt .* \(item 3\)/);
    expect(r.out).toMatch(/synpic404\.jpg: missing image \(item 4\)/);
  });

  it('SLAKE 1.0 with an empty answer: skipped and listed; --strict makes it an error', async () => {
    const r = await milec('data', `slake:${fx}/slake-release`);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/Slake1\.0\/train\.json: item 1: field `answer` is empty/);
    expect(r.out).toMatch(/^train +3 +2 +1 +1 +0 +0 +1$/m);
    const s = await milec('data', `slake:${fx}/slake-release`, '--strict');
    expect(s.code).toBe(1);
    expect(s.err).toMatch(/^error: .*train\.json: item 1: field `answer` is empty\n$/);
  });

  it('with --model-file, shows items tokenized and padded to the model inputs', async () => {
    const r = await milec(
      'data',
      `vqa-rad:${fx}/vqa-rad-split`,
      '--model-file',
      'examples/miss_tiny.mile',
      ...vocab,
      '--show',
      '2',
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const samples = JSON.parse(r.out).samples;
    expect(samples.length).toBe(2);
    for (const s of samples) {
      expect(s.split).toBe('train');
      expect(s.questionIds.length).toBe(12);
      expect(s.answerIds.length).toBe(5);
      expect(s.questionTokens[0]).toBe('[ENC]');
      expect(s.questionTokens).toContain('[SEP]');
      expect(s.image.shape).toEqual([3, 32, 32]);
    }
    const text = await milec('data', `vqa-rad:${fx}/vqa-rad-split`, '--model-file', 'examples/miss_tiny.mile', ...vocab);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/question {2}\[ENC\] .*\[SEP\] \[PAD\]×\d/);
    expect(text.out).toMatch(/image {5}3×32×32, min /);
  });

  it('a spec that is not a file dataset is a one-line error', async () => {
    const r = await milec('data', 'synthetic');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: milec data checks the file datasets/);
  });

  it('train --strict stops at the malformed item of SLAKE 1.0', async () => {
    const r = await milec('train', 'examples/miss_tiny.mile', '--data', `slake:${fx}/slake-release`, ...vocab, '--strict');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: .*Slake1\.0\/train\.json: item 1: field `answer` is empty\n$/);
  });

  it('train skips and reports the malformed item of SLAKE 1.0', async () => {
    const out = mkdtempSync(join(tmpdir(), 'milec-slake-'));
    const t = await milec(
      'train',
      'examples/miss_tiny.mile',
      '--tune',
      'f_f_lora_r4',
      '--data',
      `slake:${fx}/slake-release`,
      ...vocab,
      '--steps',
      '1',
      '--batch',
      '2',
      '--eval-batches',
      '0',
      '--out',
      out,
      '--json',
    );
    expect(t.code, t.err).toBe(0);
    expect(t.err).toMatch(/warning: .*train\.json: item 1: field `answer` is empty; item skipped/);
  });
});
