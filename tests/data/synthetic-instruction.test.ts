import { describe, expect, it } from 'vitest';
import { DataError, openDataset } from '../../runtime/data/index.ts';
import {
  INSTRUCTION_TEMPLATES,
  instructionTemplate,
  syntheticInstructionVocab,
  syntheticVqaExample,
  syntheticVqaVocab,
  type SyntheticVqaBatch,
} from '../../runtime/data/synthetic-vqa.ts';
import { WordPieceTokenizer } from '../../runtime/tokenizer/wordpiece.ts';
import { fakeVqaModel } from './fake-model.ts';
import { openEvalSource } from '../../runtime/eval/sources.ts';

const model = (vocab = 48) => fakeVqaModel({ vocab, image: 8, answer: true });

describe('synthetic instruction VQA', () => {
  it('extends the plain vocabulary after its ids, within examples/miss_tiny.mile’s 48', () => {
    const plain = syntheticVqaVocab();
    const inst = syntheticInstructionVocab();
    expect(plain.length).toBe(41);
    expect(inst.slice(0, plain.length)).toEqual(plain);
    expect(inst.length).toBe(48);
    expect(new Set(inst).size).toBe(inst.length);
  });

  it('is deterministic, keeps the plain set’s items and answers, and varies its templates', () => {
    const d = openDataset('synthetic-instruction', model(), 7);
    const plain = openDataset('synthetic-vqa', model(), 7);
    const a = d.batch(3, 16, 'train') as SyntheticVqaBatch;
    expect(d.batch(3, 16, 'train')).toEqual(a);
    const p = plain.batch(3, 16, 'train') as SyntheticVqaBatch;
    expect(a.inputs.image).toEqual(p.inputs.image);
    expect(a.inputs.answer).toEqual(p.inputs.answer);
    expect(a.examples.map((e) => e.answer)).toEqual(p.examples.map((e) => e.answer));
    // Each question is one of the plain question's templates.
    const templates = new Set<number>();
    a.examples.forEach((e, i) => {
      const q = p.examples[i]!.question;
      const t = INSTRUCTION_TEMPLATES.findIndex((t) => t.replace('{q}', q) === e.question);
      expect(t, e.question).toBeGreaterThanOrEqual(0);
      templates.add(t);
    });
    expect(templates.size).toBeGreaterThan(2);
    // Another seed draws other templates for the same positions.
    const other = (openDataset('synthetic-instruction', model(), 8).batch(3, 16, 'train') as SyntheticVqaBatch).examples;
    expect(other.map((e) => e.question)).not.toEqual(a.examples.map((e) => e.question));
  });

  it('draws per item and epoch, only among templates that fit', () => {
    const q = syntheticVqaExample(1, 'train', 0).question;
    const byEpoch = new Set([0, 1, 2, 3, 4, 5, 6, 7].map((e) => instructionTemplate(1, 'train', 0, e, q)));
    expect(byEpoch.size).toBeGreaterThan(1);
    expect(instructionTemplate(1, 'train', 0, 3, q)).toBe(instructionTemplate(1, 'train', 0, 3, q));
    for (let i = 0; i < 50; i++) expect(instructionTemplate(1, 'eval', i, 0, q, () => false)).toBe(q);
  });

  it('its tokens are in the vocabulary and fit qlen without truncation', () => {
    const tok = new WordPieceTokenizer(syntheticInstructionVocab());
    const d = openDataset('synthetic-instruction', model(), 3);
    for (const split of ['train', 'eval'] as const) {
      const b = d.batch(0, 200, split) as SyntheticVqaBatch;
      const q = b.inputs.question as Int32Array;
      for (const id of q) expect(id >= 0 && id < 48 && id !== tok.id('[UNK]')).toBe(true);
      b.examples.forEach((e, i) => {
        expect(tok.tokenize(e.question)).not.toContain('[UNK]');
        // [ENC] question [SEP], then [PAD]: the whole question is there.
        const row = [...q.slice(i * 12, (i + 1) * 12)];
        expect(row).toContain(tok.id('[SEP]'));
        expect(tok.decode(Int32Array.from(row))).toBe(tok.decode(tok.encodeQuestion(e.question, 64)));
      });
    }
  });

  it('needs the larger vocabulary', () => {
    expect(() => openDataset('synthetic-instruction', model(41), 1)).toThrow(DataError);
    expect(() => openDataset('synthetic-vqa', model(41), 1)).not.toThrow();
  });

  it('eval spec synthetic-instruction[:N]: the variant’s eval split', () => {
    const plain = openEvalSource('synthetic-vqa:6', undefined as never, model(), 2);
    for (const spec of ['synthetic-instruction:6', 'synthetic-instruction-vqa:6']) {
      const src = openEvalSource(spec, undefined as never, model(), 2);
      expect(src.name).toBe('synthetic-instruction (6 eval items)');
      expect(src.items.map((i) => i.answer)).toEqual(plain.items.map((i) => i.answer));
      src.items.forEach((it, k) => expect(it.question.includes(plain.items[k]!.question)).toBe(true));
    }
    expect(openEvalSource('synthetic-instruction', undefined as never, model(), 2).items).toHaveLength(64);
  });
});
