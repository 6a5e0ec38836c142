/**
 * Trained adapters saved as Hugging Face peft's `save_pretrained` writes them, and loaded back.
 *
 * A folder with `adapter_config.json` and `adapter_model.safetensors`. Module paths are
 * PyTorch's (`blocks[0].attn.query` → `blocks.0.attn.query`) under `base_model.model.`, with
 * the adapter name stripped, as peft saves:
 *
 *   LORA            <path>.lora_A.weight [r, in], <path>.lora_B.weight [out, r]
 *                   (DoRA: `use_dora: true` and <path>.lora_magnitude_vector [out])
 *   IA3             <path>.ia3_l: [out, 1], or [1, in] for `feedforward_modules`
 *   PROMPT_TUNING   prompt_embeddings [n, d]
 *   PREFIX_TUNING   prompt_embeddings [n, L·2·d], `prefix_projection: false` (milec `ptv2`;
 *                   one application only: its column layout is peft's past_key_values order)
 *   modules_to_save <module>.modules_to_save.<param> for modules trained in full (the head)
 *
 * A tune peft cannot express (adapters, BitFit, LN tuning, prefix tuning with its MLP encoder,
 * several methods or several prefix applications, LoRA with per-site ranks, partially trained
 * modules) is saved in **milec's own format** in the same two files: `adapter_config.json`
 * has `"peft_type": "MILEC"`, `"milec_format": 1`, the model, tune and methods, and `params`
 * (name → shape); `adapter_model.safetensors` holds every trainable parameter by its milec
 * path (`blocks[0].attn.adapter_down`).
 *
 * Loading (`--adapter DIR`) recomputes the layout from the compiled model and tune, checks
 * the config's type and hyperparameters against it, and requires exactly its keys and shapes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Attachment, ElaboratedModel, Instance } from '../compiler/sema/instance.ts';
import { walkInstances } from '../compiler/sema/instance.ts';
import { writeDirAtomic } from './atomic.ts';
import { encodeSafetensors, FormatError, readSafetensors } from './safetensors.ts';
import { milecToDotted } from './weights.ts';

export const CONFIG_FILE = 'adapter_config.json';
export const WEIGHTS_FILE = 'adapter_model.safetensors';
const BASE = 'base_model.model.';

export interface AdapterLayout {
  /** The `peft_type`: LORA, IA3, PROMPT_TUNING, PREFIX_TUNING, or MILEC. */
  readonly peftType: string;
  readonly config: Record<string, unknown>;
  /** milec parameter path → key and shape in adapter_model.safetensors. */
  readonly keys: Map<string, { key: string; shape: number[] }>;
}

export class AdapterError extends Error {
  override name = 'AdapterError';
}

export interface LayoutOptions {
  /** The model's name or the weights it started from (`base_model_name_or_path`). */
  baseModel?: string;
  /** peft's `task_type` (SEQ_CLS, CAUSAL_LM, …); null by default. */
  taskType?: string | null;
  /** The tune's name, recorded in milec-format configs. */
  tune?: string;
}

interface Site {
  inst: Instance;
  att: Attachment;
}

const sameOptions = (a: Attachment, b: Attachment) => JSON.stringify(a.options) === JSON.stringify(b.options);

