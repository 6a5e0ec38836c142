/**
 * What `milec train` and `milec sweep` share before the loop starts: the dataset of `--data`,
 * the trainer settings, and the state a run starts from (`--weights`, `--adapter`, `--resume`);
 * and what `milec train` writes around the loop (its checkpoints, the adapter folder).
 * Bad files surface as the runtime's own errors (`DataError`, `WeightsError`,
 * `AdapterError`, `CheckpointError`), which the commands print as one line.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '../compiler/ir/graph.ts';
import type { TuneOptimizer } from '../compiler/peft/tune.ts';
import type { ElaboratedModel } from '../compiler/sema/instance.ts';
import { elementCount } from '../core/dim.ts';
import { CheckpointError, checkResumable, loadTrainState } from './checkpoint.ts';
import { type Dataset, openDataset } from './data/index.ts';
import { initialParams } from './params.ts';
import { AdapterError, adapterLayout, loadAdapter, saveAdapter, type TunedModel } from './peft-format.ts';
import { checkpointPath, type LoopOptions, type TrainConfig, type Trainer } from './train.ts';
import { checkpointModuleNames, type LoadedWeights, loadWeights, weightsBaseModel, weightsSources } from './weights.ts';

/** The training settings a command takes (`milec train`'s and `milec sweep`'s options). */
export interface TrainSettings {
  readonly data: string;
  /** Tokenizer vocabulary for the file datasets (`--vocab`). */
  readonly vocab?: string;
  /** A malformed item of a file dataset is an error instead of a reported, skipped item (`--strict`). */
  readonly strict?: boolean;
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly schedule: 'constant' | 'cosine';
  readonly warmup: number;
  readonly weightDecay: number;
  readonly seed: number;
  /** `PATH[@PREFIX][,PATH[@PREFIX]]`: backbone weights (safetensors). */
  readonly weights?: string;
  /** Name mapping(s) for `weights`: one, or one per file. */
  readonly weightsMap?: string;
  readonly allowMissing?: boolean;
}

/** The optimizer settings of a run: what the command line, the tune's `optimizer { ... }` or the command's defaults set. */
export type OptimizerSettings = Pick<TrainSettings, 'lr' | 'schedule' | 'warmup' | 'weightDecay'>;

/** A number as the optimizer settings print it: `1e-3`, `2.5e-4`, `0`, `1`. */
function short(x: number): string {
  return x === 0 ? '0' : x.toExponential().replace(/e\+0$/, '').replace('e+', 'e');
}

/**
 * The optimizer settings in a few words, as the sweep's tables show them: `lr 1e-2, cosine,
 * warm-up 10, weight decay 1e-2`, the warm-up and the weight decay only when not 0 (always
 * with `all`, as `milec train`'s start line shows them). A setting `o` lacks is left out.
 */
export function describeOptimizer(o: Pick<OptimizerSettings, 'lr'> & Partial<OptimizerSettings>, all = false): string {
  const shown = (x: number | undefined) => x !== undefined && (all || x !== 0);
  return [
    `lr ${short(o.lr)}`,
    ...(o.schedule ? [o.schedule] : []),
    ...(shown(o.warmup) ? [`warm-up ${o.warmup}`] : []),
    ...(shown(o.weightDecay) ? [`weight decay ${short(o.weightDecay!)}`] : []),
  ].join(', ');
}

/** `milec train`'s defaults, when neither the command line nor the tune sets a setting. */
export const TRAIN_OPTIMIZER_DEFAULTS: OptimizerSettings = { lr: 3e-3, schedule: 'constant', warmup: 0, weightDecay: 0 };
/** `milec sweep`'s defaults (a lower learning rate: every tune of the study runs with it). */
export const SWEEP_OPTIMIZER_DEFAULTS: OptimizerSettings = { lr: 1e-3, schedule: 'constant', warmup: 0, weightDecay: 0 };

/**
 * Each optimizer setting of a run: the command line's (`--lr`, `--weight-decay`, `--schedule`,
 * `--warmup`; undefined when not given), else the tune's `optimizer { ... }`, else the command's default.
 */
