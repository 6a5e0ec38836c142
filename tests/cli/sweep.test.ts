import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { displayPath } from '../../core/param-path.ts';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { initialParams } from '../../runtime/params.ts';
import { adapterLayout, loadAdapter } from '../../runtime/peft-format.ts';
import { type TensorToWrite, writeSafetensorsAtomic } from '../../runtime/safetensors.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { jsonLines, milec } from '../helpers/milec.ts';

describe('milec sweep', () => {
  const out = mkdtempSync(join(tmpdir(), 'milec-sweep-'));
  // Tunes of the same model at the same batch share most kernels: the second sweep below
  // compiles only what f_f_ia3 adds.
  const sweep = (tunes: string, dir: string, ...extra: string[]) =>
    milec(
      'sweep',
      'examples/miss_tiny.mile',
      '--tunes',
      tunes,
      '--steps',
      '3',
      '--batch',
      '2',
      '--beams',
      '1',
      '--eval-data',
      'synthetic-vqa:4',
      '--out',
      dir,
      '--json',
      ...extra,
    );

  // The sweeps below find their training kernels compiled by these two runs. Compiling them all
  // in one test took up to 17 s on a cold shader cache; f_f_ia3 (trained by the second sweep
  // anyway) compiles the image and text encoders' kernels, which f_f_lora_r4 then shares.
  const trainAlone = async (tune: string) => {
    const t = await milec(
      'train',
      'examples/miss_tiny.mile',
      '--tune',
      tune,
      '--data',
      'synthetic',
      '--steps',
      '3',
      '--batch',
      '2',
      '--eval-batches',
      '0',
      '--out',
      join(out, `alone-${tune}`),
      '--json',
    );
    expect(t.code, t.err).toBe(0);
    expect(JSON.parse(t.out.trim().split('\n').pop()!).steps).toBe(3);
  };
  it('f_f_ia3 trains on its own', () => trainAlone('f_f_ia3'));
  it('f_f_lora_r4 trains on its own', () => trainAlone('f_f_lora_r4'));

  it('trains and evaluates a tune and writes the four reports', async () => {
    const r = await sweep('f_f_lora_r4', out);
    expect(r.code, r.err).toBe(0);
    const row = JSON.parse(r.out.trim().split('\n')[0]!);
    expect(row.tune).toBe('f_f_lora_r4');
    expect(row.steps).toBe(3);
    expect(Number.isFinite(row.lossFirst)).toBe(true);
    expect(row.measuredPeakBytes).toBeGreaterThan(0);
    // LoRA r=4 on q and v of every self- and cross-attention of the 2-layer decoder: 8 sites × 4·(64+64).
    expect(row.trainableParams).toBe(8 * 4 * 128);
    for (const f of ['sweep.md', 'sweep.csv', 'sweep.json', 'report.html']) expect(existsSync(join(out, f))).toBe(true);
    const json = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
    expect(json.rows).toHaveLength(1);
    expect(json.rows[0].losses).toHaveLength(3);
    // Each accuracy with its 95 % Wilson interval and n, and the question prior's baseline on the same 4 items.
    expect(json.rows[0].n_global).toBe(4);
    expect(json.rows[0].global_ci).toHaveLength(2);
    expect(json.baseline.n_global).toBe(4);
    expect(json.baseline.trainItems).toBe(3 * 2);
    expect(json.baseline.global).toBeGreaterThanOrEqual(0);
    // The optimizer settings the tune trained with (its own block in examples/miss_tiny.mile), last in the CSV.
    expect(json.rows[0]).toMatchObject({ lr: 3e-3, schedule: 'constant', warmup: 0, weightDecay: 0 });
    expect(readFileSync(join(out, 'sweep.csv'), 'utf8').split('\n')[0]!.endsWith(',n_global,lr,schedule,warmup,weight_decay')).toBe(true);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<svg');
    // Each tune's adapter as milec train writes it: the peft folder, whose keys are the tune's layout.
    const adapter = join(out, 'f_f_lora_r4', 'adapter');
    expect(JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8'))).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
    });
    const fe = compileFrontEnd({ host: fileHost(), file: 'examples/miss_tiny.mile', tune: 'f_f_lora_r4', training: true }).result!;
    const layout = adapterLayout(fe, { tune: 'f_f_lora_r4' });
    expect((await loadAdapter(adapter, layout)).size).toBe(layout.keys.size);
  });

  it('runs every tune asked for, in order, one row each', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-sweep-2-'));
    const r = await sweep('f_f_lora_r4,f_f_ia3', dir);
    expect(r.code, r.err).toBe(0);
    const lines = jsonLines(r.out);
    expect(lines.map((l) => l.tune).slice(0, 2)).toEqual(['f_f_lora_r4', 'f_f_ia3']);
    for (const l of lines.slice(0, 2)) {
      expect(l.steps).toBe(3);
      expect(Number.isFinite(l.lossFirst)).toBe(true);
      expect(l.trainableParams).toBeGreaterThan(0);
    }
    expect(JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')).rows).toHaveLength(2);
  });

  describe('--weights', () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-sweep-w-'));
    const args = [
      'sweep',
      'examples/miss_tiny.mile',
      '--tunes',
      'f_f_lora_r4',
      '--steps',
      '1',
      '--batch',
      '2',
      '--beams',
      '1',
      '--eval-data',
      'synthetic-vqa:2',
      '--json',
    ];
    const first = (r: { out: string }) => JSON.parse(r.out.trim().split('\n')[0]!).lossFirst as number;

    it('a backbone checkpoint to start from: every parameter of the model, other values than a fresh start', async () => {
      // Written here rather than trained: what --weights reads is a file of every backbone
      // parameter under its user-facing name, and training one (t_t_t) only cost compile time.
      const fe = compileFrontEnd({ host: fileHost(), file: 'examples/miss_tiny.mile', training: false }).result!;
      const tensors: Record<string, TensorToWrite> = {};
      for (const [name, data] of initialParams(fe.forward, 7)) {
        const p = fe.forward.params.find((q) => q.name === name)!;
        tensors[displayPath(name)] = { dtype: 'F32', shape: p.shape.map(Number), data };
      }
      mkdirSync(join(dir, 'base'), { recursive: true });
      await writeSafetensorsAtomic(join(dir, 'base', 'adapter.safetensors'), tensors, { format: 'milec-adapter' });
      expect(Object.keys(tensors).length).toBe(fe.forward.params.length);
    });

    it('starts every tune from the same loaded backbone', async () => {
      const fresh = await milec(...args, '--out', join(dir, 'a'));
      const loaded = await milec(...args, '--out', join(dir, 'b'), '--weights', join(dir, 'base', 'adapter.safetensors'));
      expect(fresh.code, fresh.err).toBe(0);
      expect(loaded.code, loaded.err).toBe(0);
      expect(first(loaded)).not.toBe(first(fresh));
      expect(JSON.parse(readFileSync(join(dir, 'b', 'sweep.json'), 'utf8')).data).toContain(
        `every tune from ${join(dir, 'base', 'adapter.safetensors')}`,
      );
    });

    it('a missing weights file is a one-line error naming it', async () => {
      const bad = await milec(...args, '--out', join(dir, 'c'), '--weights', join(dir, 'nope.safetensors'));
      expect(bad.code).toBe(1);
      expect(bad.err).toContain('nope.safetensors');
    });
  });

  it('an unknown tune is a one-line error with a suggestion', async () => {
    const r = await milec('sweep', 'examples/miss_tiny.mile', '--tunes', 'f_f_lora_r5', '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no tune named `f_f_lora_r5`.*did you mean `f_f_lora_r4`/);
  });
});
