/**
 * The general-domain pretraining set (`--data synthetic-scenes`): deterministic, balanced,
 * answers that follow from the rendered scene, a vocabulary that extends the medical one, and
 * no medical content.
 */
import { describe, expect, it } from 'vitest';
import { DataError, openDataset } from '../../runtime/data/index.ts';
import {
  atRandomOffset,
  renderScene,
  SCENE_KINDS,
  sceneCaption,
  syntheticSceneExample,
  type SyntheticScenesBatch,
  syntheticScenesVocab,
} from '../../runtime/data/synthetic-scenes.ts';
import { syntheticInstructionVocab } from '../../runtime/data/synthetic-vqa.ts';
import { openEvalSource } from '../../runtime/eval/sources.ts';
import { WordPieceTokenizer } from '../../runtime/tokenizer/wordpiece.ts';
import { fakeVqaModel } from './fake-model.ts';

const model = (vocab = 64) => fakeVqaModel({ vocab, image: 32, answer: true });

describe('synthetic scenes', () => {
  it("extends the medical instruction vocabulary after its ids, within examples/miss_tiny.mile's 64", () => {
    const medical = syntheticInstructionVocab();
    const scenes = syntheticScenesVocab();
    expect(scenes.slice(0, medical.length)).toEqual(medical);
    expect(scenes.length).toBe(64);
    expect(new Set(scenes).size).toBe(scenes.length);
    for (const w of ['circle', 'squares', 'colour', 'yellow', 'three', 'nothing']) expect(scenes).toContain(w);
  });

  it('every question and answer tokenizes without [UNK], and never mentions the medical set', () => {
    const tok = new WordPieceTokenizer(syntheticScenesVocab());
    const unk = tok.id('[UNK]');
    for (let i = 0; i < 400; i++) {
      const ex = syntheticSceneExample(3, 'train', i);
      for (const text of [ex.question, ex.answer]) {
        expect(tok.encode(text)).not.toContain(unk);
        expect(text).not.toMatch(/lesion|organ|brain|lung|liver/);
      }
    }
  });

  it('is deterministic per (seed, split, index), with distinct splits and seeds', () => {
    const d = openDataset('synthetic-scenes', model(), 7);
    const a = d.batch(2, 8, 'train') as SyntheticScenesBatch;
    expect(d.batch(2, 8, 'train')).toEqual(a);
    expect((d.batch(2, 8, 'eval') as SyntheticScenesBatch).examples).not.toEqual(a.examples);
    expect((openDataset('synthetic-scenes', model(), 8).batch(2, 8, 'train') as SyntheticScenesBatch).examples).not.toEqual(a.examples);
    expect(a.inputs.image!.length).toBe(8 * 3 * 32 * 32);
    expect(a.inputs.question!.length).toBe(8 * 12);
    expect(a.inputs.answer!.length).toBe(8 * 5);
  });

  it('draws every kind, and answers within a kind uniformly', () => {
    const byKind = new Map<string, Map<string, number>>();
    for (let i = 0; i < 4000; i++) {
      const ex = syntheticSceneExample(1, 'train', i);
      const m = byKind.get(ex.kind) ?? new Map<string, number>();
      m.set(ex.answer, (m.get(ex.answer) ?? 0) + 1);
      byKind.set(ex.kind, m);
    }
    expect([...byKind.keys()].sort()).toEqual([...SCENE_KINDS].sort());
    for (const [kind, answers] of byKind) {
      if (kind === 'caption') continue;
      const counts = [...answers.values()];
      const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
      for (const c of counts) expect(Math.abs(c - mean) / mean).toBeLessThan(0.25);
    }
  });

  it('answers follow from the scene: shapes drawn where and as the answer says', () => {
    for (let i = 0; i < 300; i++) {
      const ex = syntheticSceneExample(5, 'train', i);
      const p = ex.params;
      expect(p.objects.length).toBe(p.count);
      if (ex.kind === 'count') expect(ex.answer).toBe(['zero', 'one', 'two', 'three'][p.count]);
      if (ex.kind === 'side') expect(ex.answer).toBe(p.side);
      if (ex.kind === 'colour') expect(ex.answer).toBe(p.colour);
      if (ex.kind === 'shape') expect(ex.answer).toBe(p.shape);
      if (ex.kind === 'caption') expect(ex.answer).toBe(sceneCaption(p));
      if (ex.kind === 'presence') expect(ex.answer).toBe(p.count > 0 && ex.question.includes(p.shape) ? 'yes' : 'no');
      for (const o of p.objects) expect(p.side === 'left' ? o.u < 0.5 : o.u > 0.5).toBe(true);
      // The shapes are the only saturated pixels: their colour shows where they are.
      const img = renderScene(p, 32);
      const plane = 32 * 32;
      let saturated = 0;
      for (let k = 0; k < plane; k++) {
        const [r, g, b] = [img[k]!, img[plane + k]!, img[2 * plane + k]!];
        if (Math.max(r, g, b) > 0.8) saturated++;
      }
      if (p.count === 0) expect(saturated).toBe(0);
      else expect(saturated).toBeGreaterThan(0);
    }
  });

  it('evaluates as synthetic-scenes:N, and a too-small vocabulary is a DataError', () => {
    const src = openEvalSource('synthetic-scenes:20', undefined as never, model(), 0);
    expect(src.items.length).toBe(20);
    expect(src.name).toBe('synthetic-scenes (20 eval items)');
    expect(() => openDataset('synthetic-scenes', model(48), 0)).toThrow(DataError);
    expect(() => openDataset('synthetic-scenes', model(48), 0)).toThrow(/64 tokens .* vocab = 48/);
  });

  it('starts half the answers at a random later position within the room the answer input leaves', () => {
    // An even hash keeps the text at 0; an odd one moves it by 1 + (hash >> 1) % room.
    expect([...atRandomOffset(Int32Array.from([5, 6, 7, 0, 0]), 2)]).toEqual([5, 6, 7, 0, 0]);
    expect([...atRandomOffset(Int32Array.from([5, 6, 7, 0, 0]), 1)]).toEqual([0, 5, 6, 7, 0]);
    expect([...atRandomOffset(Int32Array.from([5, 6, 7, 0, 0]), 3)]).toEqual([0, 0, 5, 6, 7]);
    expect([...atRandomOffset(Int32Array.from([5, 6, 7]), 7)]).toEqual([5, 6, 7]);
    const tok = new WordPieceTokenizer(syntheticScenesVocab());
    const alen = 16;
    const b = openDataset('synthetic-scenes', fakeVqaModel({ vocab: 64, image: 32, answer: true, alen }), 0).batch(
      0,
      64,
      'train',
    ) as SyntheticScenesBatch;
    const a = b.inputs.answer as Int32Array;
    const q = b.inputs.question as Int32Array;
    const starts: number[] = [];
    b.examples.forEach((ex, i) => {
      const row = a.subarray(i * alen, (i + 1) * alen);
      const start = row.findIndex((t) => t !== 0);
      starts.push(start);
      // The same answer, shifted: leading [PAD]s, then the answer as encoded at offset 0.
      expect([...row.subarray(start)]).toEqual([...tok.encodeAnswer(ex.answer, alen - start)]);
      // Questions stay where they were.
      expect(q[i * 12]).not.toBe(0);
    });
    expect(Math.max(...starts)).toBeGreaterThanOrEqual(10);
    const atZero = starts.filter((s) => s === 0).length;
    expect(atZero).toBeGreaterThan(16);
    expect(atZero).toBeLessThan(48);
  });
});