export function resolveOptimizer(
  cli: Partial<OptimizerSettings>,
  tune: TuneOptimizer | undefined,
  defaults: OptimizerSettings,
): OptimizerSettings {
  return {
    lr: cli.lr ?? tune?.lr ?? defaults.lr,
    schedule: cli.schedule ?? tune?.schedule ?? defaults.schedule,
    warmup: cli.warmup ?? tune?.warmup ?? defaults.warmup,
    weightDecay: cli.weightDecay ?? tune?.weightDecay ?? defaults.weightDecay,
  };
}

/** The dataset of `--data` (and `--vocab`) for `model`; a bad data file throws a `DataError`. */
export function openTrainData(o: Pick<TrainSettings, 'data' | 'seed' | 'vocab' | 'strict'>, model: ElaboratedModel): Dataset {
  return openDataset(o.data, model, o.seed, { vocabPath: o.vocab, strict: o.strict });
}

/** The trainer settings `milec train` and `milec sweep` share, plus what differs per run. */
export function trainConfig(
  o: Pick<TrainSettings, 'steps' | 'batch' | 'lr' | 'schedule' | 'warmup' | 'weightDecay' | 'seed'>,
  run: Pick<TrainConfig, 'bindings' | 'checkpointEvery' | 'evalBatches' | 'outDir' | 'metadata'>,
): TrainConfig {
  return {
    steps: o.steps,
    batch: o.batch,
    lr: o.lr,
    schedule: { kind: o.schedule, warmup: o.warmup, total: o.steps },
    weightDecay: o.weightDecay,
    seed: o.seed,
    ...run,
  };
}

/** The backbone weights of `--weights` for `graph`'s parameters, or undefined without it; a bad file throws a `WeightsError`. */
export async function loadBackbone(
  o: Pick<TrainSettings, 'weights' | 'weightsMap' | 'allowMissing'>,
  graph: Graph,
): Promise<LoadedWeights | undefined> {
  if (!o.weights) return undefined;
  return loadWeights(weightsSources(o.weights, o.weightsMap ?? 'none'), graph.params, { allowMissing: o.allowMissing });
}

/** Where a run starts: every parameter's value, the first step, and what to tell the user. */
export interface RunStart {
  /** The parameters written before any step (the resumed trainable ones are in the trainer only). */
  readonly params: Map<string, Float32Array>;
  /** 0-based first step: 0, or the step of the `--resume` checkpoint. */
  readonly step: number;
  /** The folder resumed from. */
  readonly resumedFrom?: string;
  /** Tensors loaded from `--weights`, and from `--adapter`. */
  readonly backboneTensors?: number;
  readonly adapterTensors?: number;
  /** Notes of the weight loader (interpolated tables, ignored keys). */
  readonly notes: readonly string[];
  /**
   * The checkpoint's names of the modules `--weights` loaded (weights.ts : checkpointModuleNames),
   * which the adapter folder uses as peft's module names; absent without `--weights`.
   */
  readonly moduleNames?: ReadonlyMap<string, string | null>;
}

/**
 * Writes the starting state into `trainer`: the backbone of `--weights` (loaded before the
 * initial values are drawn, so inits derived from a weight, such as DoRA's magnitude, see
 * the loaded one), every other parameter drawn from the seed, a saved `--adapter` over them,
 * and with `--resume` the trainable parameters and AdamW moments of a training-state checkpoint.
 */
