import { describe, expect, it } from 'vitest';
import { syntheticSequenceTask } from '../../runtime/data/synthetic.ts';

const opts = { vocab: 64, seq: 16, classes: 4, seed: 7 };

function asI32(x: Int32Array | Float32Array | undefined): Int32Array {
  expect(x).toBeInstanceOf(Int32Array);
  return x as Int32Array;
}

describe('syntheticSequenceTask', () => {
  it('produces tokens [B, seq] and labels [B] in range', () => {
    const task = syntheticSequenceTask(opts);
    const b = task.batch(3, 32, 'train');
    expect(b.size).toBe(32);
    const tokens = asI32(b.inputs.tokens);
    const labels = asI32(b.inputs.labels);
    expect(tokens.length).toBe(32 * 16);
    expect(labels.length).toBe(32);
    expect(tokens.every((t) => t >= 0 && t < opts.vocab)).toBe(true);
    expect(labels.every((l) => l >= 0 && l < opts.classes)).toBe(true);
    expect(task.name).toBe('synthetic-keywords');
    expect(task.describe).toMatch(/4 classes/);
  });

  it('places 2-3 keywords of the label class, all else filler', () => {
    // Default keywordsPerClass is 4 here: keywords are ids [48, 64), class c owns 48+4c..48+4c+3.
    const task = syntheticSequenceTask(opts);
    const b = task.batch(0, 500, 'train');
    const tokens = asI32(b.inputs.tokens);
    const labels = asI32(b.inputs.labels);
    const seen = new Set<number>();
    for (let i = 0; i < b.size; i++) {
      const row = tokens.subarray(i * 16, (i + 1) * 16);
      const kws = [...row].filter((t) => t >= 48);
      expect(kws.length === 2 || kws.length === 3).toBe(true);
      seen.add(kws.length);
      for (const k of kws) expect(Math.floor((k - 48) / 4)).toBe(labels[i]);
    }
    expect(seen).toEqual(new Set([2, 3]));
  });

  it('is deterministic for a seed and random-access by step', () => {
    const a = syntheticSequenceTask(opts).batch(5, 16, 'train');
    const b = syntheticSequenceTask(opts).batch(5, 16, 'train');
    expect(a.inputs.tokens).toEqual(b.inputs.tokens);
    expect(a.inputs.labels).toEqual(b.inputs.labels);
    // batch(step, B) is examples [step*B, (step+1)*B) of one stream.
    const big = syntheticSequenceTask(opts).batch(2, 32, 'train');
    expect(asI32(big.inputs.tokens).subarray(16 * 16)).toEqual(a.inputs.tokens);
    const other = syntheticSequenceTask({ ...opts, seed: 8 }).batch(5, 16, 'train');
    expect(other.inputs.tokens).not.toEqual(a.inputs.tokens);
    // Seeds 2^32 apart are different datasets too.
    const far = syntheticSequenceTask({ ...opts, seed: 7 + 2 ** 32 }).batch(5, 16, 'train');
    expect(far.inputs.tokens).not.toEqual(a.inputs.tokens);
  });

  it('keeps train and eval streams apart', () => {
    const task = syntheticSequenceTask(opts);
    const train = asI32(task.batch(0, 256, 'train').inputs.tokens);
    const evalTokens = asI32(task.batch(0, 256, 'eval').inputs.tokens);
    const rows = (t: Int32Array) => new Set(Array.from({ length: 256 }, (_, i) => t.subarray(i * 16, (i + 1) * 16).join(',')));
    const trainRows = rows(train);
    const shared = [...rows(evalTokens)].filter((r) => trainRows.has(r));
    expect(shared).toEqual([]);
  });

  it('balances labels roughly', () => {
    const labels = asI32(syntheticSequenceTask(opts).batch(0, 4000, 'train').inputs.labels);
    const counts = [0, 0, 0, 0];
    for (const l of labels) counts[l]!++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(120); // ~4 sigma
  });

  it('is learnable: softmax regression on mean-pooled one-hots beats chance by far', () => {
    // The linear head on a mean-pooled bag of words is the simplest model the 2-layer
    // transformer subsumes; if it learns in 200 SGD steps, the transformer can too.
    const { vocab, seq, classes } = opts;
    const task = syntheticSequenceTask(opts);
    const W = new Float64Array(classes * vocab);
    const logits = new Float64Array(classes);
    const forward = (tokens: Int32Array, i: number) => {
      for (let c = 0; c < classes; c++) {
        let s = 0;
        for (let p = 0; p < seq; p++) s += W[c * vocab + tokens[i * seq + p]!]!;
        logits[c] = s / seq;
      }
    };
    const lr = 4;
    for (let step = 0; step < 200; step++) {
      const b = task.batch(step, 16, 'train');
      const tokens = asI32(b.inputs.tokens);
      const labels = asI32(b.inputs.labels);
      for (let i = 0; i < b.size; i++) {
        forward(tokens, i);
        const m = Math.max(...logits);
        let z = 0;
        for (let c = 0; c < classes; c++) z += Math.exp(logits[c]! - m);
        for (let c = 0; c < classes; c++) {
          const g = (Math.exp(logits[c]! - m) / z - (c === labels[i] ? 1 : 0)) / b.size;
          for (let p = 0; p < seq; p++) W[c * vocab + tokens[i * seq + p]!]! -= (lr * g) / seq;
        }
      }
    }
    const ev = task.batch(0, 1000, 'eval');
    const tokens = asI32(ev.inputs.tokens);
    const labels = asI32(ev.inputs.labels);
    let correct = 0;
    for (let i = 0; i < ev.size; i++) {
      forward(tokens, i);
      if (logits.indexOf(Math.max(...logits)) === labels[i]) correct++;
    }
    expect(correct / ev.size).toBeGreaterThan(0.9); // chance is 0.25
  });

  it('is not solvable from filler alone', () => {
    // Nearest centroid over filler-token counts only: should stay near chance.
    const { seq, classes } = opts;
    const task = syntheticSequenceTask(opts);
    const fillerIds = 48;
    const tr = task.batch(0, 2000, 'train');
    const centroids = Array.from({ length: classes }, () => new Float64Array(fillerIds));
    const n = new Array<number>(classes).fill(0);
    const trT = asI32(tr.inputs.tokens);
    const trL = asI32(tr.inputs.labels);
    for (let i = 0; i < tr.size; i++) {
      n[trL[i]!]!++;
      for (let p = 0; p < seq; p++) {
        const t = trT[i * seq + p]!;
        if (t < fillerIds) centroids[trL[i]!]![t]!++;
      }
    }
    centroids.forEach((c, k) => c.forEach((_, j) => (c[j]! /= n[k]!)));
    const ev = task.batch(0, 1000, 'eval');
    const evT = asI32(ev.inputs.tokens);
    const evL = asI32(ev.inputs.labels);
    let correct = 0;
    for (let i = 0; i < ev.size; i++) {
      const bag = new Float64Array(fillerIds);
      for (let p = 0; p < seq; p++) if (evT[i * seq + p]! < fillerIds) bag[evT[i * seq + p]!]!++;
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < classes; c++) {
        let d = 0;
        for (let j = 0; j < fillerIds; j++) d += (bag[j]! - centroids[c]![j]!) ** 2;
        if (d < bestD) [bestD, best] = [d, c];
      }
      if (best === evL[i]) correct++;
    }
    expect(correct / ev.size).toBeLessThan(0.35);
  });

  it('validates options with clear errors', () => {
    expect(() => syntheticSequenceTask({ ...opts, classes: 1 })).toThrow(/classes must be an integer >= 2, got 1/);
    expect(() => syntheticSequenceTask({ ...opts, seq: 2 })).toThrow(/seq must be an integer >= 3/);
    expect(() => syntheticSequenceTask({ ...opts, vocab: 16, keywordsPerClass: 4 })).toThrow(/vocab 16 must exceed the keyword range/);
    expect(() => syntheticSequenceTask({ ...opts, vocab: 4 })).toThrow(/vocab 4 must exceed the keyword range/);
    expect(() => syntheticSequenceTask({ ...opts, seed: 0.5 })).toThrow(/seed must be a safe integer/);
    expect(() => syntheticSequenceTask({ ...opts, vocab: 2.5 })).toThrow(/vocab must be an integer/);
    // A small vocab shrinks the default keyword sets rather than failing.
    const small = syntheticSequenceTask({ ...opts, vocab: 9 });
    expect(small.describe).toMatch(/keyword ids \[5 \+ 1c/);
    const task = syntheticSequenceTask(opts);
    expect(() => task.batch(-1, 4, 'train')).toThrow(/step must be an integer >= 0/);
    expect(() => task.batch(0, 0, 'train')).toThrow(/batchSize must be an integer >= 1/);
    expect(() => task.batch(0, 4, 'test' as 'eval')).toThrow(/split must be 'train' or 'eval'/);
  });
});
