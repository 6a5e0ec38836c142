/**
 * `milec export --torch DIR`: a self-contained PyTorch package for a model and tune.
 *
 *   model.py                 the .mile modules as nn.Module classes (compiler/emit/torch/model.ts)
 *   milec_ops.py             the .mile builtins in PyTorch          ┐
 *   milec_peft.py            the PEFT methods in plain PyTorch      │ fixed files, copied from
 *   milec_safetensors.py     safetensors without the package        │ runtime/export/torch/
 *   milec_export.py          loading the folder, saving the adapter │
 *   train.py, check.py       DDP training; loss and gradients       ┘
 *   weights.safetensors      every parameter's starting value (backbone + initial adapter), milec's names
 *   data/shard-NNNNN.safetensors   `steps` global batches of `batch` rows, by input name,
 *                            pre-processed by milec's own loaders (one data pipeline)
 *   export.json              what train.py needs: trainable names, the tune's sites, data
 *                            shards, optimizer, the adapter folder's layout (runtime/peft-format.ts)
 *                            and the metadata of milec train's checkpoint
 *
 * train.py writes a run folder as `milec train --out` does: `adapter/` (peft's format, what
 * `milec train --adapter` loads) and `adapter.safetensors` (what `milec eval --checkpoint` reads).
 *
 * The folder is written atomically (runtime/atomic.ts : writeDirAtomic).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Graph } from '../../compiler/ir/graph.ts';
import { emitTorchModel } from '../../compiler/emit/torch/model.ts';
import { torchPeftSpec } from '../../compiler/emit/torch/peft-spec.ts';
import type { TuneReport } from '../../compiler/peft/tune.ts';
import type { ElaboratedModel } from '../../compiler/sema/instance.ts';
import type { Program } from '../../compiler/sema/program.ts';
import { displayPath } from '../../core/param-path.ts';
import { type AtomicData, writeDirAtomic } from '../atomic.ts';
import type { Dataset } from '../data/index.ts';
import { ADAMW_DEFAULTS } from '../optim.ts';
import { PACKAGE_ROOT, MILEC_VERSION } from '../package-root.ts';
import { adapterLayout, type AdapterLayout } from '../peft-format.ts';
import { encodeSafetensors, type TensorToWrite } from '../safetensors.ts';
import type { OptimizerSettings } from '../train-setup.ts';

/** The fixed Python files, beside this module's sources. */
const PYTHON_DIR = join(PACKAGE_ROOT, 'runtime', 'export', 'torch');
/** Steps per data shard are chosen so that a shard stays near this size. */
const SHARD_BYTES = 64 * 1024 * 1024;

export interface TorchExportInput {
  readonly program: Program;
  readonly model: ElaboratedModel;
  readonly tune: TuneReport;
  /** The forward graph (training): its parameters, their shapes and trainable flags. */
  readonly forward: Graph;
}

export interface TorchExportOptions {
  readonly out: string;
  /** The `.mile` file (for headers and the record). */
  readonly source: string;
  readonly data: Dataset;
  readonly steps: number;
  readonly batch: number;
  readonly seed: number;
  readonly optimizer: OptimizerSettings;
  /** Every parameter's starting value, by milec path (runtime/params.ts : initialParams over the backbone). */
  readonly params: ReadonlyMap<string, Float32Array>;
  /** `base_model_name_or_path` of the adapter (the weights file, else the model's name). */
  readonly baseModel?: string;
  /** The checkpoint's module names, when the backbone came from `--weights` (peft's names for the adapter). */
  readonly moduleNames?: ReadonlyMap<string, string | null>;
  /** The backbone in `--weights` form and its mapping (recorded for `milec eval --checkpoint`), if any. */
  readonly weights?: string;
  readonly weightsMap?: string;
}

export class ExportError extends Error {
  override name = 'ExportError';
}

export interface TorchExportSummary {
  readonly files: readonly string[];
  readonly params: number;
  readonly trainable: number;
  readonly shards: number;
}

