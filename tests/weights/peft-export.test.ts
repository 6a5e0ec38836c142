/**
 * Adapter folders as HF peft itself saves and loads them, for the three cases where milec's
 * own names or parameters are not peft's:
 *
 * - an adapter trained on `--weights` names modules as the checkpoint does (the weight-name
 *   mapping inverted), with `base_model_name_or_path` the file;
 * - prefix tuning with its MLP encoder (`prefix_projection: true`) saves the encoder's output
 *   table as `prompt_embeddings` [n, L·2·d], as peft's `get_prompt_embedding_to_save` does;
 * - LN tuning saves `LN_TUNING`: `<module>.ln_tuning_layers.{weight,bias}`.
 *
 * Every expected key and config below is written from peft's rules (see each comment), not
 * from milec's output; the table is checked against a float64 computation written here.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFrontEnd, type FrontEnd } from '../../compiler/pipeline.ts';
import { elementCount } from '../../core/dim.ts';
import { adapterLayout, loadAdapter, resolveModules, saveAdapter, SIDE_FILE } from '../../runtime/peft-format.ts';
import { encodeSafetensors, readSafetensors } from '../../runtime/safetensors.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { loadStartAdapter } from '../../runtime/train-setup.ts';
import { checkpointModuleNames, loadWeights, weightsBaseModel, weightsSources } from '../../runtime/weights.ts';
import { milec } from '../helpers/milec.ts';
import { compile, expectClose, floats, run } from '../peft/helpers.ts';

const B = 'base_model.model.';
type Tensors = Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>;

const tmp = (what: string) => mkdtempSync(join(tmpdir(), `milec-peft-export-${what}-`));

/** Deterministic float32 values. */
function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed * 13.7 + i * 0.91) / 2));
}

function writeFolder(config: Record<string, unknown>, tensors: Tensors): string {
  const dir = join(tmp('folder'), 'adapter');
  mkdirSync(dir);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'adapter_model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  return dir;
}

const fileFrontEnd = (file: string, tune: string): FrontEnd => compileFrontEnd({ host: fileHost(), file, tune, training: true }).result!;

// ---------------------------------------------------------------------------------------
// 1. Names on export

const TEXT = 'tests/weights/fixtures/tiny_text_cls.mile';

/**
 * The checkpoint the fixture's encoder `text` loads from: a BertForSequenceClassification's
 * `bert.*` tensors as transformers names them (old-style LayerNorm gamma/beta), 2 layers, width 32.
 */
function writeBertCheckpoint(): string {
  const t: Tensors = {};
  let seed = 1;
  const put = (k: string, shape: number[]) => (t[k] = { dtype: 'F32', shape, data: values(elementCount(shape), seed++) });
  put('bert.embeddings.word_embeddings.weight', [64, 32]);
  put('bert.embeddings.position_embeddings.weight', [16, 32]);
  put('bert.embeddings.LayerNorm.gamma', [32]);
  put('bert.embeddings.LayerNorm.beta', [32]);
  for (const l of [0, 1]) {
    const p = `bert.encoder.layer.${l}.`;
    for (const m of ['query', 'key', 'value']) {
      put(`${p}attention.self.${m}.weight`, [32, 32]);
      put(`${p}attention.self.${m}.bias`, [32]);
    }
    put(`${p}attention.output.dense.weight`, [32, 32]);
    put(`${p}attention.output.dense.bias`, [32]);
    put(`${p}attention.output.LayerNorm.gamma`, [32]);
    put(`${p}attention.output.LayerNorm.beta`, [32]);
    put(`${p}intermediate.dense.weight`, [64, 32]);
    put(`${p}intermediate.dense.bias`, [64]);
    put(`${p}output.dense.weight`, [32, 64]);
    put(`${p}output.dense.bias`, [32]);
    put(`${p}output.LayerNorm.gamma`, [32]);
    put(`${p}output.LayerNorm.beta`, [32]);
  }
  const path = join(tmp('ckpt'), 'bert.safetensors');
  writeFileSync(path, encodeSafetensors(t, { format: 'pt' }));
  return path;
}

