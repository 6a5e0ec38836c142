/**
 * Learning-rate schedules: HF's constant and cosine schedules with linear warm-up, and the
 * trainer applying them (a warm-up step at learning rate 0 leaves the weights as they were).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { openDataset } from '../../runtime/data/index.ts';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { scheduledLr } from '../../runtime/optim.ts';
import { initialParams } from '../../runtime/params.ts';
import { Trainer } from '../../runtime/train.ts';
import { fileHost } from '../../runtime/source-files.ts';

describe('scheduledLr', () => {
  it('warms up linearly from 0, as HF get_*_schedule_with_warmup', () => {
    const s = { kind: 'constant' as const, warmup: 4, total: 10 };
    [0, 0.025, 0.05, 0.075, 0.1, 0.1].forEach((want, j) => expect(scheduledLr(0.1, [0, 1, 2, 3, 4, 9][j]!, s)).toBeCloseTo(want, 15));
  });

  it('cosine: the full rate after warm-up, half way at mid-run, 0 at the end', () => {
    const s = { kind: 'cosine' as const, warmup: 2, total: 12 };
    expect(scheduledLr(1, 2, s)).toBeCloseTo(1, 12);
    expect(scheduledLr(1, 7, s)).toBeCloseTo(0.5, 12);
    expect(scheduledLr(1, 12, s)).toBeCloseTo(0, 12);
    // HF: max(0, 0.5·(1 + cos(π·progress))) with progress = (t − warmup) / (total − warmup).
    expect(scheduledLr(2e-5, 5, s)).toBeCloseTo(2e-5 * 0.5 * (1 + Math.cos((Math.PI * 3) / 10)), 18);
  });

  it('without warm-up a constant schedule is the plain rate', () => {
    expect(scheduledLr(3e-3, 0, { kind: 'constant', warmup: 0, total: 5 })).toBe(3e-3);
  });
});

describe('the trainer follows its schedule', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await openDevice();
  });
  afterAll(() => ctx?.close());

  it('a warm-up step at rate 0 changes no weight; the next one does', async () => {
    const fe = compileFrontEnd({ host: fileHost(), file: 'examples/tiny_classifier.mile', tune: 'lora_qv', training: true }).result!;
    const data = openDataset('synthetic', fe.model, 0);
    const trainer = await Trainer.create(ctx, fe.train!, {
      steps: 3,
      batch: 4,
      lr: 1e-2,
      schedule: { kind: 'cosine', warmup: 1, total: 3 },
      weightDecay: 0,
      seed: 0,
      bindings: { B: 4 },
      checkpointEvery: 1e9,
      evalBatches: 0,
      outDir: '/tmp',
      metadata: {},
    });
    try {
      const init = initialParams(trainer.backend.graph, 0);
      trainer.load(init);
      await trainer.step(data, 0);
      const after0 = await trainer.trainedParams();
      for (const [k, v] of after0) expect(Array.from(v), k).toEqual(Array.from(init.get(k)!));
      await trainer.step(data, 1);
      const after1 = await trainer.trainedParams();
      expect([...after1].some(([k, v]) => v.some((x, i) => x !== init.get(k)![i]))).toBe(true);
    } finally {
      trainer.destroy();
    }
  });
});