export async function exportTorch(fe: TorchExportInput, o: TorchExportOptions): Promise<TorchExportSummary> {
  const model = emitTorchModel(fe.model, o.source, fe.program.modules);
  const peft = torchPeftSpec(fe.model, fe.tune);
  const tuneName = fe.tune.tune ?? '(full)';
  const layout = adapterLayout(fe, { baseModel: o.baseModel ?? fe.model.name, tune: tuneName, moduleNames: o.moduleNames });
  const files: Record<string, AtomicData> = { 'model.py': model.text };
  for (const f of await readdir(PYTHON_DIR)) if (f.endsWith('.py')) files[f] = await readFile(join(PYTHON_DIR, f), 'utf8');
  files['weights.safetensors'] = weightsFile(fe.forward, o.params, { model: fe.model.name, tune: tuneName });
  const shards = dataShards(fe.model, o);
  for (const s of shards) files[s.file] = s.bytes;
  const spec = {
    format: 'milec-torch-export',
    version: 1,
    milec: MILEC_VERSION,
    source: o.source,
    model: fe.model.name,
    tune: fe.tune.tune ?? null,
    seed: o.seed,
    weights: 'weights.safetensors',
    trainable: fe.forward.params.filter((p) => p.trainable).map((p) => displayPath(p.name)),
    // DistributedDataParallel must be told when some trainable parameter gets no gradient.
    unusedTrainable: unusedByLoss(fe.forward).map(displayPath),
    peft,
    data: {
      spec: o.data.name,
      batch: o.batch,
      steps: o.steps,
      shards: shards.map(({ file, firstStep, steps }) => ({ file, firstStep, steps })),
    },
    optimizer: { ...o.optimizer, beta1: ADAMW_DEFAULTS.beta1, beta2: ADAMW_DEFAULTS.beta2, eps: ADAMW_DEFAULTS.eps },
    adapter: adapterSpec(layout),
    // The metadata of milec train's `adapter.safetensors`, which `milec eval --checkpoint` reads
    // (runtime/eval/checkpoint.ts): train.py writes its run folder in milec train's layout.
    checkpoint: {
      model: fe.model.name,
      tune: tuneName,
      source: o.source,
      seed: String(o.seed),
      weights: o.weights ?? '',
      weights_map: o.weights ? (o.weightsMap ?? 'none') : '',
    },
  };
  files['export.json'] = JSON.stringify(spec, null, 2) + '\n';
  await checkReplaceable(o.out, files);
  await writeDirAtomic(o.out, files);
  return {
    files: Object.keys(files).sort(),
    params: fe.forward.params.length,
    trainable: spec.trainable.length,
    shards: shards.length,
  };
}

/**
 * The folder is replaced whole, so it may only hold what an export writes (an earlier export
 * of this or another tune, check.py's output): a run of train.py inside it, or any other file,
 * is never deleted.
 */
async function checkReplaceable(out: string, files: Record<string, AtomicData>): Promise<void> {
  if (!existsSync(out)) return;
  const ours = new Set([...Object.keys(files).map((f) => f.split('/')[0]!), 'check.safetensors', '__pycache__']);
  const entries = await readdir(out).catch((e: NodeJS.ErrnoException) => {
    throw new ExportError(`${out}: cannot read it (${e.code ?? e.message})`);
  });
  const other = entries.filter((e) => !ours.has(e));
  if (entries.length && !entries.includes('export.json'))
    throw new ExportError(`${out} exists and is not a folder milec export wrote (no export.json): choose another --torch folder`);
  if (other.length)
    throw new ExportError(
      `${out} holds ${other.slice(0, 3).join(', ')}${other.length > 3 ? ', …' : ''} besides an earlier export: move ${other.length > 1 ? 'them' : 'it'} or choose another --torch folder (the folder is replaced whole)`,
    );
}