/** peft's LoRA r=4 folder for BertForSequenceClassification: `base_model.model.` + transformers' module paths. */
const HF_TARGETS = [0, 1].flatMap((l) => ['query', 'value'].map((m) => `bert.encoder.layer.${l}.attention.self.${m}`));
function hfLoraTensors(): Tensors {
  const t: Tensors = {};
  let seed = 50;
  for (const m of HF_TARGETS) {
    t[`${B}${m}.lora_A.weight`] = { dtype: 'F32', shape: [4, 32], data: values(128, seed++) };
    t[`${B}${m}.lora_B.weight`] = { dtype: 'F32', shape: [32, 4], data: values(128, seed++) };
  }
  t[`${B}classifier.weight`] = { dtype: 'F32', shape: [4, 32], data: values(128, seed++) };
  t[`${B}classifier.bias`] = { dtype: 'F32', shape: [4], data: values(4, seed++) };
  return t;
}

async function namedLayout(tune: string, ckpt: string) {
  const fe = fileFrontEnd(TEXT, tune);
  const spec = `${ckpt}@text`;
  const loaded = await loadWeights(weightsSources(spec, 'hf-bert'), fe.train!.params);
  const layout = adapterLayout(fe, { baseModel: weightsBaseModel(spec), tune, moduleNames: checkpointModuleNames(loaded) });
  return { fe, layout };
}

describe('module names of the checkpoint on export', () => {
  it('LoRA on an encoder loaded as `--weights bert.safetensors@text --weights-map hf-bert` is saved under the checkpoint’s names', async () => {
    const ckpt = writeBertCheckpoint();
    const { fe, layout } = await namedLayout('lora_qv', ckpt);
    expect(layout.config).toMatchObject({
      peft_type: 'LORA',
      base_model_name_or_path: ckpt,
      task_type: 'SEQ_CLS',
      target_modules: HF_TARGETS,
      modules_to_save: ['classifier'],
      r: 4,
      lora_alpha: 8,
    });
    const want = hfLoraTensors();
    expect([...layout.keys.values()].map((k) => k.key).sort()).toEqual(Object.keys(want).sort());
    // peft resolves target_modules against the model's module names: here the checkpoint's.
    expect(resolveModules(['query', 'value'], layout.moduleNames!)).toEqual(HF_TARGETS);
    expect(layout.moduleNames).toContain('bert.encoder.layer.0.attention');
    expect(layout.moduleNames).toContain('bert');
    expect(layout.moduleNames!.filter((n) => n.startsWith('text'))).toEqual([]);

    // Saved and loaded back with the same names: the same values at milec's paths.
    const vals = new Map(
      fe.train!.params.filter((p) => p.trainable).map((p, i) => [p.name, values(elementCount(p.shape), 100 + i)] as const),
    );
    const dir = join(tmp('save'), 'adapter');
    await saveAdapter(dir, layout, vals);
    const saved = await readSafetensors(join(dir, 'adapter_model.safetensors'));
    expect([...saved.names].sort()).toEqual(Object.keys(want).sort());
    expect(Array.from(saved.tensors[`${B}bert.encoder.layer.1.attention.self.value.lora_B.weight`]!.data)).toEqual(
      Array.from(vals.get('text.encoder.layer[1].attention.self.value.lora_B')!),
    );
    const back = await loadAdapter(dir, layout);
    expect([...back.keys()].sort()).toEqual([...vals.keys()].sort());
    for (const [k, v] of vals) expect(Array.from(back.get(k)!), k).toEqual(Array.from(v));
  });

  it('LN tuning under the checkpoint’s names', async () => {
    const { layout } = await namedLayout('ln', writeBertCheckpoint());
    const lns = [0, 1].map((l) => `bert.encoder.layer.${l}.output.LayerNorm`);
    expect(layout.config).toMatchObject({ peft_type: 'LN_TUNING', target_modules: lns, modules_to_save: ['classifier'] });
    expect([...layout.keys.values()].map((k) => k.key).sort()).toEqual(
      [
        ...lns.flatMap((m) => [`${B}${m}.ln_tuning_layers.weight`, `${B}${m}.ln_tuning_layers.bias`]),
        `${B}classifier.weight`,
        `${B}classifier.bias`,
      ].sort(),
    );
  });

  it('--adapter with --weights also loads a folder saved under milec’s paths (before this naming, or without --weights)', async () => {
    const ckpt = writeBertCheckpoint();
    const { fe } = await namedLayout('lora_qv', ckpt);
    const plain = adapterLayout(fe, { tune: 'lora_qv' });
    expect([...plain.keys.values()].map((k) => k.key)).toContain(`${B}text.encoder.layer.0.attention.self.query.lora_A.weight`);
    const vals = new Map(
      fe.train!.params.filter((p) => p.trainable).map((p, i) => [p.name, values(elementCount(p.shape), 200 + i)] as const),
    );
    const dir = join(tmp('plain'), 'adapter');
    await saveAdapter(dir, plain, vals);
    const names = checkpointModuleNames(await loadWeights(weightsSources(`${ckpt}@text`, 'hf-bert'), fe.train!.params));
    const back = await loadStartAdapter(dir, fe, 'lora_qv', names);
    for (const [k, v] of vals) expect(Array.from(back.get(k)!), k).toEqual(Array.from(v));
    // A folder fitting neither is refused with the error of the checkpoint-named layout.
    await expect(loadStartAdapter(dir, fileFrontEnd(TEXT, 'ln'), 'ln', names)).rejects.toThrow(
      /peft_type is "LORA", the tune needs "LN_TUNING"/,
    );
  });

  it('base_model_name_or_path: the file without milec’s @PREFIX; of several, the one without a prefix, else the first', () => {
    expect(weightsBaseModel('bert.safetensors@text_encoder')).toBe('bert.safetensors');
    expect(weightsBaseModel('vit.safetensors@visual_encoder,bert.safetensors@text_encoder')).toBe('vit.safetensors');
    expect(weightsBaseModel('vit.safetensors@visual_encoder, model_base.safetensors')).toBe('model_base.safetensors');
  });

  it('milec train --weights … --weights-map hf-bert --adapter loads peft’s folder under the checkpoint’s names and saves it back so', async () => {
    const ckpt = writeBertCheckpoint();
    const peftDir = writeFolder(
      {
        peft_type: 'LORA',
        base_model_name_or_path: ckpt,
        task_type: 'SEQ_CLS',
        inference_mode: true,
        r: 4,
        lora_alpha: 8,
        lora_dropout: 0,
        target_modules: ['query', 'value'],
        modules_to_save: ['classifier'],
        bias: 'none',
        use_dora: false,
        use_rslora: false,
      },
      hfLoraTensors(),
    );
    const out = tmp('run');
    const r = await milec(
      'train',
      TEXT,
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
      '--eval-batches',
      '0',
      '--json',
      '--out',
      out,
      '--weights',
      `${ckpt}@text`,
      '--weights-map',
      'hf-bert',
      '--adapter',
      peftDir,
    );
    expect(r.code, r.err).toBe(0);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      base_model_name_or_path: ckpt,
      target_modules: HF_TARGETS,
      modules_to_save: ['classifier'],
    });
    const saved = await readSafetensors(join(out, 'adapter', 'adapter_model.safetensors'));
    const want = hfLoraTensors();
    expect([...saved.names].sort()).toEqual(Object.keys(want).sort());
    for (const [k, t] of Object.entries(want)) expect(Array.from(saved.tensors[k]!.data as Float32Array), k).toEqual(Array.from(t.data));
  });
});