/** How a compiled model's trainable parameters are saved. `model` is after applyTune. */
export function adapterLayout(model: ElaboratedModel, opts: LayoutOptions = {}): AdapterLayout {
  const sites: Site[] = [];
  const trainedBase: { inst: Instance; name: string; path: string; shape: number[] }[] = [];
  const partial = new Set<string>();
  for (const inst of walkInstances(model.root)) {
    for (const att of inst.attachments) sites.push({ inst, att });
    const tr = inst.params.filter((p) => p.trainable);
    if (tr.length && tr.length !== inst.params.length) partial.add(inst.path || '(root)');
    for (const p of tr) trainedBase.push({ inst, name: p.name, path: p.path, shape: [...p.shape] });
  }
  const methods = [...new Set([...sites.map((s) => s.att.method), ...model.shared.map((s) => s.method)])];
  const common = {
    base_model_name_or_path: opts.baseModel ?? model.name,
    revision: null,
    task_type: opts.taskType ?? null,
    inference_mode: true,
  };
  const milec = (why: string): AdapterLayout => {
    const keys = new Map<string, { key: string; shape: number[] }>();
    for (const b of trainedBase) keys.set(b.path, { key: b.path, shape: b.shape });
    for (const s of sites) for (const p of s.att.params) if (p.trainable) keys.set(p.path, { key: p.path, shape: [...p.shape] });
    for (const sh of model.shared) for (const p of sh.params) if (p.trainable) keys.set(p.path, { key: p.path, shape: [...p.shape] });
    const config = {
      peft_type: 'MILEC',
      milec_format: 1,
      why_not_peft: why,
      ...common,
      model: model.name,
      tune: opts.tune ?? null,
      methods,
      params: Object.fromEntries([...keys].map(([k, v]) => [k, v.shape])),
    };
    return { peftType: 'MILEC', config, keys };
  };

  if (methods.length !== 1) return milec(methods.length ? `several methods (${methods.join(', ')})` : 'no PEFT method (full or partial fine-tuning)');
  const method = methods[0]!;
  if (partial.size) return milec(`partially trained modules (${[...partial].join(', ')}): peft's modules_to_save trains whole modules`);
  const keys = new Map<string, { key: string; shape: number[] }>();
  const modulesToSave = [...new Set(trainedBase.map((b) => milecToDotted(b.inst.path)))];
  for (const b of trainedBase) keys.set(b.path, { key: `${BASE}${milecToDotted(b.inst.path)}.modules_to_save.${b.name}`, shape: b.shape });
  const targets = [...new Set(sites.map((s) => milecToDotted(s.inst.path)))];
  const saveCommon = { ...common, modules_to_save: modulesToSave.length ? modulesToSave : null };
  const param = (s: Site, name: string) => s.att.params.find((p) => p.name === name)!;

  if (method === 'lora' || method === 'dora') {
    if (!sites.every((s) => sameOptions(s.att, sites[0]!.att))) return milec('LoRA options differ between sites');
    const o = sites[0]!.att.options;
    for (const s of sites) {
      const base = `${BASE}${milecToDotted(s.inst.path)}`;
      for (const [n, k] of [['lora_A', 'lora_A.weight'], ['lora_B', 'lora_B.weight'], ['lora_magnitude_vector', 'lora_magnitude_vector']] as const) {
        const p = s.att.params.find((q) => q.name === n);
        if (p) keys.set(p.path, { key: `${base}.${k}`, shape: [...p.shape] });
      }
    }
    const config = {
      peft_type: 'LORA',
      ...saveCommon,
      r: o.r,
      lora_alpha: o.alpha,
      lora_dropout: o.dropout ?? 0,
      target_modules: targets,
      fan_in_fan_out: false,
      bias: 'none',
      use_rslora: Boolean(o.rslora),
      use_dora: method === 'dora',
      init_lora_weights: true,
      layers_to_transform: null,
      layers_pattern: null,
      rank_pattern: {},
      alpha_pattern: {},
    };
    return { peftType: 'LORA', config, keys };
  }
  if (method === 'ia3') {
    const ff: string[] = [];
    for (const s of sites) {
      const p = param(s, 'ia3_l');
      const isFF = Boolean(s.att.options.feedforward);
      if (isFF) ff.push(milecToDotted(s.inst.path));
      keys.set(p.path, { key: `${BASE}${milecToDotted(s.inst.path)}.ia3_l`, shape: isFF ? [1, p.shape[0]!] : [p.shape[0]!, 1] });
    }
    const config = { peft_type: 'IA3', ...saveCommon, target_modules: targets, feedforward_modules: ff, fan_in_fan_out: false, init_ia3_weights: true };
    return { peftType: 'IA3', config, keys };
  }
  if (method === 'prompt') {
    if (sites.length !== 1) return milec('prompt tuning at several sites');
    const p = param(sites[0]!, 'prompt_embeddings');
    const [n, d] = p.shape as [number, number];
    keys.set(p.path, { key: 'prompt_embeddings', shape: [n, d] });
    const config = { peft_type: 'PROMPT_TUNING', ...saveCommon, num_virtual_tokens: n, token_dim: d, num_transformer_submodules: 1, prompt_tuning_init: 'RANDOM' };
    return { peftType: 'PROMPT_TUNING', config, keys };
  }
  if (method === 'ptv2') {
    if (model.shared.length !== 1) return milec('P-tuning v2 applied more than once (peft has one prefix per model)');
    const p = model.shared[0]!.params[0]!;
    const [n, w] = p.shape as [number, number];
    const L = sites.length;
    const d = w / (2 * L);
    keys.set(p.path, { key: 'prompt_embeddings', shape: [n, w] });
    const config = { peft_type: 'PREFIX_TUNING', ...saveCommon, num_virtual_tokens: n, token_dim: d, num_layers: L, num_transformer_submodules: 1, encoder_hidden_size: d, prefix_projection: false };
    return { peftType: 'PREFIX_TUNING', config, keys };
  }
  return milec(`peft has no equivalent of milec's \`${method}\``);
}