export async function startRun(
  trainer: Trainer,
  tuned: TunedModel,
  o: TrainSettings & { readonly adapter?: string; readonly resume?: string },
): Promise<RunStart> {
  const graph = trainer.backend.graph;
  const { model } = tuned;
  const tune = tuned.tune.tune ?? '(full)';
  const backbone = await loadBackbone(o, graph);
  const moduleNames = backbone && checkpointModuleNames(backbone);
  const params = initialParams(graph, o.seed, backbone?.values);
  let adapterTensors: number | undefined;
  if (o.adapter) {
    const a = await loadStartAdapter(o.adapter, tuned, tune, moduleNames);
    for (const [k, v] of a) params.set(k, v);
    adapterTensors = a.size;
  }
  trainer.load(params);
  let step = 0;
  let resumedFrom: string | undefined;
  if (o.resume) {
    const dir = existsSync(join(o.resume, 'checkpoint', 'state.json')) ? join(o.resume, 'checkpoint') : o.resume;
    const st = await loadTrainState(dir);
    const trainable = new Map(graph.params.filter((p) => p.trainable).map((p) => [p.name, p.shape as number[]]));
    checkResumable(dir, st, { model: model.name, tune, batch: o.batch, seed: o.seed, trainable });
    if (st.weights !== (o.weights ?? ''))
      throw new CheckpointError(
        dir,
        `cannot resume: it was trained from --weights ${JSON.stringify(st.weights)}, not ${JSON.stringify(o.weights ?? '')}`,
      );
    trainer.restoreState(st);
    step = st.step;
    resumedFrom = dir;
  }
  return {
    params,
    step,
    resumedFrom,
    backboneTensors: backbone?.values.size,
    adapterTensors,
    notes: backbone?.notes ?? [],
    ...(moduleNames ? { moduleNames } : {}),
  };
}

/**
 * `--adapter DIR` for `tuned`: named as the checkpoint of `--weights` names the modules (as
 * milec saves it after such a run), or else by milec's own paths (as milec saved it before,
 * or after a run without `--weights`); the error is the first layout's when neither fits.
 */
export async function loadStartAdapter(
  dir: string,
  tuned: TunedModel,
  tune: string,
  moduleNames: ReadonlyMap<string, string | null> | undefined,
): Promise<Map<string, Float32Array>> {
  try {
    return await loadAdapter(dir, adapterLayout(tuned, { tune, moduleNames }));
  } catch (e) {
    if (!moduleNames || !(e instanceof AdapterError)) throw e;
    try {
      return await loadAdapter(dir, adapterLayout(tuned, { tune }));
    } catch {
      throw e;
    }
  }
}

/**
 * `milec train`'s checkpoints, every `every` steps and after the last: the trainable weights
 * as `out/adapter.safetensors`, each followed by the full training state in `out/checkpoint/`
 * (for `--resume`).
 */
export function runCheckpoints(
  trainer: Trainer,
  tuned: TunedModel,
  o: { readonly out: string; readonly every: number; readonly weights?: string },
): NonNullable<LoopOptions['checkpoint']> {
  const info = { model: tuned.model.name, tune: tuned.tune.tune ?? '(full)', weights: o.weights };
  return { every: o.every, path: checkpointPath(o.out), after: (done) => trainer.saveState(join(o.out, 'checkpoint'), done, info) };
}

/**
 * Saves the trained parameters as the adapter folder `out/adapter/` (peft's format, or milec's
 * where peft has none) and returns it with every parameter's final value: the starting
 * ones under the trained ones. With `--weights`, `base_model_name_or_path` is the weights
 * file (weights.ts : weightsBaseModel) and the module names are the checkpoint's
 * (`start.moduleNames`); otherwise the model's name and milec's paths.
 */
export async function saveTrainedAdapter(
  trainer: Trainer,
  tuned: TunedModel,
  start: RunStart,
  o: { readonly out: string; readonly weights?: string },
): Promise<{ dir: string; params: Map<string, Float32Array> }> {
  const trained = await trainer.trainedParams();
  const dir = join(o.out, 'adapter');
  const layout = adapterLayout(tuned, {
    baseModel: o.weights ? weightsBaseModel(o.weights) : tuned.model.name,
    tune: tuned.tune.tune ?? '(full)',
    moduleNames: start.moduleNames,
  });
  await saveAdapter(dir, layout, trained);
  return { dir, params: new Map([...start.params, ...trained]) };
}

/** Parameters of a concrete graph, all and trainable (the counts `milec train` and the sweep report). */
export function parameterCounts(g: Graph): { totalParams: number; trainableParams: number } {
  const count = (ps: Graph['params']) => ps.reduce((n, p) => n + elementCount(p.shape), 0);
  return { totalParams: count(g.params), trainableParams: count(g.params.filter((p) => p.trainable)) };
}