// ---------------------------------------------------------------------------------------
// 2. Prefix tuning with its encoder

const T = 3;
const dim = 8;
const heads = 2;
const n = 2;
const hidden = 3;
const L = 2;
const A1 = `use std.nn, std.attention

model A1 {
  config { dim = ${dim}, heads = ${heads} }
  input x: f32[B, ${T}, dim]
  input y: f32[B, ${T}, dim]
  attn  = MultiHeadAttention(dim, heads)
  attn2 = MultiHeadAttention(dim, heads, causal = true)
  forward {
    output out = attn2(attn(x))
    loss mean((out - y) * (out - y))
  }
}

tune prefix for A1 { prefix(tokens = ${n}, hidden = ${hidden}) on attn, attn2 }
tune ptv2 for A1 { ptv2(tokens = ${n}) on attn, attn2 }
`;

/** Float32 values of every parameter of `fe` (random, ±0.2..1.2). */
function f32Params(fe: FrontEnd): Map<string, Float32Array> {
  return new Map(fe.train!.params.map((p, i) => [p.name, Float32Array.from(floats(elementCount(p.shape), 40 + i), (x) => Math.fround(x))]));
}

/**
 * peft's PrefixEncoder with prefix_projection (Embedding(n, d) → Linear(d, h) → Tanh →
 * Linear(h, L·2d)), applied to every virtual token 0..n-1, in float64:
 * out[t][c] = b2[c] + Σ_k W2[c][k] · tanh(b1[k] + Σ_j W1[k][j] · E[t][j]).
 */
