/**
 * Files milec writes name parameters in PyTorch's dotted spelling (`blocks.0.attn.query.lora_A`);
 * checkpoints and adapter folders written before, in the `.mile` bracket spelling
 * (`blocks[0].attn.query.lora_A`), still load.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { displayPath } from '../../core/param-path.ts';
import { elementCount } from '../../core/dim.ts';
import { paramsWithCheckpoint, readEvalCheckpoint } from '../../runtime/eval/checkpoint.ts';
import { adapterLayout, loadAdapter, saveAdapter } from '../../runtime/peft-format.ts';
import { encodeSafetensors, type TensorToWrite, writeSafetensorsAtomic } from '../../runtime/safetensors.ts';
import { fileHost } from '../../runtime/source-files.ts';

function compiled(tune: string) {
  const fe = compileFrontEnd({ host: fileHost(), file: 'examples/tiny_classifier.mile', tune, training: true }).result!;
  const trainable = fe.train!.params.filter((p) => p.trainable);
  const values = new Map(trainable.map((p, j) => [p.name, Float32Array.from({ length: elementCount(p.shape) }, (_, i) => j + i / 1000)]));
  return { fe, trainable, values };
}

describe('parameter spelling of saved files', () => {
  it('milec eval reads adapter.safetensors with dotted names and, from older runs, with bracket names', async () => {
    const { fe, trainable, values } = compiled('lora_qv');
    expect(trainable.some((p) => p.name.includes('['))).toBe(true);
    for (const spell of [displayPath, (n: string) => n]) {
      const dir = mkdtempSync(join(tmpdir(), 'milec-spelling-'));
      const tensors: Record<string, TensorToWrite> = {};
      for (const p of trainable) tensors[spell(p.name)] = { dtype: 'F32', shape: p.shape as number[], data: values.get(p.name)! };
      await writeSafetensorsAtomic(join(dir, 'adapter.safetensors'), tensors, {
        model: 'TinyClassifier',
        tune: 'lora_qv',
        step: '1',
        format: 'milec-adapter',
      });
      const ckpt = await readEvalCheckpoint(dir);
      const params = paramsWithCheckpoint(fe.infer, ckpt, 0);
      for (const p of trainable) expect(Array.from(params.get(p.name)!)).toEqual(Array.from(values.get(p.name)!));
    }
  });

  it('an unknown tensor is named in the dotted spelling whichever spelling the file uses', async () => {
    const { fe, trainable, values } = compiled('lora_qv');
    const dir = mkdtempSync(join(tmpdir(), 'milec-spelling-'));
    const p = trainable[0]!;
    const tensors: Record<string, TensorToWrite> = {
      'blocks[7].attn.query.lora_A': { dtype: 'F32', shape: p.shape as number[], data: values.get(p.name)! },
    };
    await writeSafetensorsAtomic(join(dir, 'adapter.safetensors'), tensors, { model: 'TinyClassifier', tune: 'lora_qv' });
    await expect(readEvalCheckpoint(dir).then((c) => paramsWithCheckpoint(fe.infer, c, 0))).rejects.toThrow(
      /the model does not have: blocks\.7\.attn\.query\.lora_A/,
    );
  });

  it('a milec-format adapter folder is saved with dotted keys and loads from bracket keys too', async () => {
    const { fe, values } = compiled('adapter');
    const layout = adapterLayout(fe, { tune: 'adapter' });
    expect(layout.peftType).toBe('MILEC');
    const out = join(mkdtempSync(join(tmpdir(), 'milec-spelling-')), 'adapter');
    await saveAdapter(out, layout, values);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(Object.keys(cfg.params).sort()).toEqual([...values.keys()].map(displayPath).sort());
    // The folder as earlier versions wrote it: the same config, tensors under bracket names.
    const old: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const [name, { shape }] of layout.keys) old[name] = { dtype: 'F32', shape, data: values.get(name)! };
    expect(Object.keys(old).some((k) => k.includes('['))).toBe(true);
    writeFileSync(join(out, 'adapter_model.safetensors'), encodeSafetensors(old, { format: 'pt' }));
    const back = await loadAdapter(out, layout);
    for (const [k, v] of values) expect(Array.from(back.get(k)!)).toEqual(Array.from(v));
  });
});
