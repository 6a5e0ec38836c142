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
 * (name → shape); `adapter_model.safetensors` holds every trainable parameter by its path in
 * PyTorch's spelling (`blocks.0.attn.adapter_down`, core/param-path.ts). Folders written
 * before that, with milec's bracket spelling (`blocks[0].attn.adapter_down`), still load.
 *
 * Each method declares its peft format (`PeftMethod.peftFormat`: type, config fields, keys);
 * this file knows the common fields, the key prefix and when to fall back to milec's format.
 *
 * Loading (`--adapter DIR`) recomputes the layout from the compiled model and tune, checks
 * the config's type and hyperparameters against it, and requires exactly its keys and shapes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PeftSite, PeftTune } from '../compiler/peft/method.ts';
import type { TuneReport } from '../compiler/peft/tune.ts';
import type { ElaboratedModel, Instance } from '../compiler/sema/instance.ts';
import { attachmentsAt, walkInstances } from '../compiler/sema/instance.ts';
import { displayPath, findPath } from '../core/param-path.ts';
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
  /** Config fields a saved adapter must match to load (`peft_type` and the method's hyperparameters). */
  readonly checked: readonly string[];
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

/** A compiled model and its tune, as `compileFrontEnd` returns them (`FrontEnd` fits). */
export interface TunedModel {
  readonly model: ElaboratedModel;
  readonly tune: TuneReport;
}

type Keys = Map<string, { key: string; shape: number[] }>;

interface BaseParam {
  readonly inst: Instance;
  readonly name: string;
  readonly path: string;
  readonly shape: number[];
}

/** What a tune trains: the methods' sites and the model's own trainable parameters. */
interface Trained {
  readonly sites: readonly PeftSite[];
  readonly base: readonly BaseParam[];
  /** Modules with some but not all parameters trained. */
  readonly partial: readonly string[];
  readonly methods: readonly string[];
}

function trainedBy({ model, tune }: TunedModel): Trained {
  const sites: PeftSite[] = [];
  const base: BaseParam[] = [];
  const partial: string[] = [];
  for (const inst of walkInstances(model.root)) {
    for (const attachment of attachmentsAt(tune.attachments, inst)) sites.push({ module: milecToDotted(inst.path), attachment });
    const tr = inst.params.filter((p) => p.trainable);
    if (tr.length && tr.length !== inst.params.length) partial.push(inst.path || '(root)');
    for (const p of tr) base.push({ inst, name: p.name, path: p.path, shape: [...p.shape] });
  }
  const methods = [...new Set([...sites.map((s) => s.attachment.method), ...tune.attachments.shared.map((s) => s.method)])];
  return { sites, base, partial, methods };
}

/** How a compiled model's trainable parameters are saved. */
export function adapterLayout(tuned: TunedModel, opts: LayoutOptions = {}): AdapterLayout {
  const { model, tune } = tuned;
  const trained = trainedBy(tuned);
  const { methods } = trained;
  const common = {
    base_model_name_or_path: opts.baseModel ?? model.name,
    revision: null,
    task_type: opts.taskType ?? null,
    inference_mode: true,
  };
  const milec = (why: string) => milecLayout(tuned, trained, common, why, opts);
  if (methods.length !== 1)
    return milec(methods.length ? `several methods (${methods.join(', ')})` : 'no PEFT method (full or partial fine-tuning)');
  const method = methods[0]!;
  if (trained.partial.length)
    return milec(`partially trained modules (${trained.partial.join(', ')}): peft's modules_to_save trains whole modules`);
  const format = tune.methods.get(method)?.peftFormat;
  if (!format) return milec(`peft has no equivalent of milec's \`${method}\``);
  const peftTune: PeftTune = {
    sites: trained.sites,
    targets: [...new Set(trained.sites.map((s) => s.module))],
    shared: tune.attachments.shared,
  };
  const why = format.unsupported?.(peftTune);
  if (why !== undefined) return milec(why);

  const keys: Keys = new Map();
  const modulesToSave = [...new Set(trained.base.map((b) => milecToDotted(b.inst.path)))];
  for (const b of trained.base) keys.set(b.path, { key: `${BASE}${milecToDotted(b.inst.path)}.modules_to_save.${b.name}`, shape: b.shape });
  for (const k of format.keys(peftTune, (site) => `${BASE}${site.module}`)) keys.set(k.path, { key: k.key, shape: [...k.shape] });
  const config = {
    peft_type: format.peftType,
    ...common,
    modules_to_save: modulesToSave.length ? modulesToSave : null,
    ...format.config(peftTune),
  };
  return { peftType: format.peftType, config, keys, checked: ['peft_type', ...format.checkedFields] };
}

