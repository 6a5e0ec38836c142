/**
 * `milec eval --adapter DIR`: the weights of an adapter folder (peft's `save_pretrained`
 * layout, or milec's own where peft has no format: runtime/peft-format.ts) on top of the
 * backbone it was trained from. Unlike a `milec train` checkpoint, a peft folder records neither
 * milec's tune nor the seed of the random initial values, so the tune comes from `--tune` (or
 * from a milec-format config, which names it) and the backbone from `--weights` or the model's
 * `weights { }` block, exactly as `milec train` picks it.
 *
 * This is how an adapter trained elsewhere comes back: `train.py` of `milec export --torch`
 * writes `run/adapter/`, and a folder peft saved from the same model and tune loads the same way.
 */
import { join } from 'node:path';
import type { FrontEnd } from '../../compiler/pipeline.ts';
import { CONFIG_FILE, readAdapterConfig } from '../peft-format.ts';
import { initialParams } from '../params.ts';
import type { StartingWeights } from '../starting-weights.ts';
import { loadStartAdapter } from '../train-setup.ts';
import { checkpointModuleNames, loadWeights, weightsSources } from '../weights.ts';
import { EvalError } from './vqa.ts';

/** What the folder's config says about itself, before anything is compiled. */
export interface AdapterFolder {
  readonly dir: string;
  /** `peft_type` of `adapter_config.json` (`LORA`, `IA3`, …, `MILEC`). */
  readonly peftType: string;
  /** The tune to compile: `--tune`, else the one a milec-format config records. */
  readonly tune: string | undefined;
  /** `base_model_name_or_path`, for the start line. */
  readonly baseModel: string | undefined;
}

/** Reads `DIR/adapter_config.json`: a missing or malformed file is an `AdapterError`, a tune that contradicts a recorded one an `EvalError`. */
export async function readAdapterFolder(dir: string, tune: string | undefined): Promise<AdapterFolder> {
  const cfg = await readAdapterConfig(dir);
  if (typeof cfg.peft_type !== 'string')
    throw new EvalError(`${join(dir, CONFIG_FILE)}: no \`peft_type\` (not an adapter folder peft or milec wrote)`);
  const recorded = cfg.peft_type === 'MILEC' && typeof cfg.tune === 'string' && cfg.tune !== '(full)' ? cfg.tune : undefined;
  if (tune && recorded && tune !== recorded) throw new EvalError(`${dir} holds an adapter of tune \`${recorded}\`, not \`${tune}\``);
  if (!tune && !recorded)
    throw new EvalError(
      `${dir} is a peft ${cfg.peft_type} adapter, which does not record milec's tune: name it with --tune (the tune of the .mile file it was trained with)`,
    );
  return {
    dir,
    peftType: cfg.peft_type,
    tune: tune ?? recorded,
    baseModel: typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : undefined,
  };
}

/**
 * Every parameter of the inference graph of `fe`: the backbone of `start` (else the values drawn
 * from `seed`), under the adapter's tensors, which must be exactly the tune's (as `--adapter` of
 * `milec train` requires). Returns the values and how many tensors each source gave.
 */
export async function paramsWithAdapter(
  fe: FrontEnd,
  folder: AdapterFolder,
  start: StartingWeights,
  seed: number,
): Promise<{ params: Map<string, Float32Array>; backboneTensors: number; adapterTensors: number }> {
  const graph = fe.infer;
  const backbone = start.weights
    ? await loadWeights(weightsSources(start.weights, start.weightsMap), graph.params, { allowMissing: true })
    : undefined;
  const moduleNames = backbone && checkpointModuleNames(backbone);
  const adapter = await loadStartAdapter(folder.dir, { model: fe.model, tune: fe.tune }, folder.tune ?? '(full)', moduleNames);
  const params = initialParams(graph, seed, backbone?.values);
  for (const [name, value] of adapter) {
    if (!params.has(name)) throw new EvalError(`${folder.dir}: ${name} is not a parameter of the inference graph`);
    params.set(name, value);
  }
  return { params, backboneTensors: backbone?.values.size ?? 0, adapterTensors: adapter.size };
}
