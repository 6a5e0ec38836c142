/**
 * Generation on the GPU (inference plan) against the float64 reference executor on the
 * tiny VQA model: same logits rows, same greedy answers; beam search and ranking run batched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Graph } from '../../compiler/ir/graph.ts';
import { specialize } from '../../compiler/ir/specialize.ts';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { greedyDecode, type NextTokenLogits } from '../../runtime/decode.ts';
import { Generator, type ItemInputs } from '../../runtime/generate.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { special, tinyItems, tinyModel } from './items.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await openDevice();
});
afterAll(() => ctx?.close());

/** The same next-token function, evaluated in float64 by the reference executor. */
function referenceNext(graph: Graph, params: Map<string, Float32Array>, items: ItemInputs[], alen: number): NextTokenLogits {
  const p64 = new Map([...params].map(([k, v]) => [k, Float64Array.from(v)]));
  return async (rows) => {
    const g = specialize({ ...graph, outputs: { logits: graph.outputs.logits! } }, { B: rows.length });
    const answer = new Int32Array(rows.length * alen).fill(special.pad);
    rows.forEach((r, i) => answer.set(r.prefix, i * alen));
    const inputs = new Map<string, Float64Array | Int32Array>([
      ['image', Float64Array.from(rows.flatMap((r) => [...items[r.item]!.image!]))],
      ['question', Int32Array.from(rows.flatMap((r) => [...items[r.item]!.question!]))],
      ['answer', answer],
    ]);
    const vals = runReference(g, { params: p64, inputs });
    const l = vals[g.outputs.logits!]!;
    const [, T, V] = l.shape as [number, number, number];
    return rows.map((r, i) => l.data.subarray(i * T * V + (r.prefix.length - 1) * V, i * T * V + r.prefix.length * V));
  };
}

describe('generation on the GPU', () => {
  it('greedy answers and logits equal the float64 reference', async () => {
    const { graph, params } = tinyModel();
    const items = tinyItems(5, 7);
    const gen = await Generator.create(ctx, graph, params, { batch: 4 });
    try {
      expect(gen.vocab).toBe(24);
      expect(gen.answerLen).toBe(6);
      expect(gen.logitsLen).toBe(5);
      // No gradient or optimizer buffers in the plan.
      expect(gen.backend.plan.buffers.filter((b) => b.kind === 'grad' || b.kind === 'optim')).toEqual([]);
      expect(gen.backend.plan.updates).toEqual([]);
      const opts = { ...special, beams: 1, maxLen: 5 };
      const gpu = await gen.generate(items, opts);
      const ref = await greedyDecode(items.length, referenceNext(graph, params, items, 6), opts);
      expect(gpu.map((h) => h.tokens)).toEqual(ref.map((h) => h.tokens));
      gpu.forEach((h, i) => expect(h.logProb).toBeCloseTo(ref[i]!.logProb, 3));
      // The answers are not all the same token: the test has teeth.
      expect(new Set(gpu.map((h) => h.tokens.join(' '))).size).toBeGreaterThan(1);
      // Logits rows of a few prefixes agree.
      const rows = [
        { item: 0, prefix: [4] },
        { item: 1, prefix: [4, 7, 9] },
        { item: 4, prefix: [4, 5, 6, 7, 8] },
      ];
      const a = await gen.nextTokenLogits(items, special)(rows);
      const b = await referenceNext(graph, params, items, 6)(rows);
      a.forEach((row, i) => {
        for (let v = 0; v < row.length; v++) expect(Math.abs(row[v]! - b[i]![v]!)).toBeLessThan(1e-3 * Math.max(1, Math.abs(b[i]![v]!)));
      });
    } finally {
      gen.destroy();
    }
  });

  it('beam search batches items × beams rows per forward and scores at least as well as greedy; ranking picks a candidate', async () => {
    const { graph, params } = tinyModel();
    const items = tinyItems(4, 8);
    const gen = await Generator.create(ctx, graph, params, { batch: 6 });
    try {
      const greedy = await gen.generate(items, { ...special, beams: 1, lengthPenalty: 0 });
      const before = gen.forwards;
      const beam = await gen.generate(items, { ...special, beams: 3, lengthPenalty: 0 });
      // 4 items × 3 beams = 12 rows = 2 forwards per step, at most 5 steps.
      expect(gen.forwards - before).toBeLessThanOrEqual(10);
      beam.forEach((h, i) => expect(h.score).toBeGreaterThanOrEqual(greedy[i]!.score - 1e-4));
      for (const h of beam) expect(h.tokens.length).toBeLessThanOrEqual(5);
      const ranked = await gen.rank(items, [[5], [6], [7, 8]], special);
      expect(ranked).toHaveLength(4);
      for (const r of ranked) expect(r.scores.every((s) => Number.isFinite(s) && s < 0)).toBe(true);
    } finally {
      gen.destroy();
    }
  });
});
