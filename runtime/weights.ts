/**
 * Loading pretrained backbone weights from safetensors files into a compiled model.
 *
 * External key names reach milec parameter paths through a declared **name mapping**: a
 * table of rules, each a pattern over the file's key (`encoder.layer.{N}.attention.self.query.weight`)
 * and a template for the milec path (`encoder.layer.{N}.attention.self.query.weight`; paths
 * are matched in either spelling of core/param-path.ts). `{X}` captures a run of digits and is
 * substituted into the template; `{*}` captures anything (used by the catch-all rule that
 * keeps a name). Rules are
 * tried in order; the first that matches wins. A rule with several `from` patterns
 * concatenates those tensors along axis 0 (HF ViT's separate query/key/value into timm's
 * fused `qkv`). `drop` patterns name keys that are dropped silently (buffers such as
 * `position_ids`, tied copies such as the LM head's `decoder.weight`) and `optional`
 * patterns keys dropped only when the model has no parameter for them (a pooler or
 * token-type table the model leaves out).
 *
 * Each file is loaded under a **prefix**: the milec path of the module the file describes
 * (`vit.safetensors@visual_encoder` puts `blocks.0.attn.qkv.weight` at
 * `visual_encoder.blocks.0.attn.qkv.weight`). Only the model's own parameters under that
 * prefix (not those added by a PEFT method) are expected from the file.
 *
 * Position embeddings (`pos_embed`, a [1, 1 + g², d] table, CLS row first) whose grid differs
 * from the model's are resized as BLIP's `interpolate_pos_embed` does: the CLS row is kept and
 * the g×g grid of rows is resampled to G×G with **bicubic** interpolation, PyTorch's
 * `F.interpolate(mode='bicubic', align_corners=False)` (Keys kernel, a = −0.75, border
 * indices clamped). That kernel keeps a constant field exactly but a linear one only
 * approximately (a = −0.5 would be exact); `bilinear` (align_corners=False) is available too
 * and keeps a linear field exactly away from the border.
 *
 * Problems are gathered, not thrown one at a time: missing keys (a model parameter under the
 * prefix no file provides), unexpected keys (a file key no rule maps to a model parameter)
 * and mis-shaped keys are listed in one `WeightsError` naming the file(s). With
 * `allowMissing`, missing and unexpected keys become warnings (the missing parameters keep
 * their initial values); a mis-shaped key is always an error.
 */
import { displayPath, internalPath } from '../core/param-path.ts';
import { readSafetensors, type SafetensorsFile } from './safetensors.ts';

export interface MapRule {
  /** Pattern(s) over the file's key; several are concatenated along axis 0. */
  readonly from: string | readonly string[];
  /** Template of the milec path, relative to the prefix. */
  readonly to: string;
}

export interface WeightsMapping {
  readonly name: string;
  readonly description: string;
  readonly rules: readonly MapRule[];
  /** Keys dropped silently. */
  readonly drop?: readonly string[];
  /** Keys dropped when their mapped target does not exist in the model. */
  readonly optional?: readonly string[];
}

/** Keeps a name (`blocks.0.attn` and `blocks[0].attn` are the same path). */
const IDENTITY: MapRule = { from: '{*}', to: '{*}' };

const bertLayer = (src: string, dst: string): MapRule[] => [
  // Old BERT checkpoints name LayerNorm parameters gamma/beta.
  { from: `${src}{*}LayerNorm.gamma`, to: `${dst}{*}LayerNorm.weight` },
  { from: `${src}{*}LayerNorm.beta`, to: `${dst}{*}LayerNorm.bias` },
  { from: `${src}{*}`, to: `${dst}{*}` },
];

const BERT_DROP = [
  '{*}embeddings.position_ids',
  '{*}cls.predictions.decoder.weight',
  '{*}cls.predictions.decoder.bias',
  '{*}cls.seq_relationship.{*}',
];
const BERT_OPTIONAL = ['{*}pooler.{*}', '{*}token_type_embeddings.weight', '{*}cls.{*}'];