/** Writes the adapter folder `dir` atomically. `values` holds every trainable parameter. */
export async function saveAdapter(dir: string, layout: AdapterLayout, values: ReadonlyMap<string, Float32Array>): Promise<void> {
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [name, { key, shape }] of layout.keys) {
    const data = values.get(name);
    if (!data) throw new AdapterError(`saveAdapter: no value for ${name}`);
    tensors[key] = { dtype: 'F32', shape, data };
  }
  await writeDirAtomic(dir, {
    [CONFIG_FILE]: JSON.stringify(layout.config, null, 2) + '\n',
    [WEIGHTS_FILE]: encodeSafetensors(tensors, { format: 'pt' }),
  });
}

/** Hyperparameters that must agree between a saved config and the compiled tune. */
const CHECKED = ['peft_type', 'r', 'lora_alpha', 'use_dora', 'use_rslora', 'num_virtual_tokens', 'token_dim', 'num_layers', 'prefix_projection', 'milec_format'];

/** Reads an adapter folder into milec parameter values, checked against `layout`. */
export async function loadAdapter(dir: string, layout: AdapterLayout): Promise<Map<string, Float32Array>> {
  const cfgPath = join(dir, CONFIG_FILE);
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AdapterError(`${cfgPath}: ${code === 'ENOENT' ? 'missing (not an adapter folder)' : `not valid JSON (${(e as Error).message})`}`);
  }
  const diffs = CHECKED.filter((k) => k in layout.config || k in cfg).filter((k) => JSON.stringify(cfg[k]) !== JSON.stringify(layout.config[k]));
  if (diffs.length) throw new AdapterError(`${cfgPath}: does not match the compiled tune: ${diffs.map((k) => `${k} is ${JSON.stringify(cfg[k])}, the tune needs ${JSON.stringify(layout.config[k])}`).join('; ')}`);
  const tgt = (x: unknown) => JSON.stringify([...((x as string[] | null) ?? [])].sort());
  for (const k of ['target_modules', 'feedforward_modules', 'modules_to_save']) {
    if (k in layout.config && tgt(cfg[k]) !== tgt(layout.config[k])) throw new AdapterError(`${cfgPath}: ${k} ${JSON.stringify(cfg[k])} differs from the tune's ${JSON.stringify(layout.config[k])}`);
  }
  const wPath = join(dir, WEIGHTS_FILE);
  let file;
  try {
    file = await readSafetensors(wPath);
  } catch (e) {
    if (e instanceof FormatError) throw new AdapterError(e.message);
    throw new AdapterError(`${wPath}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message}`);
  }
  const out = new Map<string, Float32Array>();
  const problems: string[] = [];
  const want = new Set<string>();
  for (const [name, { key, shape }] of layout.keys) {
    want.add(key);
    const t = file.tensors[key];
    if (!t) {
      problems.push(`missing ${key}`);
      continue;
    }
    if (!(t.data instanceof Float32Array)) problems.push(`${key} is ${t.dtype}, expected a float dtype`);
    else if (t.shape.length !== shape.length || t.shape.some((x, i) => x !== shape[i])) problems.push(`${key} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    else out.set(name, t.data);
  }
  for (const k of file.names) if (!want.has(k)) problems.push(`unexpected ${k}`);
  if (problems.length) throw new AdapterError(`${wPath}: does not fit the compiled tune:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return out;
}
