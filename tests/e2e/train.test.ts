/**
 * End to end on Dawn: the tiny example with LoRA trains (loss falls), the same steps on
 * the float64 reference executor agree within 1e-3, and the frozen weights do not move.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { SEED_INPUT } from '../../compiler/ir/graph.ts';
import { openDataset } from '../../runtime/data/index.ts';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { adamwReference, type AdamWState } from '../../runtime/optim.ts';
import { initialParams } from '../../runtime/params.ts';
import { runReference } from '../../runtime/reference-run.ts';
import { type TrainConfig, Trainer } from '../../runtime/train.ts';
import { fileHost } from '../../runtime/source-files.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await openDevice();
});
afterAll(() => ctx?.close());

const batch = 4;
const lr = 1e-2;

function setup(tune: string) {
  const fe = compileFrontEnd({ host: fileHost(), file: 'examples/tiny_classifier.mile', tune, training: true }).result!;
  const data = openDataset('synthetic', fe.model, 5);
  const cfg: TrainConfig = {
    steps: 0,
    batch,
    lr,
    weightDecay: 0,
    seed: 5,
    bindings: { B: batch },
    checkpointEvery: 1000,
    evalBatches: 1,
    outDir: '/tmp',
    metadata: {},
  };
  return { fe, data, cfg };
}

describe('training the tiny example', () => {
  it('LoRA: the GPU agrees with the float64 reference for 3 steps, and only A, B and the head move', async () => {
    const { fe, data, cfg } = setup('lora_qv');
    const trainer = await Trainer.create(ctx, fe.train!, cfg);
    try {
      const g = trainer.backend.graph;
      const init = initialParams(g, 5);
      trainer.load(init);
      // float64 state
      const state = new Map<string, AdamWState>();
      for (const p of g.params) {
        const v = Float64Array.from(init.get(p.name)!);
        state.set(p.name, { p: v, m: new Float64Array(v.length), v: new Float64Array(v.length) });
      }
      const steps = 3;
      for (let step = 0; step < steps; step++) {
        const gpuLoss = await trainer.step(data, step);
        const b = data.batch(step, batch, 'train');
        const inputs = new Map<string, Float64Array | Int32Array>();
        for (const i of g.inputs) inputs.set(i.name, i.name === SEED_INPUT ? Int32Array.of(0) : (b.inputs[i.name] as Int32Array));
        const params = new Map([...state].map(([k, s]) => [k, s.p]));
        const vals = runReference(g, { params, inputs });
        const refLoss = vals[g.outputs.loss!]!.data[0]!;
        expect(Math.abs(gpuLoss - refLoss)).toBeLessThan(1e-3 * Math.max(1, Math.abs(refLoss)));
        for (const [name, node] of Object.entries(g.grads))
          adamwReference(state.get(name)!, vals[node]!.data, { step: step + 1, lr, weightDecay: 0 });
      }
      for (const p of g.params) {
        const gpu = await trainer.executor.readParam(p.name);
        const ref = state.get(p.name)!.p;
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(gpu[i]! - ref[i]!) / Math.max(1e-2, Math.abs(ref[i]!)));
        expect(worst, p.name).toBeLessThan(1e-3);
        const moved = gpu.some((x, i) => x !== init.get(p.name)![i]);
        expect(moved, `${p.name} ${p.trainable ? 'should' : 'should not'} move`).toBe(p.trainable);
      }
    } finally {
      trainer.destroy();
    }
  });

  it('LoRA: the loss falls over a short run', async () => {
    const { fe, data, cfg } = setup('lora_qv');
    const trainer = await Trainer.create(ctx, fe.train!, { ...cfg, batch: 16, bindings: { B: 16 }, lr: 3e-3 });
    try {
      trainer.load(initialParams(trainer.backend.graph, 5));
      const losses: number[] = [];
      for (let step = 0; step < 40; step++) losses.push(await trainer.step(data, step));
      const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
      const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
      expect(last).toBeLessThan(first * 0.8);
      expect(trainer.executor.dispatchCount).toBeGreaterThan(0);
    } finally {
      trainer.destroy();
    }
  });
});