const hfViTLayer = (p: string, q: string): MapRule[] => [
  {
    from: [
      `${p}encoder.layer.{N}.attention.attention.query.weight`,
      `${p}encoder.layer.{N}.attention.attention.key.weight`,
      `${p}encoder.layer.{N}.attention.attention.value.weight`,
    ],
    to: `${q}blocks.{N}.attn.qkv.weight`,
  },
  {
    from: [
      `${p}encoder.layer.{N}.attention.attention.query.bias`,
      `${p}encoder.layer.{N}.attention.attention.key.bias`,
      `${p}encoder.layer.{N}.attention.attention.value.bias`,
    ],
    to: `${q}blocks.{N}.attn.qkv.bias`,
  },
  { from: `${p}encoder.layer.{N}.attention.output.dense.{*}`, to: `${q}blocks.{N}.attn.proj.{*}` },
  { from: `${p}encoder.layer.{N}.layernorm_before.{*}`, to: `${q}blocks.{N}.norm1.{*}` },
  { from: `${p}encoder.layer.{N}.layernorm_after.{*}`, to: `${q}blocks.{N}.norm2.{*}` },
  { from: `${p}encoder.layer.{N}.intermediate.dense.{*}`, to: `${q}blocks.{N}.mlp.fc1.{*}` },
  { from: `${p}encoder.layer.{N}.output.dense.{*}`, to: `${q}blocks.{N}.mlp.fc2.{*}` },
  { from: `${p}embeddings.patch_embeddings.projection.{*}`, to: `${q}patch_embed.proj.{*}` },
  { from: `${p}embeddings.cls_token`, to: `${q}cls_token` },
  { from: `${p}embeddings.position_embeddings`, to: `${q}pos_embed` },
  { from: `${p}layernorm.{*}`, to: `${q}norm.{*}` },
];

/** The built-in mappings, by `--weights-map` name. */
export const MAPPINGS: Readonly<Record<string, WeightsMapping>> = {
  'hf-bert': {
    name: 'hf-bert',
    description: 'Hugging Face BertModel / bert-base-uncased (`bert.` prefix optional) onto std.bert BertModel',
    rules: [...bertLayer('bert.', ''), ...bertLayer('', '')],
    drop: BERT_DROP,
    optional: BERT_OPTIONAL,
  },
  'timm-vit': {
    name: 'timm-vit',
    description:
      'timm VisionTransformer (patch_embed, cls_token, pos_embed, blocks.N, norm) onto std.vit VisionTransformer; the classifier head is dropped',
    rules: [IDENTITY],
    drop: ['head.{*}', 'fc_norm.{*}', 'pre_logits.{*}'],
  },
  'hf-vit': {
    name: 'hf-vit',
    description: 'Hugging Face ViTModel (`vit.` prefix optional; query/key/value fused into qkv) onto std.vit VisionTransformer',
    rules: [...hfViTLayer('vit.', ''), ...hfViTLayer('', '')],
    drop: ['classifier.{*}', '{*}pooler.{*}'],
  },
  blip: {
    name: 'blip',
    description:
      'BLIP / MISS checkpoints (visual_encoder.* timm names, text_encoder.* and text_decoder.* med.py BERT names) onto examples/miss_vqa.mile',
    rules: [...bertLayer('text_encoder.', 'text_encoder.'), ...bertLayer('text_decoder.', 'text_decoder.'), IDENTITY],
    drop: [
      ...BERT_DROP,
      'visual_encoder_m.{*}',
      'text_encoder_m.{*}',
      'text_decoder_m.{*}',
      'vision_proj{*}',
      'text_proj{*}',
      'itm_head.{*}',
      'temp',
      'image_queue',
      'text_queue',
      'idx_queue',
      'ptr_queue',
    ],
    optional: BERT_OPTIONAL,
  },
  none: { name: 'none', description: 'names are milec parameter paths already (`blocks.0.attn`, or `blocks[0].attn`)', rules: [IDENTITY] },
};