function peftPrefixEncoder(E: Float32Array, W1: Float32Array, b1: Float32Array, W2: Float32Array, b2: Float32Array): number[][] {
  const d = E.length / n;
  const w = b2.length;
  const rows: number[][] = [];
  for (let t = 0; t < n; t++) {
    const tanh: number[] = [];
    for (let k = 0; k < hidden; k++) {
      let s = b1[k]!;
      for (let j = 0; j < d; j++) s += W1[k * d + j]! * E[t * d + j]!;
      tanh.push(Math.tanh(s));
    }
    rows.push(Array.from({ length: w }, (_, c) => tanh.reduce((s, v, k) => s + W2[c * hidden + k]! * v, b2[c]!)));
  }
  return rows;
}

describe('prefix tuning with prefix_projection', () => {
  const save = async () => {
    const fe = compile(A1, 'prefix');
    const layout = adapterLayout(fe, { tune: 'prefix' });
    const vals = f32Params(fe);
    const trained = new Map([...vals].filter(([k]) => k.startsWith('prefix_0.')));
    const dir = join(tmp('prefix'), 'adapter');
    await saveAdapter(dir, layout, trained);
    return { fe, layout, vals, trained, dir };
  };

  it('adapter_config.json as PrefixTuningConfig(prefix_projection=True) saves it, and prompt_embeddings = the encoder’s output', async () => {
    const { dir, trained } = await save();
    expect(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'))).toEqual({
      peft_type: 'PREFIX_TUNING',
      base_model_name_or_path: 'A1',
      revision: null,
      task_type: null,
      inference_mode: true,
      modules_to_save: null,
      num_virtual_tokens: n,
      token_dim: dim,
      num_layers: L,
      num_transformer_submodules: 1,
      num_attention_heads: heads,
      encoder_hidden_size: hidden,
      prefix_projection: true,
    });
    const f = await readSafetensors(join(dir, 'adapter_model.safetensors'));
    expect(f.names).toEqual(['prompt_embeddings']);
    expect(f.tensors.prompt_embeddings!.shape).toEqual([n, L * 2 * dim]);
    const g = (k: string) => trained.get(`prefix_0.${k}`)!;
    const want = peftPrefixEncoder(
      g('embedding'),
      g('transform_in_weight'),
      g('transform_in_bias'),
      g('transform_out_weight'),
      g('transform_out_bias'),
    );
    const got = f.tensors.prompt_embeddings!.data as Float32Array;
    for (let t = 0; t < n; t++)
      for (let c = 0; c < L * 2 * dim; c++) expect(Math.abs(got[t * L * 2 * dim + c]! - want[t]![c]!)).toBeLessThan(1e-6);
    // The encoder is kept beside it, for resuming in milec.
    const side = await readSafetensors(join(dir, SIDE_FILE));
    expect([...side.names].sort()).toEqual(
      ['embedding', 'transform_in_bias', 'transform_in_weight', 'transform_out_bias', 'transform_out_weight'].map((x) => `prefix_0.${x}`),
    );
  });

  it('loads back into the prefix tune; a ptv2 tune on the same sites loads the table itself and computes the same outputs', async () => {
    const { dir, fe, trained, vals } = await save();
    const back = await loadAdapter(dir, adapterLayout(fe, { tune: 'prefix' }));
    for (const [k, v] of trained) expect(Array.from(back.get(k)!), k).toEqual(Array.from(v));

    // Inference as peft runs such a folder: past_key_values from the table (in a plain Embedding).
    const ptv2 = compile(A1, 'ptv2');
    const table = (await loadAdapter(dir, adapterLayout(ptv2, { tune: 'ptv2' }))).get('ptv2_0.embedding')!;
    expect(table.length).toBe(n * L * 2 * dim);
    const f64 = (m: Map<string, Float32Array>) => new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));
    const base = [...vals].filter(([k]) => !k.startsWith('prefix_0.'));
    const inputs = new Map([
      ['x', floats(2 * T * dim, 31)],
      ['y', floats(2 * T * dim, 32)],
    ]);
    const withEncoder = run(fe.forward, { B: 2 }, f64(vals), inputs).out!;
    const withTable = run(ptv2.forward, { B: 2 }, f64(new Map([...base, ['ptv2_0.embedding', table]])), inputs).out!;
    expectClose(withTable, withEncoder, 1e-5);
  });

  it('a folder with the table only (as peft saves it) or with a table its encoder does not compute is refused, saying what loads it', async () => {
    const { dir, fe } = await save();
    const layout = adapterLayout(fe, { tune: 'prefix' });
    const side = await readSafetensors(join(dir, SIDE_FILE));
    const tensors: Tensors = {};
    for (const k of side.names) tensors[k] = { dtype: 'F32', shape: side.tensors[k]!.shape, data: side.tensors[k]!.data as Float32Array };
    tensors['prefix_0.transform_out_bias']!.data = tensors['prefix_0.transform_out_bias']!.data.map((x) => x + 0.5);
    writeFileSync(join(dir, SIDE_FILE), encodeSafetensors(tensors, { format: 'pt' }));
    await expect(loadAdapter(dir, layout)).rejects.toThrow(
      /prompt_embeddings differs from the one milec_adapter\.safetensors's parameters compute/,
    );
    rmSync(join(dir, SIDE_FILE));
    await expect(loadAdapter(dir, layout)).rejects.toThrow(
      /holds only prompt_embeddings.*`ptv2\(tokens = 2\)` on the same 2 sites loads the table/,
    );
    // A P-tuning v2 folder (no projection) is not a prefix tune's.
    const ptv2 = compile(A1, 'ptv2');
    const ptDir = join(tmp('ptv2'), 'adapter');
    await saveAdapter(ptDir, adapterLayout(ptv2, { tune: 'ptv2' }), new Map([['ptv2_0.embedding', values(n * L * 2 * dim, 9)]]));
    await expect(loadAdapter(ptDir, layout)).rejects.toThrow(/prefix_projection is false, the tune needs true/);
  });
});

