/**
 * Adapters as HF peft itself saves them, written here from peft's rules (not from milec's
 * output): a BERT sequence classifier with LoRA on `query`/`value` (suffix `target_modules`)
 * and a `classifier` in `modules_to_save`, saved as `base_model.model.<module>.<param>`.
 */
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planTraining } from '../../compiler/cost/report.ts';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { adapterLayout, loadAdapter, resolveModules, taskTypeOf } from '../../runtime/peft-format.ts';
import { encodeSafetensors, readSafetensors } from '../../runtime/safetensors.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { milec } from '../helpers/milec.ts';

const FIXTURE = 'tests/weights/fixtures/tiny_bert_cls.mile';
const B = 'base_model.model.';

/** The tensors peft saves for LoRA r=8 on query/value of a 2-layer, 32-wide BERT and a 4-class classifier. */
function peftTensors(): Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> {
  const out: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  let seed = 1;
  const t = (shape: number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed * 7 + i) / 10));
    seed++;
    return { dtype: 'F32' as const, shape, data };
  };
  for (const l of [0, 1])
    for (const m of ['query', 'value']) {
      out[`${B}bert.encoder.layer.${l}.attention.self.${m}.lora_A.weight`] = t([8, 32]);
      out[`${B}bert.encoder.layer.${l}.attention.self.${m}.lora_B.weight`] = t([32, 8]);
    }
  out[`${B}classifier.weight`] = t([4, 32]);
  out[`${B}classifier.bias`] = t([4]);
  return out;
}

/** adapter_config.json as peft's LoraConfig(task_type="SEQ_CLS", …).save_pretrained writes it (abridged). */
const peftConfig = (extra: Record<string, unknown> = {}) => ({
  alpha_pattern: {},
  auto_mapping: null,
  base_model_name_or_path: 'bert-base-uncased',
  bias: 'none',
  fan_in_fan_out: false,
  inference_mode: true,
  init_lora_weights: true,
  layers_pattern: null,
  layers_to_transform: null,
  lora_alpha: 32,
  lora_dropout: 0.1,
  modules_to_save: ['classifier'],
  peft_type: 'LORA',
  r: 8,
  rank_pattern: {},
  revision: null,
  target_modules: ['query', 'value'],
  task_type: 'SEQ_CLS',
  use_dora: false,
  use_rslora: false,
  ...extra,
});

function writePeftFolder(config: Record<string, unknown>, tensors = peftTensors()): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'milec-peft-interop-')), 'adapter');
  mkdirSync(dir);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'adapter_model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  return dir;
}

function fixtureLayout(file = FIXTURE, tune = 'lora_qv') {
  const fe = compileFrontEnd({ host: fileHost(), file, tune, training: true }).result!;
  return { fe, layout: adapterLayout(fe, { tune }) };
}

describe('peft module-name rules', () => {
  const names = ['bert', 'bert.encoder.layer.0.attention.self.query', 'bert.encoder.layer.0.attention.self.value', 'classifier', 'myquery'];
  it('a list entry selects the name equal to it or ending in "." + it', () => {
    expect(resolveModules(['query'], names)).toEqual(['bert.encoder.layer.0.attention.self.query']);
    expect(resolveModules(['classifier', 'score'], names)).toEqual(['classifier']);
    expect(resolveModules(['uery'], names)).toEqual([]);
    expect(resolveModules(null, names)).toEqual([]);
  });
  it('a string is a regular expression over the whole name', () => {
    expect(resolveModules('.*\\.(query|value)', names)).toEqual(names.slice(1, 3));
    expect(resolveModules('query', names)).toEqual([]);
  });
  it('task_type from the model inputs', () => {
    const tt = (file: string) => taskTypeOf(compileFrontEnd({ host: fileHost(), file, training: false }).result!.model);
    expect(tt(FIXTURE)).toBe('SEQ_CLS');
    expect(tt('examples/miss_tiny.mile')).toBe('CAUSAL_LM');
    expect(tt('examples/miss_tiny_cls.mile')).toBe(null);
  });
});