export class WeightsError extends Error {
  override name = 'WeightsError';
}

export type PosInterp = 'bicubic' | 'bilinear';

export interface WeightsSource {
  /** A safetensors file. */
  readonly path: string;
  /** The milec path of the module the file describes; '' for the whole model. */
  readonly prefix: string;
  readonly mapping: WeightsMapping;
}

export interface ModelParamInfo {
  readonly name: string;
  /** Concrete sizes (a symbolic size never matches a file's shape). */
  readonly shape: readonly (number | string)[];
  /** The PEFT method that added it: such parameters never come from a backbone file. */
  readonly addedBy?: string;
}

export interface WeightOrigin {
  readonly file: string;
  readonly prefix: string;
  readonly keys: readonly string[];
}

export interface LoadWeightsOptions {
  readonly allowMissing?: boolean;
  readonly interpolation?: PosInterp;
}

export interface LoadedWeights {
  /** milec parameter path -> value, for every parameter loaded. */
  readonly values: Map<string, Float32Array>;
  /** Which file key(s) each loaded parameter came from. */
  readonly sources: Map<string, string[]>;
  /** The same, as data: the file, its `@PREFIX` (compiler spelling) and the key(s) read. */
  readonly origins: Map<string, WeightOrigin>;
  readonly missing: string[];
  readonly unexpected: string[];
  /** Human-readable notes: interpolations done, warnings allowed by allowMissing. */
  readonly notes: string[];
}

// ---------------------------------------------------------------------------------------
// Patterns

/** A pattern made a regular expression, with the names of its captures in order. */
interface CompiledPattern {
  readonly re: RegExp;
  readonly names: readonly string[];
}

function compilePattern(pattern: string): CompiledPattern {
  const names: string[] = [];
  let src = '';
  for (const part of pattern.split(/(\{[A-Za-z*]+\})/)) {
    const m = /^\{([A-Za-z*]+)\}$/.exec(part);
    if (m) {
      names.push(m[1]!);
      src += m[1] === '*' ? '(.*?)' : '(\\d+)';
    } else src += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return { re: new RegExp(`^${src}$`), names };
}

/**
 * The compiled patterns of one load, shared by its files: a context object that lives as long
 * as the `mapWeights` call (no module-level cache).
 */
class PatternSet {
  private readonly compiled = new Map<string, CompiledPattern>();

  match(pattern: string, key: string): Record<string, string> | undefined {
    let c = this.compiled.get(pattern);
    if (!c) this.compiled.set(pattern, (c = compilePattern(pattern)));
    const m = c.re.exec(key);
    if (!m) return undefined;
    const out: Record<string, string> = {};
    c.names.forEach((n, i) => (out[n] = m[i + 1]!));
    return out;
  }
}

function fill(template: string, caps: Record<string, string>): string {
  return template.replace(/\{([A-Za-z*]+)\}/g, (_, n: string) => caps[n] ?? `{${n}}`);
}

/** `blocks.0.attn.qkv` → `blocks[0].attn.qkv` (also `[0]` kept as is): core/param-path.ts : internalPath. */
export const dottedToMilec = internalPath;

/** `blocks[0].attn.query` → `blocks.0.attn.query` (peft's and PyTorch's module paths): core/param-path.ts : displayPath. */
export const milecToDotted = displayPath;

function join(prefix: string, rest: string): string {
  return prefix === '' ? rest : rest === '' ? prefix : `${prefix}.${rest}`;
}

// ---------------------------------------------------------------------------------------
// Position-embedding interpolation

/** Keys' cubic convolution weights for fractional offset t, PyTorch's A = −0.75. */
function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const c1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const c2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)];
}

