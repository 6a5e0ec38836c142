import { describe, expect, it } from 'vitest';
import {
  ANSWERS,
  answerFor,
  QUESTION_KINDS,
  renderScan,
  syntheticVqaExample,
  syntheticVqaVocab,
} from '../../runtime/data/synthetic-vqa.ts';
import { WordPieceTokenizer } from '../../runtime/tokenizer/wordpiece.ts';

describe('synthetic medical VQA', () => {
  it('is deterministic from (seed, split, index) and differs across seeds and splits', () => {
    const a = syntheticVqaExample(7, 'train', 123);
    expect(syntheticVqaExample(7, 'train', 123)).toEqual(a);
    expect(renderScan(a.params, 32)).toEqual(renderScan(syntheticVqaExample(7, 'train', 123).params, 32));
    const differs = (f: (i: number) => unknown): boolean =>
      Array.from({ length: 20 }, (_, i) => JSON.stringify(f(i)) !== JSON.stringify(syntheticVqaExample(7, 'train', i))).some((x) => x);
    expect(differs((i) => syntheticVqaExample(8, 'train', i))).toBe(true);
    expect(differs((i) => syntheticVqaExample(7, 'eval', i))).toBe(true);
  });

  it('answers are a function of the image parameters, and balanced within each kind', () => {
    const counts = new Map<string, number>();
    const N = 6000;
    for (let i = 0; i < N; i++) {
      const ex = syntheticVqaExample(42, 'train', i);
      expect(ex.answer).toBe(answerFor(ex.params, ex.kind));
      expect(ex.params.lesions.length).toBe(ex.params.count);
      expect(ex.answerType).toBe(ex.kind === 'presence' || ex.kind === 'left' ? 'CLOSED' : 'OPEN');
      if (ex.kind === 'left' || ex.kind === 'side' || ex.kind === 'size') expect(ex.params.count).toBeGreaterThan(0);
      counts.set(`${ex.kind}:${ex.answer}`, (counts.get(`${ex.kind}:${ex.answer}`) ?? 0) + 1);
    }
    for (const k of QUESTION_KINDS) {
      const total = ANSWERS[k].reduce((s, a) => s + (counts.get(`${k}:${a}`) ?? 0), 0);
      expect(Math.abs(total / N - 1 / 6)).toBeLessThan(0.03);
      for (const a of ANSWERS[k]) expect(Math.abs((counts.get(`${k}:${a}`) ?? 0) / total - 1 / ANSWERS[k].length)).toBeLessThan(0.06);
    }
  });

  it('draws what it says: lesions are bright disks on the stated side', () => {
    for (let i = 0; i < 200; i++) {
      const ex = syntheticVqaExample(3, 'eval', i);
      const S = 64;
      const img = renderScan(ex.params, S);
      expect(img.every((v) => v >= 0 && v <= 1)).toBe(true);
      let left = 0;
      let right = 0;
      for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) if (img[y * S + x]! > 0.85) x < S / 2 ? left++ : right++;
      if (ex.params.count === 0) expect(left + right).toBe(0);
      else if (ex.params.side === 'left') expect(left > 0 && right === 0).toBe(true);
      else expect(right > 0 && left === 0).toBe(true);
    }
  });

  it('its words are all in the built-in vocabulary', () => {
    const tok = new WordPieceTokenizer(syntheticVqaVocab());
    expect(tok.size).toBeLessThan(64);
    for (let i = 0; i < 300; i++) {
      const ex = syntheticVqaExample(1, 'train', i);
      expect(tok.tokenize(`${ex.question} ${ex.answer}`)).not.toContain('[UNK]');
      expect(tok.decode(tok.encodeAnswer(ex.answer))).toBe(ex.answer);
    }
  });
});
