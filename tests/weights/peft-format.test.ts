/** Adapters saved as HF peft saves them, against hand-written expected configs and keys; round trips. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { displayPath } from '../../core/param-path.ts';
import { adapterLayout, AdapterError, loadAdapter, saveAdapter } from '../../runtime/peft-format.ts';
import { readSafetensors } from '../../runtime/safetensors.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { elementCount } from '../../core/dim.ts';

function tuned(tune: string) {
  const fe = compileFrontEnd({ host: fileHost(), file: 'examples/tiny_classifier.mile', tune, training: true }).result!;
  const trainable = fe.train!.params.filter((p) => p.trainable);
  const values = new Map(trainable.map((p, j) => [p.name, Float32Array.from({ length: elementCount(p.shape) }, (_, i) => j + i / 1000)]));
  return { layout: adapterLayout(fe, { baseModel: 'tiny-classifier', taskType: 'SEQ_CLS', tune }), values };
}

const dir = () => join(mkdtempSync(join(tmpdir(), 'milec-peft-')), 'adapter');

describe('peft save format', () => {
  it('LoRA: the exact adapter_config.json and key list of peft, and a lossless round trip', async () => {
    const { layout, values } = tuned('lora_qv');
    const out = dir();
    await saveAdapter(out, layout, values);
    const expected = {
      peft_type: 'LORA',
      base_model_name_or_path: 'tiny-classifier',
      revision: null,
      task_type: 'SEQ_CLS',
      inference_mode: true,
      modules_to_save: ['head'],
      r: 8,
      lora_alpha: 16,
      lora_dropout: 0,
      target_modules: ['blocks.0.attn.query', 'blocks.0.attn.value', 'blocks.1.attn.query', 'blocks.1.attn.value'],
      fan_in_fan_out: false,
      bias: 'none',
      use_rslora: false,
      use_dora: false,
      init_lora_weights: true,
      layers_to_transform: null,
      layers_pattern: null,
      rank_pattern: {},
      alpha_pattern: {},
    };
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'))).toEqual(expected);
    const f = await readSafetensors(join(out, 'adapter_model.safetensors'));
    expect([...f.names].sort()).toEqual([
      'base_model.model.blocks.0.attn.query.lora_A.weight',
      'base_model.model.blocks.0.attn.query.lora_B.weight',
      'base_model.model.blocks.0.attn.value.lora_A.weight',
      'base_model.model.blocks.0.attn.value.lora_B.weight',
      'base_model.model.blocks.1.attn.query.lora_A.weight',
      'base_model.model.blocks.1.attn.query.lora_B.weight',
      'base_model.model.blocks.1.attn.value.lora_A.weight',
      'base_model.model.blocks.1.attn.value.lora_B.weight',
      'base_model.model.head.bias',
      'base_model.model.head.weight',
    ]);
    expect(f.tensors['base_model.model.blocks.0.attn.query.lora_A.weight']!.shape).toEqual([8, 32]);
    expect(f.tensors['base_model.model.blocks.0.attn.query.lora_B.weight']!.shape).toEqual([32, 8]);
    const back = await loadAdapter(out, tuned('lora_qv').layout);
    expect([...back.keys()].sort()).toEqual([...values.keys()].sort());
    for (const [k, v] of values) expect(Array.from(back.get(k)!)).toEqual(Array.from(v));
  });

  it('IA3: ia3_l as [out, 1], or [1, in] for feedforward_modules', async () => {
    const { layout, values } = tuned('ia3');
    const out = dir();
    await saveAdapter(out, layout, values);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      peft_type: 'IA3',
      feedforward_modules: ['blocks.0.mlp.fc2', 'blocks.1.mlp.fc2'],
      modules_to_save: ['head'],
    });
    expect(cfg.target_modules).toEqual([
      'blocks.0.attn.key',
      'blocks.0.attn.value',
      'blocks.0.mlp.fc2',
      'blocks.1.attn.key',
      'blocks.1.attn.value',
      'blocks.1.mlp.fc2',
    ]);
    const f = await readSafetensors(join(out, 'adapter_model.safetensors'));
    expect(f.tensors['base_model.model.blocks.0.attn.key.ia3_l']!.shape).toEqual([32, 1]);
    expect(f.tensors['base_model.model.blocks.1.mlp.fc2.ia3_l']!.shape).toEqual([1, 64]);
    const back = await loadAdapter(out, layout);
    expect(Array.from(back.get('blocks[1].mlp.fc2.ia3_l')!)).toEqual(Array.from(values.get('blocks[1].mlp.fc2.ia3_l')!));
  });

  it('prompt tuning and P-tuning v2 store prompt_embeddings', async () => {
    for (const [tune, type, shape, extra] of [
      ['prompt', 'PROMPT_TUNING', [8, 32], { num_virtual_tokens: 8, token_dim: 32 }],
      ['ptv2', 'PREFIX_TUNING', [8, 128], { num_virtual_tokens: 8, token_dim: 32, num_layers: 2, prefix_projection: false }],
    ] as const) {
      const { layout, values } = tuned(tune);
      const out = dir();
      await saveAdapter(out, layout, values);
      expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: type, ...extra });
      const f = await readSafetensors(join(out, 'adapter_model.safetensors'));
      expect(f.tensors.prompt_embeddings!.shape).toEqual(shape);
      expect((await loadAdapter(out, layout)).size).toBe(values.size);
    }
  });

  it('methods peft lacks (Houlsby adapters, BitFit) use milec’s format and round-trip', async () => {
    for (const tune of ['adapter', 'bitfit']) {
      const { layout, values } = tuned(tune);
      expect(layout.peftType).toBe('MILEC');
      const out = dir();
      await saveAdapter(out, layout, values);
      const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
      expect(cfg).toMatchObject({ peft_type: 'MILEC', milec_format: 1, tune });
      const f = await readSafetensors(join(out, 'adapter_model.safetensors'));
      expect([...f.names].sort()).toEqual([...values.keys()].map(displayPath).sort());
      const back = await loadAdapter(out, layout);
      for (const [k, v] of values) expect(Array.from(back.get(k)!)).toEqual(Array.from(v));
    }
  });

  it('an adapter of another tune or with wrong keys is refused, naming the file', async () => {
    const { layout, values } = tuned('lora_qv');
    const out = dir();
    await saveAdapter(out, layout, values);
    await expect(loadAdapter(out, tuned('ia3').layout)).rejects.toThrow(
      /adapter_config\.json: does not match the compiled tune: peft_type is "LORA", the tune needs "IA3"/,
    );
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(out, 'adapter_config.json'), JSON.stringify({ ...cfg, r: 4 }));
    await expect(loadAdapter(out, layout)).rejects.toThrow(/r is 4, the tune needs 8/);
    await expect(loadAdapter('/nonexistent', layout)).rejects.toThrow(AdapterError);
  });
});