/** 1-D resampling taps (source index, weight) for each of `out` outputs from `inp` inputs. */
function taps(inp: number, out: number, mode: PosInterp): [number, number][][] {
  const scale = inp / out;
  const clamp = (i: number) => Math.min(inp - 1, Math.max(0, i));
  const res: [number, number][][] = [];
  for (let o = 0; o < out; o++) {
    let src = (o + 0.5) * scale - 0.5;
    if (mode === 'bilinear') {
      src = Math.max(0, src);
      const i0 = Math.floor(src);
      const l = src - i0;
      res.push([
        [clamp(i0), 1 - l],
        [clamp(i0 + 1), l],
      ]);
    } else {
      const i0 = Math.floor(src);
      const w = cubicWeights(src - i0);
      res.push(w.map((wk, k) => [clamp(i0 - 1 + k), wk] as [number, number]));
    }
  }
  return res;
}

/**
 * Resizes a [1, extra + g², d] position table to [1, extra + G², d]: the first `extra` rows
 * (CLS) are kept, the g×g grid (row-major: y then x) is resampled to G×G.
 */
export function interpolatePosEmbed(
  data: Float32Array,
  d: number,
  fromGrid: number,
  toGrid: number,
  extra = 1,
  mode: PosInterp = 'bicubic',
): Float32Array {
  if (data.length !== (extra + fromGrid * fromGrid) * d)
    throw new Error(`interpolatePosEmbed: ${data.length} values are not (${extra} + ${fromGrid}²)·${d}`);
  const out = new Float32Array((extra + toGrid * toGrid) * d);
  out.set(data.subarray(0, extra * d));
  const t = taps(fromGrid, toGrid, mode);
  const acc = new Float64Array(d);
  for (let y = 0; y < toGrid; y++) {
    for (let x = 0; x < toGrid; x++) {
      acc.fill(0);
      for (const [sy, wy] of t[y]!) {
        for (const [sx, wx] of t[x]!) {
          const w = wy * wx;
          const base = (extra + sy * fromGrid + sx) * d;
          for (let c = 0; c < d; c++) acc[c]! += w * data[base + c]!;
        }
      }
      const o = (extra + y * toGrid + x) * d;
      for (let c = 0; c < d; c++) out[o + c] = acc[c]!;
    }
  }
  return out;
}

/** If `shape`→`want` is a pos_embed grid change ([1, 1+g², d] → [1, 1+G², d]), the two grids. */
function gridChange(name: string, shape: readonly number[], want: readonly (number | string)[]): [number, number, number] | undefined {
  if (!want.every((x): x is number => typeof x === 'number')) return undefined;
  if (!/(^|\.)pos_embed$/.test(name)) return undefined;
  if (shape.length !== 3 || want.length !== 3 || shape[0] !== 1 || want[0] !== 1 || shape[2] !== want[2]) return undefined;
  const g = Math.round(Math.sqrt(shape[1]! - 1));
  const G = Math.round(Math.sqrt(want[1]! - 1));
  if (g * g + 1 !== shape[1] || G * G + 1 !== want[1]) return undefined;
  return [g, G, shape[2]!];
}

// ---------------------------------------------------------------------------------------
// Loading