describe('adapters saved by peft', () => {
  it('the layout milec writes for the fixture is peft’s', () => {
    const { layout } = fixtureLayout();
    expect(layout.config).toMatchObject({ peft_type: 'LORA', task_type: 'SEQ_CLS', modules_to_save: ['classifier'], r: 8, lora_alpha: 32 });
    expect([...layout.keys.values()].map((k) => k.key).sort()).toEqual(Object.keys(peftTensors()).sort());
  });

  it('load with suffix or regex target_modules, and with milec’s old modules_to_save keys', async () => {
    const { layout } = fixtureLayout();
    const want = peftTensors();
    const byKey = (vals: Map<string, Float32Array>) =>
      new Map([...layout.keys].map(([path, { key }]) => [key, Array.from(vals.get(path)!)]));
    for (const cfg of [
      peftConfig(),
      peftConfig({ target_modules: '.*\\.(query|value)' }),
      peftConfig({ target_modules: ['query', 'value', 'key'], exclude_modules: ['key'] }),
    ]) {
      const got = byKey(await loadAdapter(writePeftFolder(cfg), layout));
      for (const [k, t] of Object.entries(want)) expect(got.get(k), k).toEqual(Array.from(t.data));
    }
    const old = Object.fromEntries(
      Object.entries(want).map(([k, v]) => [k.replace(/^(base_model\.model\.classifier)\./, '$1.modules_to_save.'), v]),
    );
    const got = byKey(await loadAdapter(writePeftFolder(peftConfig(), old), layout));
    expect(got.get(`${B}classifier.bias`)).toEqual(Array.from(want[`${B}classifier.bias`]!.data));
  });

  it('target_modules selecting other modules than the tune’s sites is refused, naming them', async () => {
    const { layout } = fixtureLayout();
    await expect(loadAdapter(writePeftFolder(peftConfig({ target_modules: ['query'] })), layout)).rejects.toThrow(
      /target_modules \["query"\] selects other modules .*not selected: bert\.encoder\.layer\.0\.attention\.self\.value/,
    );
    await expect(loadAdapter(writePeftFolder(peftConfig({ target_modules: ['query', 'value', 'key'] })), layout)).rejects.toThrow(
      /selected but not in the tune: bert\.encoder\.layer\.0\.attention\.self\.key/,
    );
    await expect(loadAdapter(writePeftFolder(peftConfig({ modules_to_save: null })), layout)).rejects.toThrow(
      /modules_to_save null selects other modules .*not selected: classifier/,
    );
  });

  it('milec train --adapter loads peft’s folder, trains a step at lr 1e-30 (below float32’s resolution of the values) and saves the same keys and values', async () => {
    const dir = writePeftFolder(peftConfig());
    const out = mkdtempSync(join(tmpdir(), 'milec-peft-interop-run-'));
    const r = await milec(
      'train',
      FIXTURE,
      '--tune',
      'lora_qv',
      '--data',
      'synthetic',
      '--batch',
      '2',
      '--steps',
      '1',
      '--lr',
      '1e-30',
      '--weight-decay',
      '0',
      '--eval-batches',
      '0',
      '--json',
      '--out',
      out,
      '--adapter',
      dir,
    );
    expect(r.code, r.err).toBe(0);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'SEQ_CLS', modules_to_save: ['classifier'], r: 8, lora_alpha: 32 });
    const saved = await readSafetensors(join(out, 'adapter', 'adapter_model.safetensors'));
    const want = peftTensors();
    expect([...saved.names].sort()).toEqual(Object.keys(want).sort());
    for (const [k, t] of Object.entries(want)) {
      expect(saved.tensors[k]!.shape, k).toEqual(t.shape);
      expect(Array.from(saved.tensors[k]!.data as Float32Array), k).toEqual(Array.from(t.data));
    }
  });

  it('milec plan: peft’s trainable share counts the classifier twice (original and modules_to_save copy)', async () => {
    const { fe } = fixtureLayout();
    const plan = planTraining(fe, { bindings: { B: 1 } });
    // LoRA r=8 on 2 layers × {query, value} of width 32: 4 · 8 · (32 + 32); classifier 32·4 + 4.
    const added = 4 * 8 * 64;
    const classifier = 32 * 4 + 4;
    const base = plan.totalParams - added;
    expect(plan.addedParams).toBe(added);
    expect(plan.savedCopyParams).toBe(classifier);
    expect(plan.trainablePercent).toBeCloseTo((100 * (added + classifier)) / (base + added), 10);
    expect(plan.peftTrainablePercent).toBeCloseTo((100 * (added + classifier)) / (base + added + classifier), 10);
    const r = await milec('plan', FIXTURE, '--tune', 'lora_qv', '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).peftTrainablePercent).toBeCloseTo(plan.peftTrainablePercent, 10);
    const text = await milec('plan', FIXTURE, '--tune', 'lora_qv');
    expect(text.out).toContain(`peft counts: 2,180 of ${(base + added + classifier).toLocaleString('en-US')} (`);
  });
});
