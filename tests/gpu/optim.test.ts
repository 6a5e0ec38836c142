/**
 * Training steps on the device: forward, backward and AdamW in one submission, against
 * the float64 reference (reference forward/backward, then `adamwReference`) for three
 * steps, with a frozen parameter that must not move: with one weight decay for all (the
 * trainable tensors packed in arenas, one AdamW dispatch) and per-parameter decay (one
 * dispatch per parameter).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { differentiate } from '../../compiler/grad/grad.ts';
import { planGraph } from '../../compiler/plan/buffers.ts';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { PlanExecutor } from '../../runtime/executor.ts';
import { type AdamWState, type AdamWStep, adamwReference } from '../../runtime/optim.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { TestGraph, maxRelError } from './harness.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await openDevice();
});
afterAll(() => ctx?.close());

/** loss = mean(tanh(x @ W + b) * f) with W, b trainable and f frozen. */
function model() {
  const t = new TestGraph(21);
  const b = t.b;
  const x = t.input([4, 5]);
  const W = t.param([5, 3]);
  const bias = t.param([3]);
  const f = t.param([3], { trainable: false });
  const y = b.mul(b.op('tanh', [b.add(b.op('matmul', [x, W], { transA: false, transB: false }), bias)], {}), f);
  b.outputs.loss = b.mul(b.op('sum', [y], { axes: [0, 1], keepdims: false }), b.scalar(1 / 12));
  return { g: differentiate(b.build()), feeds: t.feeds };
}

const decays: { name: string; decay: AdamWStep['weightDecay']; dispatches: number }[] = [
  { name: 'one decay for all: one packed dispatch', decay: 0.1, dispatches: 1 },
  { name: 'per-parameter decay: a dispatch per parameter', decay: (name) => (name === 'p2' ? 0 : 0.1), dispatches: 2 },
];

describe('AdamW on the GPU', () => {
  for (const { name: caseName, decay, dispatches } of decays)
    it(`matches the float64 reference for 3 steps (${caseName})`, async () => {
      const { g, feeds } = model();
      const roots = [g.outputs.loss!, ...Object.values(g.grads)];
      const plan = planGraph(g, { roots, keep: roots, optimizer: true });
      expect(plan.updates.map((u) => u.name)).toEqual(['p1', 'p2']);
      const exec = await PlanExecutor.create(ctx, plan);
      try {
        for (const p of g.params) exec.writeParam(p.name, Float32Array.from(feeds.params.get(p.name)!));
        for (const i of g.inputs) exec.writeInput(i.node, Float32Array.from(feeds.inputs.get(i.name)!));
        exec.fill(['output', 'grad', 'temp']);

        // Reference state starts from the f32-rounded values the GPU holds.
        const ref = new Map<string, AdamWState>();
        for (const p of g.params) {
          const v = Float64Array.from(Float32Array.from(feeds.params.get(p.name)!));
          ref.set(p.name, { p: v, m: new Float64Array(v.length), v: new Float64Array(v.length) });
        }
        const inputs = new Map([...feeds.inputs].map(([k, v]) => [k, Float64Array.from(Float32Array.from(v))]));
        for (let step = 1; step <= 3; step++) {
          const hyper: AdamWStep = { step, lr: 0.05, weightDecay: decay };
          const values = runReference(g, { params: new Map([...ref].map(([k, s]) => [k, s.p])), inputs });
          const out = await exec.run({ read: [g.outputs.loss!, g.grads.p1!], update: hyper });
          expect(exec.dispatchCount).toBe(plan.steps.length + dispatches);
          expect(Math.abs(out.get(g.outputs.loss!)![0]! - values[g.outputs.loss!]!.data[0]!)).toBeLessThan(1e-5);
          expect(maxRelError(out.get(g.grads.p1!)!, values[g.grads.p1!]!.data).err).toBeLessThan(1e-4);
          for (const [name, node] of Object.entries(g.grads)) adamwReference(ref.get(name)!, values[node]!.data, hyper, name);
          for (const p of g.params) {
            const gpu = await exec.readParam(p.name);
            const { err, at } = maxRelError(gpu, ref.get(p.name)!.p);
            expect(err, `step ${step}, ${p.name}[${at}]: gpu ${gpu[at]} vs reference ${ref.get(p.name)!.p[at]}`).toBeLessThan(1e-5);
          }
        }
        // The frozen parameter has no update and so keeps its value.
        expect(Array.from(await exec.readParam('p3'))).toEqual(Array.from(Float32Array.from(feeds.params.get('p3')!)));
        // Optimizer state after 3 steps matches too.
        const u = plan.updates.find((q) => q.name === 'p1')!;
        expect(maxRelError(await exec.readBuffer(u.m, u.numel), ref.get('p1')!.m).err).toBeLessThan(1e-5);
        expect(maxRelError(await exec.readBuffer(u.v, u.numel), ref.get('p1')!.v).err).toBeLessThan(1e-5);
      } finally {
        exec.destroy();
      }
    });

  it('adamwReference follows PyTorch: decay first, then the bias-corrected Adam step', () => {
    const s: AdamWState = { p: Float64Array.of(2), m: Float64Array.of(0), v: Float64Array.of(0) };
    adamwReference(s, [0.5], { step: 1, lr: 0.1, weightDecay: 0.5, eps: 0 });
    // p·(1 − 0.05) − 0.1·m̂/√v̂ with m̂ = g, v̂ = g² at step 1: 1.9 − 0.1.
    expect(s.p[0]).toBeCloseTo(1.8, 12);
    expect(s.m[0]).toBeCloseTo(0.05, 12);
    expect(s.v[0]).toBeCloseTo(0.00025, 12);
  });
});