const eqShape = (a: readonly (number | string)[], b: readonly (number | string)[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
const fmt = (s: readonly (number | string)[]) => `[${s.join(', ')}]`;

/** What one load found wrong, gathered over every file before anything is thrown. */
interface Problems {
  readonly unexpected: string[];
  readonly misshaped: string[];
  readonly duplicate: string[];
  readonly missing: string[];
}

/** One load in progress: the model's parameters (by the compiler's spelling), what was read so far, and the problems. */
interface LoadState {
  readonly patterns: PatternSet;
  readonly byPath: ReadonlyMap<string, ModelParamInfo>;
  readonly values: Map<string, Float32Array>;
  readonly sources: Map<string, string[]>;
  readonly origins: Map<string, WeightOrigin>;
  readonly notes: string[];
  readonly problems: Problems;
  readonly opts: LoadWeightsOptions;
}

/** The first rule mapping `key`, with the milec path it maps to (the compiler's spelling). */
function ruleFor(
  st: LoadState,
  source: WeightsSource,
  key: string,
): { rule: MapRule; target: string; caps: Record<string, string> } | undefined {
  for (const rule of source.mapping.rules) {
    for (const f of typeof rule.from === 'string' ? [rule.from] : rule.from) {
      const caps = st.patterns.match(f, key);
      if (caps) return { rule, target: internalPath(join(source.prefix, fill(rule.to, caps))), caps };
    }
  }
  return undefined;
}

/** The tensor for `target` read from `keys` (concatenated along axis 0 when several), or a problem. */
function gatherTensor(
  file: SafetensorsFile,
  keys: readonly string[],
  target: string,
  where: string,
): { shape: number[]; data: Float32Array } | string {
  const parts = keys.map((k) => file.tensors[k]!);
  if (parts.some((x) => !(x.data instanceof Float32Array)))
    return `${keys.join(' + ')} in ${where}: integer dtype ${parts[0]!.dtype}, ${target} is f32`;
  if (parts.length === 1) return { shape: parts[0]!.shape, data: parts[0]!.data as Float32Array };
  const rest = parts[0]!.shape.slice(1);
  if (parts.some((x) => !eqShape(x.shape.slice(1), rest)))
    return `${keys.join(' + ')} in ${where}: shapes ${parts.map((x) => fmt(x.shape)).join(', ')} cannot be concatenated into ${target}`;
  const data = new Float32Array(parts.reduce((n, x) => n + x.data.length, 0));
  let off = 0;
  for (const x of parts) {
    data.set(x.data as Float32Array, off);
    off += x.data.length;
  }
  return { shape: [parts.reduce((n, x) => n + x.shape[0]!, 0), ...rest], data };
}

/** Maps every key of one file onto the model's parameters, recording values and problems in `st`. */
function mapFile(st: LoadState, source: WeightsSource, file: SafetensorsFile): void {
  const { mapping } = source;
  const { problems } = st;
  const used = new Set<string>();
  const where = `${file.path}${source.prefix ? `@${displayPath(source.prefix)}` : ''}`;
  for (const key of file.names) {
    if (used.has(key)) continue;
    if (mapping.drop?.some((p) => st.patterns.match(p, key))) continue;
    const t = ruleFor(st, source, key);
    const p = t && st.byPath.get(t.target);
    const shown = t && displayPath(t.target);
    if (!t || !p || p.addedBy !== undefined) {
      if (mapping.optional?.some((q) => st.patterns.match(q, key))) continue;
      problems.unexpected.push(
        `${key}${t ? ` (→ ${shown}, not a parameter of the model)` : ' (no rule of the mapping matches)'} in ${where}`,
      );
      continue;
    }
    // The tensor(s) this rule reads.
    const keys = (typeof t.rule.from === 'string' ? [t.rule.from] : t.rule.from).map((f) => fill(f, t.caps));
    keys.forEach((k) => used.add(k));
    const absent = keys.filter((k) => !(k in file.tensors));
    if (absent.length) {
      for (const k of absent) problems.missing.push(`${k} (needed for ${shown}) in ${where}`);
      continue;
    }
    const got = gatherTensor(file, keys, shown!, where);
    if (typeof got === 'string') {
      problems.misshaped.push(got);
      continue;
    }
    let data = got.data;
    if (!eqShape(got.shape, p.shape)) {
      const g = gridChange(p.name, got.shape, p.shape);
      if (!g) {
        problems.misshaped.push(`${keys.join(' + ')} in ${where}: shape ${fmt(got.shape)}, but ${shown} is ${fmt(p.shape)}`);
        continue;
      }
      const mode = st.opts.interpolation ?? 'bicubic';
      data = interpolatePosEmbed(data, g[2], g[0], g[1], 1, mode);
      st.notes.push(`${keys[0]} in ${where}: position grid ${g[0]}×${g[0]} interpolated to ${g[1]}×${g[1]} (${mode}, CLS row kept)`);
    }
    if (st.values.has(p.name)) {
      problems.duplicate.push(`${shown}: given by ${st.sources.get(p.name)!.join(' + ')} and by ${keys.join(' + ')} in ${where}`);
      continue;
    }
    st.values.set(p.name, data);
    st.sources.set(
      p.name,
      keys.map((k) => `${k} in ${where}`),
    );
    st.origins.set(p.name, { file: file.path, prefix: source.prefix, keys });
  }
}

/** Base parameters under some file's prefix that no file gave. */
function findMissing(st: LoadState, files: readonly { source: WeightsSource; file: SafetensorsFile }[]): void {
  for (const [path, p] of st.byPath) {
    if (p.addedBy !== undefined || st.values.has(p.name)) continue;
    const owner = files.find(
      ({ source }) =>
        source.prefix === '' || path === source.prefix || path.startsWith(source.prefix + '.') || path.startsWith(source.prefix + '['),
    );
    if (owner)
      st.problems.missing.push(
        `${displayPath(path)} ${fmt(p.shape)} (expected from ${owner.file.path}${owner.source.prefix ? `@${displayPath(owner.source.prefix)}` : ''})`,
      );
  }
}

/**
 * Maps and checks already-read files against the model's parameters. Throws one
 * WeightsError listing every problem; returns the values to load otherwise, keyed by the
 * parameters' names as given in `params` (either spelling: they are matched by path).
 * Messages spell paths the user-facing way (core/param-path.ts).
 */
export function mapWeights(
  files: readonly { source: WeightsSource; file: SafetensorsFile }[],
  params: readonly ModelParamInfo[],
  opts: LoadWeightsOptions = {},
): LoadedWeights {
  const problems: Problems = { unexpected: [], misshaped: [], duplicate: [], missing: [] };
  const st: LoadState = {
    patterns: new PatternSet(),
    byPath: new Map(params.map((p) => [internalPath(p.name), p])),
    values: new Map(),
    sources: new Map(),
    origins: new Map(),
    notes: [],
    problems,
    opts,
  };
  for (const { source, file } of files) mapFile(st, { ...source, prefix: internalPath(source.prefix) }, file);
  findMissing(
    st,
    files.map(({ source, file }) => ({ source: { ...source, prefix: internalPath(source.prefix) }, file })),
  );

  const fileNames = [...new Set(files.map((f) => f.file.path))].join(', ');
  const section = (title: string, xs: string[]) => (xs.length ? [`  ${xs.length} ${title}:`, ...xs.map((x) => `    ${x}`)] : []);
  const hard = [...section('mis-shaped', problems.misshaped), ...section('given twice', problems.duplicate)];
  const soft = [...section('missing', problems.missing), ...section('unexpected', problems.unexpected)];
  if (hard.length || (soft.length && !opts.allowMissing)) {
    const lines = [
      `cannot load weights from ${fileNames} (mapping ${[...new Set(files.map((f) => f.source.mapping.name))].join(', ')}):`,
      ...hard,
      ...soft,
    ];
    if (soft.length && !opts.allowMissing)
      lines.push('  (--allow-missing loads the rest, keeping missing parameters at their initial values and ignoring unexpected keys)');
    throw new WeightsError(lines.join('\n'));
  }
  if (soft.length) st.notes.push(`warning: loading ${fileNames} anyway (--allow-missing):\n${soft.join('\n')}`);
  return {
    values: st.values,
    sources: st.sources,
    origins: st.origins,
    missing: problems.missing,
    unexpected: problems.unexpected,
    notes: st.notes,
  };
}

/**
 * The mapping inverted for export (peft's module names of an adapter trained on loaded
 * weights): every module the load gave parameters to → its name in the checkpoint, the
 * file's key less the parameter name (`bert.encoder.layer.0.attention.self.query` for the
 * milec module `text_encoder.encoder.layer.0.attention.self.query` loaded from
 * `bert.encoder.layer.0.attention.self.query.weight` at `@text_encoder`). Keys are milec module
 * paths in the dotted spelling.
 *
 * With one file the names are the file's own: the file is the base model the adapter
 * belongs to, wherever milec placed it. With several files there is no one such model, so
 * each name is put under its file's `@PREFIX` (as milec's model places it). A module whose
 * parameters came from several tensors at once (HF ViT's query/key/value fused into qkv) or
 * from modules of different names maps to null: it has no checkpoint name.
 */
export function checkpointModuleNames(loaded: Pick<LoadedWeights, 'origins'>): Map<string, string | null> {
  const files = new Set([...loaded.origins.values()].map((o) => `${o.file}@${o.prefix}`));
  const out = new Map<string, string | null>();
  for (const [param, o] of loaded.origins) {
    const p = displayPath(param);
    const module = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '';
    let name: string | null = null;
    if (o.keys.length === 1) {
      const k = o.keys[0]!;
      const own = k.includes('.') ? k.slice(0, k.lastIndexOf('.')) : '';
      name = files.size === 1 ? own : join(displayPath(o.prefix), own);
    }
    const had = out.get(module);
    out.set(module, had === undefined || had === name ? name : null);
  }
  return out;
}

/**
 * `base_model_name_or_path` for `--weights` (`PATH[@PREFIX],…`): the file given without a
 * prefix (the whole model) if there is one, else the first; without milec's `@PREFIX`.
 */
export function weightsBaseModel(weights: string): string {
  const specs = weights
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const at = s.lastIndexOf('@');
      return at > 0 ? { path: s.slice(0, at), prefix: s.slice(at + 1) } : { path: s, prefix: '' };
    });
  return (specs.find((s) => s.prefix === '') ?? specs[0])?.path ?? weights;
}

