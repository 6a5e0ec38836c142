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
 *   PREFIX_TUNING   prompt_embeddings [n, L·2·d] (one application only: its column layout is
 *                   peft's past_key_values order): milec `ptv2` with `prefix_projection: false`,
 *                   milec `prefix` with `prefix_projection: true`, where the table is the MLP
 *                   encoder's output as peft saves it, computed on the CPU; the encoder itself
 *                   goes to milec's side file `milec_adapter.safetensors` in the same folder
 *   LN_TUNING       <path>.ln_tuning_layers.weight, <path>.ln_tuning_layers.bias
 *   modules_to_save <module>.<param> for modules trained in full (the head), as peft saves
 *                   them (milec wrote <module>.modules_to_save.<param> before; both load)
 *
 * Module names are milec's instance paths, or with `LayoutOptions.moduleNames` those of the
 * checkpoint the backbone was loaded from (weights.ts : checkpointModuleNames: the weight-name
 * mapping inverted), so that the adapter fits the model `base_model_name_or_path` names.
 *
 * A tune peft cannot express (adapters, BitFit, several methods or several prefix applications,
 * LoRA with per-site ranks, partially trained modules) is saved in **milec's own format** in the same two files: `adapter_config.json`
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
 * A computed tensor (prefix tuning's table) is not a parameter: its parameters load from the
 * side file, and the table must equal the one they compute. A folder with the table only (as
 * peft saves it) cannot restore the encoder; the error says which tune loads the table itself.
 * `target_modules`, `feedforward_modules` and `modules_to_save` are resolved against the
 * model's module names as peft resolves them (`check_target_module_exists`): a string is a
 * regular expression that must match a whole name, a list entry matches a name equal to it
 * or ending in `.` + it; the modules they select must be the tune's sites (and trained modules).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PeftDerived, PeftSite, PeftTune } from '../compiler/peft/method.ts';
import type { TuneReport } from '../compiler/peft/tune.ts';
import type { ElaboratedModel, Instance } from '../compiler/sema/instance.ts';
import { attachmentsAt, walkInstances } from '../compiler/sema/instance.ts';
import { displayPath, findPath } from '../core/param-path.ts';
import { writeDirAtomic } from './atomic.ts';
import { encodeSafetensors, FormatError, readSafetensors } from './safetensors.ts';
import { milecToDotted } from './weights.ts';

export const CONFIG_FILE = 'adapter_config.json';
export const WEIGHTS_FILE = 'adapter_model.safetensors';
/** milec's file beside peft's, for parameters peft's file holds only a function of (prefix tuning's encoder). */
export const SIDE_FILE = 'milec_adapter.safetensors';
const BASE = 'base_model.model.';

export interface AdapterLayout {
  /** The `peft_type`: LORA, IA3, PROMPT_TUNING, PREFIX_TUNING, or MILEC. */
  readonly peftType: string;
  readonly config: Record<string, unknown>;
  /** milec parameter path → key and shape in adapter_model.safetensors. */
  readonly keys: Map<string, { key: string; shape: number[] }>;
  /** Config fields a saved adapter must match to load (`peft_type` and the method's hyperparameters). */
  readonly checked: readonly string[];
  /** Every module name of the model in PyTorch's spelling, for resolving a loaded config's module lists. */
  readonly moduleNames?: readonly string[];
  /** Keys of earlier milec versions accepted on load: milec parameter path → old key. */
  readonly legacyKeys?: ReadonlyMap<string, string>;
  /** Tensors of adapter_model.safetensors computed from parameters (which are then in `sideKeys`). */
  readonly derived?: readonly PeftDerived[];
  /** Parameters saved in SIDE_FILE (milec's spelling of their path), milec parameter path → key and shape. */
  readonly sideKeys?: Map<string, { key: string; shape: number[] }>;
}

export class AdapterError extends Error {
  override name = 'AdapterError';
}

export interface LayoutOptions {
  /** The model's name or the weights it started from (`base_model_name_or_path`). */
  baseModel?: string;
  /** peft's `task_type` (SEQ_CLS, CAUSAL_LM, …); by default `taskTypeOf(model)`. */
  taskType?: string | null;
  /** The tune's name, recorded in milec-format configs. */
  tune?: string;
  /**
   * peft's name of a module, by milec module path (dotted), where it is not that path: the
   * checkpoint's names of a backbone loaded with `--weights` (weights.ts : checkpointModuleNames).
   * Null or absent keeps milec's path. Modules without parameters of their own are named
   * after their descendants.
   */
  moduleNames?: ReadonlyMap<string, string | null>;
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

function trainedBy({ model, tune }: TunedModel, name: (inst: Instance) => string): Trained {
  const sites: PeftSite[] = [];
  const base: BaseParam[] = [];
  const partial: string[] = [];
  for (const inst of walkInstances(model.root)) {
    for (const attachment of attachmentsAt(tune.attachments, inst)) sites.push({ module: name(inst), attachment, instance: inst });
    const tr = inst.params.filter((p) => p.trainable);
    if (tr.length && tr.length !== inst.params.length) partial.push(inst.path || '(root)');
    for (const p of tr) base.push({ inst, name: p.name, path: p.path, shape: [...p.shape] });
  }
  const methods = [...new Set([...sites.map((s) => s.attachment.method), ...tune.attachments.shared.map((s) => s.method)])];
  return { sites, base, partial, methods };
}

/**
 * peft's `task_type` for a model, from its inputs: `SEQ_CLS` for a classifier over a class id
 * per example (`labels: i32[B]`), `CAUSAL_LM` for a decoder trained on its target tokens
 * (`answer: i32[B, T]`, next-token logits); null otherwise.
 */
export function taskTypeOf(model: ElaboratedModel): string | null {
  const input = (name: string) => model.inputs.find((i) => i.name === name && i.dtype === 'i32');
  if (input('labels')?.shape.length === 1) return 'SEQ_CLS';
  if (input('answer')?.shape.length === 2) return 'CAUSAL_LM';
  return null;
}

/**
 * peft's name of every module: `given`'s name where it has one; a module without one, named
 * after a descendant whose name ends in the same relative path; else milec's dotted path.
 */
function moduleNamer(given: ReadonlyMap<string, string | null> | undefined): (inst: Instance) => string {
  const named = [...(given ?? [])].filter((e): e is [string, string] => e[1] !== null);
  const cache = new Map<string, string>();
  return (inst) => {
    const path = milecToDotted(inst.path);
    let n = cache.get(path);
    if (n !== undefined) return n;
    n = given?.get(path) ?? undefined;
    if (n === undefined && path !== '') {
      for (const [p, name] of named) {
        const rel = p.startsWith(`${path}.`) ? p.slice(path.length + 1) : undefined;
        if (rel !== undefined && name.endsWith(`.${rel}`)) {
          n = name.slice(0, -(rel.length + 1));
          break;
        }
      }
    }
    n ??= path;
    cache.set(path, n);
    return n;
  };
}

/** How a compiled model's trainable parameters are saved. */
export function adapterLayout(tuned: TunedModel, opts: LayoutOptions = {}): AdapterLayout {
  const { model, tune } = tuned;
  const name = moduleNamer(opts.moduleNames);
  const trained = trainedBy(tuned, name);
  const { methods } = trained;
  const common = {
    base_model_name_or_path: opts.baseModel ?? model.name,
    revision: null,
    task_type: opts.taskType !== undefined ? opts.taskType : taskTypeOf(model),
    inference_mode: true,
  };
  const milec = (why: string) =>
    milecLayout(
      tuned,
      trainedBy(tuned, (i) => milecToDotted(i.path)),
      common,
      why,
      opts,
    );
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
  const legacyKeys = new Map<string, string>();
  // A method that trains its sites' own parameters (LN tuning) saves them itself; the rest are modules_to_save.
  const ownSites = new Set(tune.methods.get(method)?.trainsSite ? trained.sites.map((s) => s.instance) : []);
  const whole = trained.base.filter((b) => !ownSites.has(b.inst));
  const modulesToSave = [...new Set(whole.map((b) => name(b.inst)))];
  for (const b of whole) {
    // peft saves a modules_to_save copy under the module itself (`modules_to_save.<adapter>.` stripped).
    keys.set(b.path, { key: `${BASE}${name(b.inst)}.${b.name}`, shape: b.shape });
    legacyKeys.set(b.path, `${BASE}${name(b.inst)}.modules_to_save.${b.name}`);
  }
  for (const k of format.keys(peftTune, (site) => `${BASE}${site.module}`)) keys.set(k.path, { key: k.key, shape: [...k.shape] });
  const derived = format.derived?.(peftTune) ?? [];
  const sideKeys: Keys = new Map();
  const shapes = new Map(
    [...tune.attachments.shared.flatMap((s) => s.params), ...trained.sites.flatMap((s) => s.attachment.params)].map((p) => [
      p.path,
      p.shape,
    ]),
  );
  for (const d of derived) for (const p of d.params) sideKeys.set(p, { key: displayPath(p), shape: [...(shapes.get(p) ?? [])] });
  const config = {
    peft_type: format.peftType,
    ...common,
    modules_to_save: modulesToSave.length ? modulesToSave : null,
    ...format.config(peftTune),
  };
  const moduleNames = [...walkInstances(model.root)].filter((i) => i.path !== '').map(name);
  return {
    peftType: format.peftType,
    config,
    keys,
    checked: ['peft_type', ...format.checkedFields],
    moduleNames,
    legacyKeys,
    ...(derived.length ? { derived, sideKeys } : {}),
  };
}

/**
 * The module names a peft config's `target_modules` (or `feedforward_modules`,
 * `modules_to_save`) selects, as peft's `check_target_module_exists`: a string is a regular
 * expression matched against the whole name; a list entry selects the name equal to it or
 * ending in `.` + it. Null or absent selects nothing.
 */
export function resolveModules(spec: unknown, names: readonly string[]): string[] {
  if (spec === null || spec === undefined) return [];
  if (typeof spec === 'string') {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${spec})$`);
    } catch (e) {
      throw new AdapterError(`${JSON.stringify(spec)} is not a regular expression milec can read (${(e as Error).message})`);
    }
    return names.filter((n) => re.test(n));
  }
  if (Array.isArray(spec)) return names.filter((n) => spec.some((t) => typeof t === 'string' && (n === t || n.endsWith(`.${t}`))));
  throw new AdapterError(`${JSON.stringify(spec)} is neither a string nor a list of module names`);
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
  type Tensors = Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }>;
  const value = (name: string) => {
    const data = values.get(name);
    if (!data) throw new AdapterError(`saveAdapter: no value for ${name}`);
    return data;
  };
  const tensors: Tensors = {};
  for (const [name, { key, shape }] of layout.keys) tensors[key] = { dtype: 'F32', shape, data: value(name) };
  for (const d of layout.derived ?? []) tensors[d.key] = { dtype: 'F32', shape: [...d.shape], data: d.compute(d.params.map(value)) };
  const side: Tensors = {};
  for (const [name, { key, shape }] of layout.sideKeys ?? []) side[key] = { dtype: 'F32', shape, data: value(name) };
  await writeDirAtomic(dir, {
    [CONFIG_FILE]: JSON.stringify(layout.config, null, 2) + '\n',
    [WEIGHTS_FILE]: encodeSafetensors(tensors, { format: 'pt' }),
    ...(layout.sideKeys?.size ? { [SIDE_FILE]: encodeSafetensors(side, { format: 'pt' }) } : {}),
  });
}

/** `DIR/adapter_config.json` as an object; a missing file, bad JSON or a non-object is an `AdapterError` naming it. */
export async function readAdapterConfig(dir: string): Promise<Record<string, unknown>> {
  const cfgPath = join(dir, CONFIG_FILE);
  let cfg: unknown;
  try {
    cfg = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AdapterError(
      `${cfgPath}: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'missing (not an adapter folder)' : `not valid JSON (${(e as Error).message})`}`,
    );
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new AdapterError(`${cfgPath}: not a JSON object`);
  return cfg as Record<string, unknown>;
}

/** Reads an adapter folder into milec parameter values, checked against `layout`. */
export async function loadAdapter(dir: string, layout: AdapterLayout): Promise<Map<string, Float32Array>> {
  const cfgPath = join(dir, CONFIG_FILE);
  const cfg = await readAdapterConfig(dir);
  const diffs = layout.checked
    .filter((k) => k in layout.config || k in cfg)
    .filter((k) => JSON.stringify(cfg[k]) !== JSON.stringify(layout.config[k]));
  if (diffs.length)
    throw new AdapterError(
      `${cfgPath}: does not match the compiled tune: ${diffs.map((k) => `${k} is ${JSON.stringify(cfg[k])}, the tune needs ${JSON.stringify(layout.config[k])}`).join('; ')}`,
    );
  for (const k of ['target_modules', 'feedforward_modules', 'modules_to_save']) {
    if (!(k in layout.config)) continue;
    const want = new Set((layout.config[k] as string[] | null) ?? []);
    let got: Set<string>;
    try {
      got = new Set(layout.moduleNames ? resolveModules(cfg[k], layout.moduleNames) : ((cfg[k] as string[] | null) ?? []));
      // peft's `exclude_modules` (same rules) removes modules from `target_modules`.
      if (k === 'target_modules' && layout.moduleNames)
        for (const m of resolveModules(cfg.exclude_modules, layout.moduleNames)) got.delete(m);
    } catch (e) {
      throw new AdapterError(`${cfgPath}: ${k}: ${(e as Error).message}`);
    }
    const missing = [...want].filter((m) => !got.has(m));
    const extra = [...got].filter((m) => !want.has(m));
    if (missing.length || extra.length)
      throw new AdapterError(
        `${cfgPath}: ${k} ${JSON.stringify(cfg[k])} selects other modules than the tune's ${JSON.stringify(layout.config[k])}` +
          (missing.length ? `; not selected: ${missing.join(', ')}` : '') +
          (extra.length ? `; selected but not in the tune: ${extra.join(', ')}` : ''),
      );
  }
  for (const k of ['layers_to_transform', 'layers_pattern']) {
    const v = cfg[k];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && JSON.stringify(v) !== JSON.stringify(layout.config[k]))
      throw new AdapterError(`${cfgPath}: ${k} ${JSON.stringify(v)} is not supported (milec's tune selects the sites)`);
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
  // peft's format accepts milec's earlier modules_to_save keys (`<module>.modules_to_save.<param>`).
  const keyIn = (name: string, key: string) => {
    if (layout.peftType === 'MILEC') return findPath(file.tensors, key) ?? key;
    const legacy = layout.legacyKeys?.get(name);
    return !(key in file.tensors) && legacy !== undefined && legacy in file.tensors ? legacy : key;
  };
  for (const [name, layoutKey] of layout.keys) {
    const { shape } = layoutKey;
    const key = keyIn(name, layoutKey.key);
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
  const derived = new Map<PeftDerived, Float32Array>();
  for (const d of layout.derived ?? []) {
    want.add(d.key);
    const t = file.tensors[d.key];
    if (!t) problems.push(`missing ${d.key}`);
    else if (!(t.data instanceof Float32Array)) problems.push(`${d.key} is ${t.dtype}, expected a float dtype`);
    else if (t.shape.length !== d.shape.length || t.shape.some((x, i) => x !== d.shape[i]))
      problems.push(`${d.key} has shape [${t.shape.join(', ')}], expected [${d.shape.join(', ')}]`);
    else derived.set(d, t.data);
  }
  for (const k of file.names) if (!want.has(k)) problems.push(`unexpected ${k}`);
  if (problems.length) throw new AdapterError(`${wPath}: does not fit the compiled tune:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  if (layout.derived?.length) for (const [k, v] of await loadDerivedParams(dir, layout, derived)) out.set(k, v);
  return out;
}

/**
 * The parameters of `layout.derived`'s tensors, from SIDE_FILE, checked to compute the tensors
 * `saved` holds (the folder's peft file): within float32 rounding of the largest value.
 */
async function loadDerivedParams(
  dir: string,
  layout: AdapterLayout,
  saved: ReadonlyMap<PeftDerived, Float32Array>,
): Promise<Map<string, Float32Array>> {
  const sPath = join(dir, SIDE_FILE);
  let side;
  try {
    side = await readSafetensors(sPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      const hints = [...new Set((layout.derived ?? []).map((d) => d.withoutParams).filter((h) => h !== undefined))];
      throw new AdapterError(
        `${dir}: ${WEIGHTS_FILE} holds only ${layout.derived!.map((d) => d.key).join(', ')}, computed from parameters that ` +
          `cannot be recovered from it, and there is no ${SIDE_FILE} with them (milec writes one beside peft's file)` +
          (hints.length ? `; ${hints.join('; ')}` : ''),
      );
    }
    throw new AdapterError(e instanceof FormatError ? e.message : `${sPath}: ${(e as Error).message}`);
  }
  const out = new Map<string, Float32Array>();
  const problems: string[] = [];
  for (const [name, { key, shape }] of layout.sideKeys ?? []) {
    const k = findPath(side.tensors, key) ?? key;
    const t = side.tensors[k];
    if (!t) problems.push(`missing ${key}`);
    else if (!(t.data instanceof Float32Array)) problems.push(`${key} is ${t.dtype}, expected a float dtype`);
    else if (t.shape.length !== shape.length || t.shape.some((x, i) => x !== shape[i]))
      problems.push(`${key} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    else out.set(name, t.data);
  }
  if (problems.length) throw new AdapterError(`${sPath}: does not fit the compiled tune:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  for (const [d, table] of saved) {
    const again = d.compute(d.params.map((p) => out.get(p)!));
    let scale = 0;
    let worst = 0;
    for (let i = 0; i < again.length; i++) {
      scale = Math.max(scale, Math.abs(again[i]!));
      worst = Math.max(worst, Math.abs(again[i]! - table[i]!));
    }
    if (!(worst <= 1e-6 * Math.max(1, scale)))
      throw new AdapterError(
        `${join(dir, WEIGHTS_FILE)}: ${d.key} differs from the one ${SIDE_FILE}'s parameters compute (by up to ${worst.toPrecision(3)}): ` +
          `the two files are not of one adapter`,
      );
  }
  return out;
}
