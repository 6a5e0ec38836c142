import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadTokenizer, parseVocabTxt, TokenizerError, WordPieceTokenizer, withStudyTokens } from '../../runtime/tokenizer/wordpiece.ts';

const dir = fileURLToPath(new URL('../fixtures/tokenizer/', import.meta.url));
const tok = loadTokenizer(`${dir}vocab.txt`);

describe('WordPiece tokenizer', () => {
  it('appends [DEC] and [ENC] after the base vocabulary', () => {
    expect(tok.size).toBe(39);
    expect(tok.decId).toBe(37);
    expect(tok.encId).toBe(38);
    // bert-base-uncased: 30522 base tokens -> 30524 with the study's two.
    const base = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', ...Array.from({ length: 30518 }, (_, i) => `t${i}`)];
    expect(withStudyTokens(base).length).toBe(30524);
    expect(withStudyTokens(withStudyTokens(base)).length).toBe(30524);
  });

  it('greedy longest-match-first with ## continuation', () => {
    expect(tok.tokenize('unaffable')).toEqual(['un', '##aff', '##able']);
    expect(tok.tokenize('lungs')).toEqual(['lung', '##s']);
    expect(tok.tokenize('xray')).toEqual(['x', '##ray']);
    // No full segmentation -> the whole word is [UNK].
    expect(tok.tokenize('unaffablez')).toEqual(['[UNK]']);
    expect(tok.tokenize('kidney')).toEqual(['[UNK]']);
  });

  it('lower-cases, strips accents, splits punctuation and whitespace', () => {
    expect(tok.tokenize('Is there a LESION in the left lung?')).toEqual(['is', 'there', 'a', 'lesion', 'in', 'the', 'left', 'lung', '?']);
    expect(tok.tokenize('Café, naïve!')).toEqual(['cafe', ',', 'naive', '!']);
    // 'ray' alone is not in the vocab (only '##ray'): [UNK].
    expect(tok.tokenize('  x-ray\t"CT".\n')).toEqual(['x', '-', '[UNK]', '"', 'ct', '"', '.']);
    expect(tok.tokenize('what\u0000 organ')).toEqual(['what', 'organ']);
    // Special tokens in text stay whole.
    expect(tok.tokenize('yes [SEP] no')).toEqual(['yes', '[SEP]', 'no']);
  });

  it('encodes questions as [CLS] … [SEP] padded/truncated to 35 by default', () => {
    const q = tok.encodeQuestion('Is there a lesion?');
    expect(q.length).toBe(35);
    expect([...q.slice(0, 8)]).toEqual([3, 6, 7, 8, 9, 14, 4, 0]);
    expect(q.slice(7).every((x) => x === 0)).toBe(true);
    const long = tok.encodeQuestion('is there a lesion in the left lung', 6);
    expect([...long]).toEqual([3, 6, 7, 8, 9, 4]);
    expect([...tok.encodeQuestion('is there', 6, { start: '[ENC]' })]).toEqual([38, 6, 7, 4, 0, 0]);
  });

  it('encodes answers as [DEC] … [SEP] padded to 10', () => {
    expect([...tok.encodeAnswer('Yes')]).toEqual([37, 23, 4, 0, 0, 0, 0, 0, 0, 0]);
    expect([...tok.encodeAnswer('the left lung', 4)]).toEqual([37, 11, 12, 4]);
  });

  it('decodes, joining ## pieces and skipping specials', () => {
    expect(tok.decode(tok.encodeQuestion('unaffable lungs?'))).toBe('unaffable lungs?');
    expect(tok.decode(tok.encodeAnswer('left lung'), { keepSpecial: true })).toBe(
      '[DEC] left lung [SEP] [PAD] [PAD] [PAD] [PAD] [PAD] [PAD]',
    );
    expect(tok.decode([37, 23, 4, 12, 4], { stopAtSep: true })).toBe('yes');
  });

  it('loads HF tokenizer.json the same way', () => {
    const j = loadTokenizer(`${dir}tokenizer.json`);
    expect(j.vocab).toEqual(tok.vocab);
    expect(j.tokenize('Unaffable Café')).toEqual(['un', '##aff', '##able', 'cafe']);
  });

  it('rejects vocabularies without the BERT specials, naming the path', () => {
    expect(() => new WordPieceTokenizer(parseVocabTxt('a\nb\n'))).toThrow(TokenizerError);
    expect(() => loadTokenizer(`${dir}missing.txt`)).toThrow(/missing\.txt: cannot read vocabulary: ENOENT/);
  });
});