describe('milec train with prefix tuning', () => {
  it('writes peft’s table, the encoder beside it, and loads the folder back with --adapter', async () => {
    const out = tmp('prefix-run');
    const r = await milec(
      'train',
      'examples/tiny_classifier.mile',
      '--tune',
      'prefix',
      '--batch',
      '2',
      '--steps',
      '1',
      '--eval-batches',
      '0',
      '--json',
      '--out',
      out,
    );
    expect(r.code, r.err).toBe(0);
    const dir = join(out, 'adapter');
    // tokens 8, hidden 32 over 2 attentions of width 32 with 4 heads; the head is modules_to_save.
    expect(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'))).toMatchObject({
      peft_type: 'PREFIX_TUNING',
      task_type: 'SEQ_CLS',
      inference_mode: true,
      modules_to_save: ['head'],
      num_virtual_tokens: 8,
      token_dim: 32,
      num_layers: 2,
      num_attention_heads: 4,
      encoder_hidden_size: 32,
      prefix_projection: true,
    });
    const f = await readSafetensors(join(dir, 'adapter_model.safetensors'));
    expect([...f.names].sort()).toEqual([`${B}head.bias`, `${B}head.weight`, 'prompt_embeddings']);
    const side = await readSafetensors(join(dir, SIDE_FILE));
    const g = (k: string) => side.tensors[`prefix_0.${k}`]!.data as Float32Array;
    const E = g('embedding');
    const W1 = g('transform_in_weight');
    const b1 = g('transform_in_bias');
    const W2 = g('transform_out_weight');
    const b2 = g('transform_out_bias');
    const table = f.tensors.prompt_embeddings!.data as Float32Array;
    for (let t = 0; t < 8; t++)
      for (let c = 0; c < 128; c++) {
        let acc = b2[c]!;
        for (let k = 0; k < 32; k++) {
          let s = b1[k]!;
          for (let j = 0; j < 32; j++) s += W1[k * 32 + j]! * E[t * 32 + j]!;
          acc += W2[c * 32 + k]! * Math.tanh(s);
        }
        expect(Math.abs(table[t * 128 + c]! - acc)).toBeLessThan(1e-5);
      }
    const fe = fileFrontEnd('examples/tiny_classifier.mile', 'prefix');
    const back = await loadAdapter(dir, adapterLayout(fe, { tune: 'prefix' }));
    expect(Array.from(back.get('prefix_0.embedding')!)).toEqual(Array.from(E));
    expect(back.size).toBe(7);
  });
});

