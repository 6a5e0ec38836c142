import { describe, expect, it } from 'vitest';
import { exactMatch, formatAccuracy, normalizeAnswer, vqaAccuracy, wilsonInterval } from '../../runtime/metrics.ts';

describe('normalizeAnswer', () => {
  it.each([
    ['Yes', 'yes'],
    ['  Yes. ', 'yes'],
    ['The Liver', 'liver'],
    ['a lesion in the left lung', 'lesion in left lung'],
    ['An MRI!', 'mri'],
    ['x-ray', 'x ray'],
    ["don't know", 'dont know'],
    ['left,  right', 'left right'],
    ['2.5 cm', '2.5 cm'],
    ['1,000', '1000'],
    ['end.', 'end'],
    ['theater', 'theater'],
    ['\tT2\n weighted ', 't2 weighted'],
    ['ＹＥＳ', 'yes'],
    ['the', ''],
  ])('%j -> %j', (input, want) => {
    expect(normalizeAnswer(input)).toBe(want);
  });

  it('exactMatch compares normal forms', () => {
    expect(exactMatch('The left lung.', 'left lung')).toBe(true);
    expect(exactMatch('left lung', 'right lung')).toBe(false);
    expect(exactMatch('no', 'No')).toBe(true);
  });
});

describe('vqaAccuracy', () => {
  it('open, closed and global accuracy', () => {
    const acc = vqaAccuracy([
      { answerType: 'CLOSED', answer: 'yes', prediction: 'Yes' },
      { answerType: 'CLOSED', answer: 'no', prediction: 'yes' },
      { answerType: 'closed', answer: 'no', prediction: 'no' },
      { answerType: 'OPEN', answer: 'the liver', prediction: 'liver' },
      { answerType: 'OPEN', answer: 'left', prediction: 'right' },
      { answerType: 'OTHER', answer: 'x', prediction: 'x' },
    ]);
    expect(acc).toEqual({ open: 0.5, closed: 2 / 3, global: 4 / 6, n: 6, nOpen: 2, nClosed: 3 });
  });
  it('null when a group is empty', () => {
    expect(vqaAccuracy([{ answerType: 'OPEN', answer: 'a', prediction: 'b' }])).toEqual({
      open: 0,
      closed: null,
      global: 0,
      n: 1,
      nOpen: 1,
      nClosed: 0,
    });
    expect(vqaAccuracy([])).toMatchObject({ open: null, closed: null, global: null, n: 0 });
    expect(formatAccuracy(null)).toBe('n/a');
    expect(formatAccuracy(0.725)).toBe('72.5%');
  });
});

describe('wilsonInterval', () => {
  // Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score, no continuity correction).
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
    [29, 29, 0.883, 1],
  ])('%i of %i -> [%f, %f]', (k, n, lo, hi) => {
    const [a, b] = wilsonInterval(k, n)!;
    expect(a).toBeCloseTo(lo, 4);
    expect(b).toBeCloseTo(hi, 4);
  });

  it('is symmetric, stays in [0, 1], contains the estimate, and is null without trials', () => {
    const [lo, hi] = wilsonInterval(5, 10)!;
    expect(lo).toBeCloseTo(1 - hi, 12);
    expect(lo).toBeCloseTo(0.2366, 4);
    for (const [k, n] of [
      [0, 1],
      [1, 1],
      [3, 7],
      [64, 64],
    ] as const) {
      const [a, b] = wilsonInterval(k, n)!;
      expect(a).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThanOrEqual(1);
      expect(a).toBeLessThanOrEqual(k / n);
      expect(b).toBeGreaterThanOrEqual(k / n);
    }
    expect(wilsonInterval(0, 64)![0]).toBe(0);
    expect(wilsonInterval(64, 64)![1]).toBe(1);
    expect(wilsonInterval(0, 0)).toBeNull();
  });
});
