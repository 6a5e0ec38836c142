/**
 * Training-state checkpoints: N steps in one go equal N/2 steps, a checkpoint, a fresh
 * trainer and N/2 resumed steps (the tiny classifier on the synthetic data, with dropout-free
 * LoRA and with prefix tuning); malformed checkpoints are rejected with the path and reason.
 */
import { mkdtempSync, readFileSync, writeFileSync, truncateSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { openDataset } from '../../runtime/data/index.ts';
import { type GpuContext, openDevice } from '../../runtime/device.ts';
import { initialParams } from '../../runtime/params.ts';
import { type TrainConfig, Trainer } from '../../runtime/train.ts';
import { CheckpointError, checkResumable, loadTrainState, saveTrainState, type TrainState } from '../../runtime/checkpoint.ts';
import { fileHost } from '../../runtime/source-files.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await openDevice();
});
afterAll(() => ctx?.close());

function setup(tune: string) {
  const fe = compileFrontEnd({ host: fileHost(), file: 'examples/tiny_classifier.mile', tune, training: true }).result!;
  const data = openDataset('synthetic', fe.model, 3);
  const cfg: TrainConfig = {
    steps: 0,
    batch: 4,
    lr: 1e-2,
    weightDecay: 0.01,
    seed: 3,
    bindings: { B: 4 },
    checkpointEvery: 1000,
    evalBatches: 1,
    outDir: '/tmp',
    metadata: {},
  };
  return { fe, data, cfg };
}

async function run(tune: string, from: number, to: number, resume?: string, save?: string): Promise<number[]> {
  const { fe, data, cfg } = setup(tune);
  const t = await Trainer.create(ctx, fe.train!, cfg);
  try {
    t.load(initialParams(t.backend.graph, cfg.seed));
    if (resume) {
      const s = await loadTrainState(resume);
      const trainable = new Map(t.backend.graph.params.filter((p) => p.trainable).map((p) => [p.name, p.shape as number[]]));
      checkResumable(resume, s, { model: 'TinyClassifier', tune, batch: cfg.batch, seed: cfg.seed, trainable });
      expect(s.step).toBe(from);
      t.restoreState(s);
    }
    const losses: number[] = [];
    for (let step = from; step < to; step++) losses.push(await t.step(data, step));
    if (save) await t.saveState(save, to, { model: 'TinyClassifier', tune });
    return losses;
  } finally {
    t.destroy();
  }
}

describe('resume', () => {
  for (const tune of ['lora_qv', 'prefix']) {
    it(`${tune}: 8 steps in one go equal 4 + checkpoint + 4 resumed, loss for loss`, async () => {
      const dir = join(mkdtempSync(join(tmpdir(), 'milec-resume-')), 'checkpoint');
      const whole = await run(tune, 0, 8);
      const first = await run(tune, 0, 4, undefined, dir);
      const second = await run(tune, 4, 8, dir);
      expect([...first, ...second]).toEqual(whole);
      expect(readdirSync(join(dir, '..'))).toEqual(['checkpoint']);
    });
  }
});

describe('malformed checkpoints', () => {
  async function good(): Promise<string> {
    const dir = join(mkdtempSync(join(tmpdir(), 'milec-ckpt-')), 'ck');
    const s: TrainState = {
      step: 5,
      seed: 1,
      dataPosition: 5,
      batch: 4,
      lr: 0.01,
      weightDecay: 0,
      model: 'M',
      tune: 't',
      weights: '',
      params: new Map([['a.w', Float32Array.of(1, 2, 3, 4)]]),
      shapes: new Map([['a.w', [2, 2]]]),
      m: new Map([['a.w', Float32Array.of(0.1, 0.2, 0.3, 0.4)]]),
      v: new Map([['a.w', Float32Array.of(1, 1, 1, 1)]]),
    };
    await saveTrainState(dir, s);
    return dir;
  }

  it('round-trips', async () => {
    const s = await loadTrainState(await good());
    expect(s.step).toBe(5);
    expect(Array.from(s.m.get('a.w')!)).toEqual([0.1, 0.2, 0.3, 0.4].map(Math.fround));
  });

  it('a truncated optimizer file is rejected with its path and reason', async () => {
    const dir = await good();
    const p = join(dir, 'optim.safetensors');
    truncateSync(p, statSync(p).size - 3);
    const e = await loadTrainState(dir).catch((x) => x);
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e.message).toMatch(new RegExp(`^${p.replace(/[.]/g, '\\.')}: .*(out of bounds|trailing|beyond)`));
  });

  it('bad JSON, a wrong format, a missing file and files of another step are each named', async () => {
    let dir = await good();
    writeFileSync(join(dir, 'state.json'), '{"format": ');
    await expect(loadTrainState(dir)).rejects.toThrow(`${join(dir, 'state.json')}: not valid JSON`);
    dir = await good();
    const j = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ ...j, step: 6 }));
    await expect(loadTrainState(dir)).rejects.toThrow(`${join(dir, 'params.safetensors')}: written at step 5, but state.json says step 6`);
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ ...j, format: 'x' }));
    await expect(loadTrainState(dir)).rejects.toThrow(/state\.json: format is "x"/);
    await expect(loadTrainState('/nonexistent/ck')).rejects.toThrow('/nonexistent/ck/state.json: missing: not a milec training checkpoint');
  });

  it('a checkpoint of another tune or batch is refused', async () => {
    const dir = await good();
    const s = await loadTrainState(dir);
    const trainable = new Map([['a.w', [2, 2]]]);
    expect(() => checkResumable(dir, s, { model: 'M', tune: 'u', batch: 4, seed: 1, trainable })).toThrow(
      `${dir}: cannot resume: it was trained with tune t, not u`,
    );
    expect(() => checkResumable(dir, s, { model: 'M', tune: 't', batch: 4, seed: 1, trainable: new Map([['a.w', [4]]]) })).toThrow(
      /a\.w has shape \[2, 2\] in the checkpoint, \[4\] here/,
    );
  });
});
