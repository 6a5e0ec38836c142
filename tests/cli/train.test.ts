import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../../runtime/safetensors.ts';
import { jsonLines, milec } from '../helpers/milec.ts';

describe('milec train', () => {
  it('--json prints one object per logged step and a summary; the adapter is saved', async () => {
    const out = mkdtempSync(join(tmpdir(), 'milec-train-'));
    const r = await milec(
      'train',
      'examples/tiny_classifier.mile',
      '--tune',
      'lora_qv',
      '--steps',
      '6',
      '--batch',
      '4',
      '--log-every',
      '2',
      '--eval-batches',
      '1',
      '--out',
      out,
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const lines = jsonLines(r.out);
    const steps = lines.filter((l) => 'step' in l && !('done' in l));
    expect(steps.map((s) => s.step)).toEqual([1, 2, 4, 6]);
    for (const s of steps) expect(Number.isFinite(s.loss)).toBe(true);
    const done = lines[lines.length - 1];
    expect(done).toMatchObject({ done: true, steps: 6, checkpoint: join(out, 'adapter.safetensors') });
    // The optimizer settings it trained with: train's defaults.
    expect(done).toMatchObject({ lr: 3e-3, schedule: 'constant', warmup: 0, weightDecay: 0 });
    expect(done.lossFirst).toBeCloseTo(steps[0].loss, 5);
    expect(done.dispatchesPerStep).toBeGreaterThan(10);
    const ckpt = await readSafetensors(done.checkpoint);
    expect(ckpt.names.sort()).toEqual([
      'blocks.0.attn.query.lora_A',
      'blocks.0.attn.query.lora_B',
      'blocks.0.attn.value.lora_A',
      'blocks.0.attn.value.lora_B',
      'blocks.1.attn.query.lora_A',
      'blocks.1.attn.query.lora_B',
      'blocks.1.attn.value.lora_A',
      'blocks.1.attn.value.lora_B',
      'head.bias',
      'head.weight',
    ]);
    expect(ckpt.tensors['blocks.0.attn.query.lora_A']!.shape).toEqual([8, 32]);
    expect(ckpt.metadata).toMatchObject({ model: 'TinyClassifier', tune: 'lora_qv', step: '6' });
    // No temporary file is left behind.
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a non-finite loss stops with the step number and keeps the last good checkpoint', async () => {
    const out = mkdtempSync(join(tmpdir(), 'milec-nan-'));
    // With an absurd learning rate Adam moves each weight by ~lr per step: once LoRA's A and B
    // are both ~1e30 their product overflows, at the third step.
    const r = await milec(
      'train',
      'examples/tiny_classifier.mile',
      '--tune',
      'lora_qv',
      '--steps',
      '8',
      '--batch',
      '4',
      '--lr',
      '1e30',
      '--checkpoint-every',
      '1',
      '--out',
      out,
      '--json',
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /error: (the loss \(NaN\)|parameter \S+) became non-finite at step (\d); stopped\. The last good checkpoint \(after step (\d)\) is kept at .*adapter\.safetensors/,
    );
    const [, failed, kept] = /at step (\d).*after step (\d)/.exec(r.err)!.map(Number) as number[];
    expect(r.err).not.toMatch(/\bat .*\.ts:\d+/);
    const last = JSON.parse(r.out.trim().split('\n').pop()!);
    expect(kept).toBe(failed! - 1);
    expect(last).toMatchObject({ done: false, error: 'non-finite', step: failed });
    const ckpt = await readSafetensors(join(out, 'adapter.safetensors'));
    expect(ckpt.metadata.step).toBe(String(kept));
    for (const name of ckpt.names) expect(Array.from(ckpt.tensors[name]!.data).every(Number.isFinite)).toBe(true);
  });

  it('a model the dataset cannot feed is a one-line error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'milec-data-'));
    const file = join(dir, 'regress.mile');
    writeFileSync(file, `model R {\n  input x: f32[B, 4]\n  param w: f32[4] = ones\n  forward { loss mean(x * w) }\n}\n`);
    const r = await milec('train', file, '--steps', '2', '--out', join(dir, 'run'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error: --data synthetic feeds inputs `tokens` and `labels` \(i32\); `R` has `x`/);
    expect(existsSync(join(dir, 'run', 'adapter.safetensors'))).toBe(false);
  });
});