// ---------------------------------------------------------------------------------------
// 3. LN tuning

const TINY = 'examples/tiny_classifier.mile';
const LNS = ['blocks.0.norm1', 'blocks.0.norm2', 'blocks.1.norm1', 'blocks.1.norm2', 'norm'];

/**
 * What peft saves for LNTuningConfig(target_modules=[...], modules_to_save=["head"]): each
 * target LayerNorm's trainable copy lives in `ln_tuning_layers[<adapter>]`, so its keys are
 * `<module>.ln_tuning_layers.{weight,bias}` once the adapter name is stripped; the head is a
 * modules_to_save copy saved under its own name.
 */
function lnTensors(): Tensors {
  const t: Tensors = {};
  let seed = 70;
  for (const m of LNS)
    for (const p of ['weight', 'bias']) t[`${B}${m}.ln_tuning_layers.${p}`] = { dtype: 'F32', shape: [32], data: values(32, seed++) };
  t[`${B}head.weight`] = { dtype: 'F32', shape: [4, 32], data: values(128, seed++) };
  t[`${B}head.bias`] = { dtype: 'F32', shape: [4], data: values(4, seed++) };
  return t;
}

describe('LN tuning as peft’s LN_TUNING', () => {
  it('the exact adapter_config.json and keys, and a lossless round trip', async () => {
    const fe = fileFrontEnd(TINY, 'ln_tuning');
    const layout = adapterLayout(fe, { baseModel: 'tiny-classifier', tune: 'ln_tuning' });
    const vals = new Map(fe.train!.params.filter((p) => p.trainable).map((p, i) => [p.name, values(elementCount(p.shape), i)] as const));
    const dir = join(tmp('ln'), 'adapter');
    await saveAdapter(dir, layout, vals);
    expect(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'))).toEqual({
      peft_type: 'LN_TUNING',
      base_model_name_or_path: 'tiny-classifier',
      revision: null,
      task_type: 'SEQ_CLS',
      inference_mode: true,
      modules_to_save: ['head'],
      target_modules: LNS,
      exclude_modules: null,
    });
    const f = await readSafetensors(join(dir, 'adapter_model.safetensors'));
    expect([...f.names].sort()).toEqual(Object.keys(lnTensors()).sort());
    expect(Array.from(f.tensors[`${B}blocks.1.norm2.ln_tuning_layers.bias`]!.data)).toEqual(Array.from(vals.get('blocks[1].norm2.bias')!));
    const back = await loadAdapter(dir, layout);
    for (const [k, v] of vals) expect(Array.from(back.get(k)!), k).toEqual(Array.from(v));
  });

  it('loads the folder peft writes, with suffix or regex target_modules', async () => {
    const layout = adapterLayout(fileFrontEnd(TINY, 'ln_tuning'), { tune: 'ln_tuning' });
    const config = (target_modules: unknown) => ({
      auto_mapping: null,
      base_model_name_or_path: 'tiny-classifier',
      exclude_modules: null,
      inference_mode: true,
      modules_to_save: ['head'],
      peft_type: 'LN_TUNING',
      revision: null,
      target_modules,
      task_type: 'SEQ_CLS',
    });
    const want = lnTensors();
    for (const targets of [['norm1', 'norm2', 'norm'], '.*norm\\d?']) {
      const got = await loadAdapter(writeFolder(config(targets), want), layout);
      expect(Array.from(got.get('blocks[0].norm1.weight')!)).toEqual(Array.from(want[`${B}blocks.0.norm1.ln_tuning_layers.weight`]!.data));
      expect(Array.from(got.get('norm.bias')!)).toEqual(Array.from(want[`${B}norm.ln_tuning_layers.bias`]!.data));
      expect(Array.from(got.get('head.bias')!)).toEqual(Array.from(want[`${B}head.bias`]!.data));
      expect(got.size).toBe(LNS.length * 2 + 2);
    }
    await expect(loadAdapter(writeFolder(config(['norm1', 'norm2']), want), layout)).rejects.toThrow(/not selected: norm/);
  });
});