/** Parses one `PATH[@PREFIX]` item. */
export function parseWeightsSpec(spec: string, mapping: WeightsMapping): WeightsSource {
  const at = spec.lastIndexOf('@');
  const path = at > 0 ? spec.slice(0, at) : spec;
  const prefix = at > 0 ? spec.slice(at + 1) : '';
  return { path, prefix: dottedToMilec(prefix), mapping };
}

/** Resolves `--weights a@x,b@y` and `--weights-map m` (one name, or one per file). */
export function weightsSources(weights: string, mapNames = 'none'): WeightsSource[] {
  const specs = weights
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const maps = mapNames.split(',').map((s) => s.trim());
  if (maps.length !== 1 && maps.length !== specs.length)
    throw new WeightsError(`--weights-map gives ${maps.length} mappings for ${specs.length} files: give one, or one per file`);
  return specs.map((s, i) => parseWeightsSpec(s, weightsMapping(maps.length === 1 ? maps[0]! : maps[i]!)));
}

/** A built-in mapping by its `--weights-map` name. */
export function weightsMapping(name: string): WeightsMapping {
  const m = MAPPINGS[name];
  if (!m) throw new WeightsError(`unknown weights mapping "${name}" (known: ${Object.keys(MAPPINGS).join(', ')})`);
  return m;
}

/** Reads the files and maps them (see mapWeights). A malformed file fails with its path. */
export async function loadWeights(
  sources: readonly WeightsSource[],
  params: readonly ModelParamInfo[],
  opts: LoadWeightsOptions = {},
): Promise<LoadedWeights> {
  const files = [];
  for (const source of sources) {
    let file: SafetensorsFile;
    try {
      file = await readSafetensors(source.path);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new WeightsError(err.code === 'ENOENT' ? `${source.path}: no such file` : err.message);
    }
    files.push({ source, file });
  }
  return mapWeights(files, params, opts);
}
