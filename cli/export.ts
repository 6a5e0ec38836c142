/**
 * `milec export --torch DIR`: compile a model and tune, resolve the starting weights (`--weights`,
 * else the model's `weights { }` block; `--adapter` over them), pre-process `--steps` batches of
 * `--data` with milec's loaders, and write the PyTorch package (runtime/export/torch.ts).
 * Everything the compiler cannot translate is a located diagnostic before any file is read.
 */
import { emitTorchModel } from '../compiler/emit/torch/model.ts';
import { torchPeftSpec } from '../compiler/emit/torch/peft-spec.ts';
import { specialize } from '../compiler/ir/specialize.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import type { ConfigOverrides } from '../compiler/sema/elaborate.ts';
import { CompileError } from '../core/diagnostic.ts';
import { DataError } from '../runtime/data/index.ts';
import { ExportError, exportTorch } from '../runtime/export/torch.ts';
import { AdapterError } from '../runtime/peft-format.ts';
import { initialParams } from '../runtime/params.ts';
import { startingWeights, withWeightsOrigin } from '../runtime/starting-weights.ts';
import {
  loadBackbone,
  loadStartAdapter,
  openTrainData,
  type OptimizerSettings,
  resolveOptimizer,
  TRAIN_OPTIMIZER_DEFAULTS,
} from '../runtime/train-setup.ts';
import { checkpointModuleNames, weightsBaseModel, WeightsError } from '../runtime/weights.ts';
import { compileFile, report } from './compile.ts';
import { asUserError, boundSizes, UserError } from './errors.ts';

export interface ExportCliOptions extends Partial<OptimizerSettings> {
  torch?: string;
  tune?: string;
  model?: string;
  config?: ConfigOverrides;
  registry?: MethodRegistry;
  data: string;
  vocab?: string;
  strict?: boolean;
  steps: number;
  batch: number;
  seed: number;
  dim?: string[];
  weights?: string;
  weightsMap?: string;
  allowMissing?: boolean;
  adapter?: string;
}

const USER_FACING = [DataError, WeightsError, AdapterError, ExportError];

export async function exportCommand(file: string, o: ExportCliOptions): Promise<number> {
  if (!o.torch) throw new UserError('say what to export: --torch DIR (a PyTorch package; the only export so far)');
  const r = compileFile(file, o, true);
  if (report(r)) return 1;
  const fe = r.result!;
  try {
    // The translation first: an unsupported construct is reported before weights and data are read.
    emitTorchModel(fe.model, file, fe.program.modules);
    torchPeftSpec(fe.model, fe.tune);
  } catch (e) {
    if (e instanceof CompileError) {
      report({ diagnostics: [e.diagnostic], sources: r.sources });
      return 1;
    }
    throw e;
  }
  const start = startingWeights(o, fe.model);
  const bindings = boundSizes(fe.train!, { batch: o.batch, dims: o.dim });
  try {
    const data = openTrainData(o, fe.model);
    const graph = specialize(fe.forward, bindings);
    const backbone = await loadBackbone({ weights: start.weights, weightsMap: start.weightsMap, allowMissing: o.allowMissing }, graph);
    const moduleNames = backbone && checkpointModuleNames(backbone);
    const params = initialParams(graph, o.seed, backbone?.values);
    if (o.adapter) for (const [k, v] of await loadStartAdapter(o.adapter, fe, fe.tune.tune ?? '(full)', moduleNames)) params.set(k, v);
    const summary = await exportTorch(fe, {
      out: o.torch,
      source: file,
      data,
      steps: o.steps,
      batch: o.batch,
      seed: o.seed,
      optimizer: resolveOptimizer(o, fe.tune.optimizer, TRAIN_OPTIMIZER_DEFAULTS),
      params,
      baseModel: start.weights ? weightsBaseModel(start.weights) : fe.model.name,
      moduleNames,
      weights: start.weights,
      weightsMap: start.weightsMap,
    });
    for (const n of backbone?.notes ?? []) process.stderr.write(`  ${n}\n`);
    process.stderr.write(
      `milec: wrote ${o.torch}: ${fe.model.name}${fe.tune.tune ? ` / ${fe.tune.tune}` : ''}, ${summary.params} parameters ` +
        `(${summary.trainable} trainable)${start.weights ? ` from ${start.weights}` : ''}, ${o.steps} batches of ${o.batch} from ${data.name} ` +
        `in ${summary.shards} shard(s)\n  train: python3 ${o.torch}/train.py (one process), or with WORLD_SIZE/RANK/MASTER_ADDR/MASTER_PORT set per rank\n`,
    );
    return 0;
  } catch (e) {
    throw asUserError(withWeightsOrigin(e, start), USER_FACING);
  }
}
