/**
 * Generation with the split graph (towers once per item, decoder per step) against the
 * whole-graph path on the tiny VQA model: same answers, rankings and (to float32 rounding)
 * logits; the head runs once per chunk of items per call, the tail once per step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { Generator } from '../../runtime/generate.ts';
import { special, tinyItems, tinyModel } from './items.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await openDevice();
});
afterAll(() => ctx?.close());

describe('generation with the towers split off', () => {
  it('matches the whole-graph path, running the head once per chunk of items', async () => {
    const { graph, params } = tinyModel();
    const its = tinyItems(5, 11);
    const split = await Generator.create(ctx, graph, params, { batch: 6, headBatch: 2 });
    const whole = await Generator.create(ctx, graph, params, { batch: 6, split: false });
    try {
      expect(split.split).toBe(true);
      expect(whole.split).toBe(false);
      // The per-step plan is the decoder only: fewer kernels than the whole graph.
      expect(split.backend.plan.steps.length).toBeLessThan(whole.backend.plan.steps.length / 2);
      for (const beams of [1, 3]) {
        const h0 = split.headForwards;
        const a = await split.generate(its, { ...special, beams });
        // 5 items, 2 per head run: 3 head runs for the whole call.
        expect(split.headForwards - h0).toBe(3);
        const b = await whole.generate(its, { ...special, beams });
        expect(a.map((h) => h.tokens)).toEqual(b.map((h) => h.tokens));
        a.forEach((h, i) => expect(h.logProb).toBeCloseTo(b[i]!.logProb, 3));
      }
      expect(split.forwards).toBe(whole.forwards);
      expect(whole.headForwards).toBe(0);
      const cands = [[5], [6], [7, 8]];
      const ra = await split.rank(its, cands, special);
      const rb = await whole.rank(its, cands, special);
      expect(ra.map((r) => r.best)).toEqual(rb.map((r) => r.best));
      ra.forEach((r, i) => r.scores.forEach((s, c) => expect(s).toBeCloseTo(rb[i]!.scores[c]!, 3)));
      const rows = [
        { item: 3, prefix: [4] },
        { item: 0, prefix: [4, 7, 9] },
        { item: 4, prefix: [4, 5, 6, 7, 8] },
      ];
      const la = await split.nextTokenLogits(its, special)(rows);
      const lb = await whole.nextTokenLogits(its, special)(rows);
      la.forEach((row, i) => {
        for (let v = 0; v < row.length; v++) expect(Math.abs(row[v]! - lb[i]![v]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lb[i]![v]!)));
      });
    } finally {
      split.destroy();
      whole.destroy();
    }
  });
});
