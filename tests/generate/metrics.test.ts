import { describe, expect, it } from 'vitest';
import { exactMatch, formatAccuracy, normalizeAnswer, vqaAccuracy } from '../../runtime/metrics.ts';

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