/** Trainable parameters the loss does not depend on (milec gives them zero gradients). */
function unusedByLoss(g: Graph): string[] {
  const loss = g.outputs.loss;
  const reached = new Set<number>();
  const stack = loss === undefined ? [] : [loss];
  while (stack.length) {
    const id = stack.pop()!;
    if (reached.has(id)) continue;
    reached.add(id);
    stack.push(...g.nodes[id]!.src);
  }
  return g.params.filter((p) => p.trainable && !reached.has(p.node)).map((p) => p.name);
}

function weightsFile(g: Graph, params: ReadonlyMap<string, Float32Array>, meta: Record<string, string>): Uint8Array {
  const tensors: Record<string, TensorToWrite> = {};
  for (const p of g.params) {
    const v = params.get(p.name);
    if (!v) throw new ExportError(`no starting value for parameter ${displayPath(p.name)}`);
    const shape = p.shape.map((d) => {
      if (typeof d !== 'number') throw new ExportError(`parameter ${displayPath(p.name)} has a symbolic size ${d}`);
      return d;
    });
    tensors[displayPath(p.name)] = { dtype: 'F32', shape, data: v };
  }
  return encodeSafetensors(tensors, { format: 'pt', ...meta, milec: MILEC_VERSION });
}

interface Shard {
  readonly file: string;
  readonly firstStep: number;
  readonly steps: number;
  readonly bytes: Uint8Array;
}

/** `steps` global batches of the training split, by input name, in shards of about SHARD_BYTES. */
function dataShards(model: ElaboratedModel, o: TorchExportOptions): Shard[] {
  const first = o.data.batch(0, o.batch, 'train');
  const stepBytes = Object.values(first.inputs).reduce((n, a) => n + a.byteLength, 0);
  const perShard = Math.max(1, Math.floor(SHARD_BYTES / Math.max(1, stepBytes)));
  const out: Shard[] = [];
  for (let start = 0; start < o.steps; start += perShard) {
    const steps = Math.min(perShard, o.steps - start);
    const batches = Array.from({ length: steps }, (_, k) => (start + k === 0 ? first : o.data.batch(start + k, o.batch, 'train')));
    const tensors: Record<string, TensorToWrite> = {};
    for (const input of model.inputs) {
      const parts = batches.map((b) => b.inputs[input.name]);
      if (parts.some((p) => !p)) throw new ExportError(`dataset ${o.data.name} has no input \`${input.name}\` for ${model.name}`);
      const rowShape = input.shape.slice(1).map((d) => {
        if (typeof d !== 'number') throw new ExportError(`input \`${input.name}\` has a symbolic size ${d} besides the batch`);
        return d;
      });
      const total = parts.reduce((n, p) => n + p!.length, 0);
      const data = input.dtype === 'i32' ? new Int32Array(total) : new Float32Array(total);
      let at = 0;
      for (const p of parts) {
        data.set(p as never, at);
        at += p!.length;
      }
      tensors[input.name] = { dtype: input.dtype === 'i32' ? 'I32' : 'F32', shape: [steps * o.batch, ...rowShape], data };
    }
    const file = `data/shard-${String(out.length).padStart(5, '0')}.safetensors`;
    out.push({ file, firstStep: start, steps, bytes: encodeSafetensors(tensors, { format: 'pt', data: o.data.name }) });
  }
  return out;
}

/** The adapter folder's layout for milec_export.save_adapter: parameter names in PyTorch's spelling. */
function adapterSpec(layout: AdapterLayout) {
  const entries = (m: AdapterLayout['keys'] | undefined) =>
    [...(m ?? new Map())].map(([path, { key, shape }]) => ({ param: displayPath(path), key, shape }));
  const derived = (layout.derived ?? []).map((d) => {
    const group = d.params[0]!.slice(0, d.params[0]!.indexOf('.'));
    if (d.key !== 'prompt_embeddings' || !d.params.every((p) => p.startsWith(`${group}.`)))
      throw new ExportError(`cannot export the adapter tensor ${d.key}: milec_export.py computes only prefix tuning's table`);
    return { key: d.key, group };
  });
  return { config: layout.config, keys: entries(layout.keys), derived, side: entries(layout.sideKeys) };
}