/** milec's own format: every trainable parameter under its path, in the user-facing spelling. */
function milecLayout(
  { model, tune }: TunedModel,
  trained: Trained,
  common: Record<string, unknown>,
  why: string,
  opts: LayoutOptions,
): AdapterLayout {
  const keys: Keys = new Map();
  for (const b of trained.base) keys.set(b.path, { key: displayPath(b.path), shape: b.shape });
  for (const s of trained.sites)
    for (const p of s.attachment.params) if (p.trainable) keys.set(p.path, { key: displayPath(p.path), shape: [...p.shape] });
  for (const sh of tune.attachments.shared)
    for (const p of sh.params) if (p.trainable) keys.set(p.path, { key: displayPath(p.path), shape: [...p.shape] });
  const config = {
    peft_type: 'MILEC',
    milec_format: 1,
    why_not_peft: why,
    ...common,
    model: model.name,
    tune: opts.tune ?? null,
    methods: trained.methods,
    params: Object.fromEntries([...keys.values()].map((v) => [v.key, v.shape])),
  };
  return { peftType: 'MILEC', config, keys, checked: ['peft_type', 'milec_format'] };
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

/** Reads an adapter folder into milec parameter values, checked against `layout`. */
export async function loadAdapter(dir: string, layout: AdapterLayout): Promise<Map<string, Float32Array>> {
  const cfgPath = join(dir, CONFIG_FILE);
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AdapterError(
      `${cfgPath}: ${code === 'ENOENT' ? 'missing (not an adapter folder)' : `not valid JSON (${(e as Error).message})`}`,
    );
  }
  const diffs = layout.checked
    .filter((k) => k in layout.config || k in cfg)
    .filter((k) => JSON.stringify(cfg[k]) !== JSON.stringify(layout.config[k]));
  if (diffs.length)
    throw new AdapterError(
      `${cfgPath}: does not match the compiled tune: ${diffs.map((k) => `${k} is ${JSON.stringify(cfg[k])}, the tune needs ${JSON.stringify(layout.config[k])}`).join('; ')}`,
    );
  const tgt = (x: unknown) => JSON.stringify([...((x as string[] | null) ?? [])].sort());
  for (const k of ['target_modules', 'feedforward_modules', 'modules_to_save']) {
    if (k in layout.config && tgt(cfg[k]) !== tgt(layout.config[k]))
      throw new AdapterError(`${cfgPath}: ${k} ${JSON.stringify(cfg[k])} differs from the tune's ${JSON.stringify(layout.config[k])}`);
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
  // milec's format accepts either spelling of a path: folders saved before the dotted one still load.
  const keyIn = (key: string) => (layout.peftType === 'MILEC' ? (findPath(file.tensors, key) ?? key) : key);
  for (const [name, layoutKey] of layout.keys) {
    const { shape } = layoutKey;
    const key = keyIn(layoutKey.key);
    want.add(key);
    const t = file.tensors[key];
    if (!t) {
      problems.push(`missing ${key}`);
      continue;
    }
    if (!(t.data instanceof Float32Array)) problems.push(`${key} is ${t.dtype}, expected a float dtype`);
    else if (t.shape.length !== shape.length || t.shape.some((x, i) => x !== shape[i]))
      problems.push(`${key} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    else out.set(name, t.data);
  }
  for (const k of file.names) if (!want.has(k)) problems.push(`unexpected ${k}`);
  if (problems.length) throw new AdapterError(`${wPath}: does not fit the compiled tune:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return out;
}
