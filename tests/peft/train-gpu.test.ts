/**
 * On Dawn (lavapipe here): the tiny example trains with each method family for a short run:
 * the loss on a fixed batch falls and the method's own parameters move. Small batch and few
 * steps keep it fast; one device for the whole file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { type Dataset, openDataset } from '../../runtime/data/index.ts';
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

const batch = 8;
const steps = 24;
const cfg: TrainConfig = {
  steps: 0,
  batch,
  lr: 1e-2,
  weightDecay: 0,
  seed: 3,
  bindings: { B: batch },
  checkpointEvery: 1000,
  evalBatches: 1,
  outDir: '/tmp',
  metadata: {},
};

const families = ['lora_qv', 'dora', 'ia3', 'prefix', 'ptv2', 'prompt', 'adapter', 'bitfit', 'ln_tuning'];

describe('training the tiny example with every method family', () => {
  for (const tune of families) {
    it(`${tune}: agrees with the float64 reference for 2 steps; the loss falls over ${steps}`, async () => {
      const fe = compileFrontEnd({ host: fileHost(), file: 'examples/tiny_classifier.mile', tune, training: true });
      expect(fe.diagnostics).toEqual([]);
      const synthetic = openDataset('synthetic', fe.result!.model, 5);
      // One fixed batch: its loss falls steadily, where fresh batches of 8 are too noisy to judge.
      const data: Dataset = { ...synthetic, batch: (_step, size, split) => synthetic.batch(0, size, split) };
      const trainer = await Trainer.create(ctx, fe.result!.train!, cfg);
      try {
        const init = initialParams(trainer.backend.graph, 3);
        trainer.load(init);
        const losses: number[] = [];
        // The first steps agree with the float64 reference (forward, gradients and AdamW).
        const g = trainer.backend.graph;
        const state = new Map<string, AdamWState>(
          g.params.map((p) => {
            const v = Float64Array.from(init.get(p.name)!);
            return [p.name, { p: v, m: new Float64Array(v.length), v: new Float64Array(v.length) }];
          }),
        );
        for (let step = 0; step < steps; step++) {
          losses.push(await trainer.step(data, step));
          if (step >= 2) continue;
          const inputs = new Map(Object.entries(data.batch(step, batch, 'train').inputs) as [string, Int32Array][]);
          const vals = runReference(g, { params: new Map([...state].map(([k, st]) => [k, st.p])), inputs });
          const ref = vals[g.outputs.loss!]!.data[0]!;
          expect(Math.abs(losses[step]! - ref), `${tune} step ${step}: GPU ${losses[step]}, reference ${ref}`).toBeLessThan(
            1e-3 * Math.max(1, Math.abs(ref)),
          );
          for (const [name, node] of Object.entries(g.grads))
            adamwReference(state.get(name)!, vals[node]!.data, { step: step + 1, lr: cfg.lr, weightDecay: 0 });
        }
        const first = losses.slice(0, 4).reduce((a, b) => a + b) / 4;
        const last = losses.slice(-4).reduce((a, b) => a + b) / 4;
        expect(losses.every(Number.isFinite)).toBe(true);
        expect(last, `${tune}: ${losses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(first * 0.85);
        // The method's own parameters (not only the head) were trained.
        const own = trainer.backend.graph.params.filter((p) => p.trainable && !p.name.startsWith('head.'));
        expect(own.length).toBeGreaterThan(0);
        for (const p of own) {
          const now = await trainer.executor.readParam(p.name);
          expect(
            now.some((v, i) => v !== init.get(p.name)![i]),
            `${p.name} moved`,
          ).toBe(true);
        }
      } finally {
        trainer.destroy();
      }
    });
  }
});
