/**
 * Full training-state checkpoints, so `milec train --resume DIR` continues exactly where a run
 * stopped. A checkpoint is a folder, written atomically (`writeDirAtomic`: built under a
 * hidden name, fsynced, renamed in), holding:
 *
 *   state.json          {"format": "milec-train-state", "version": 1, "step", "seed",
 *                        "dataPosition", "rng", "batch", "lr", "weightDecay", "model", "tune",
 *                        "weights", "params": {name: shape}}
 *   params.safetensors  the trainable parameters, by parameter path (`blocks.0.attn.query.lora_A`:
 *                       the user-facing spelling, core/param-path.ts; a checkpoint written
 *                       with `blocks[0]…` paths loads too)
 *   optim.safetensors   AdamW's moments: `m.<name>` and `v.<name>` per trainable parameter
 *
 * Both safetensors files carry `step` in their metadata, which must agree with state.json (a
 * folder mixing files of two checkpoints is rejected). Frozen parameters are not stored:
 * they are the deterministic initial values (per seed) or the `--weights` files, recorded in
 * `weights`. Randomness is stateless in milec: the batch of step s is `data.batch(s)` and
 * dropout's seed is a hash of (seed, s), so `dataPosition` (the next batch index, equal to
 * `step`) and `seed` are the whole RNG state; `rng` names that scheme so a future stateful
 * generator can be told apart.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { displayPath, internalPath } from '../core/param-path.ts';
import { writeDirAtomic } from './atomic.ts';
import { encodeSafetensors, FormatError, readSafetensors, type SafetensorsFile } from './safetensors.ts';

export const STATE_FORMAT = 'milec-train-state';
export const STATE_VERSION = 1;
export const RNG_SCHEME = 'stateless-v1: batch(step), dropout seed hash(seed, step)';

export interface TrainState {
  /** Optimizer steps done. */
  step: number;
  seed: number;
  /** Index of the next training batch. */
  dataPosition: number;
  batch: number;
  lr: number;
  weightDecay: number;
  model: string;
  tune: string;
  /** The `--weights` spec the frozen parameters came from ('' = initial values). */
  weights: string;
  params: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/** A malformed, truncated or mismatched checkpoint: `${path}: ${reason}`. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** Writes `state` as the folder `dir` (replacing it atomically). */
export async function saveTrainState(dir: string, s: TrainState): Promise<void> {
  const names = [...s.params.keys()];
  const meta = { step: String(s.step), format: STATE_FORMAT };
  const params: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  const optim: typeof params = {};
  for (const n of names) {
    const shape = s.shapes.get(n)!;
    const key = displayPath(n);
    params[key] = { dtype: 'F32', shape, data: s.params.get(n)! };
    optim[`m.${key}`] = { dtype: 'F32', shape, data: s.m.get(n)! };
    optim[`v.${key}`] = { dtype: 'F32', shape, data: s.v.get(n)! };
  }
  const json = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    step: s.step,
    seed: s.seed,
    dataPosition: s.dataPosition,
    rng: RNG_SCHEME,
    batch: s.batch,
    lr: s.lr,
    weightDecay: s.weightDecay,
    model: s.model,
    tune: s.tune,
    weights: s.weights,
    params: Object.fromEntries(names.map((n) => [displayPath(n), s.shapes.get(n)!])),
  };
  await writeDirAtomic(dir, {
    'state.json': JSON.stringify(json, null, 2) + '\n',
    'params.safetensors': encodeSafetensors(params, meta),
    'optim.safetensors': encodeSafetensors(optim, meta),
  });
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Reads and fully validates a checkpoint folder; every problem names the file at fault. */
export async function loadTrainState(dir: string): Promise<TrainState> {
  const statePath = join(dir, 'state.json');
  const j = await readStateJson(statePath);
  const shapes = checkStateJson(statePath, j);
  const step = j.step as number;
  const pf = await readStateTensors(join(dir, 'params.safetensors'), step);
  const of = await readStateTensors(join(dir, 'optim.safetensors'), step);
  const { params, m, v } = stateTensors(pf, of, shapes);
  return {
    step,
    seed: j.seed as number,
    dataPosition: j.dataPosition as number,
    batch: j.batch as number,
    lr: j.lr as number,
    weightDecay: j.weightDecay as number,
    model: j.model as string,
    tune: j.tune as string,
    weights: j.weights as string,
    params,
    shapes: new Map([...shapes].map(([n, sh]) => [internalPath(n), sh])),
    m,
    v,
  };
}

/** The parsed `state.json` (not yet checked: `checkStateJson`). */
async function readStateJson(statePath: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(statePath, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(
      statePath,
      code === 'ENOENT'
        ? 'missing: not a milec training checkpoint (state.json, params.safetensors, optim.safetensors)'
        : (e as Error).message,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(statePath, `not valid JSON (${(e as Error).message})`);
  }
}

/** Checks every field of `state.json` and returns its parameter shapes, by the names written in the files. */
function checkStateJson(statePath: string, j: Record<string, unknown>): Map<string, number[]> {
  const bad = (reason: string): never => {
    throw new CheckpointError(statePath, reason);
  };
  if (j === null || typeof j !== 'object' || Array.isArray(j)) bad('not a JSON object');
  if (j.format !== STATE_FORMAT) bad(`format is ${JSON.stringify(j.format)}, expected "${STATE_FORMAT}"`);
  if (j.version !== STATE_VERSION) bad(`version ${JSON.stringify(j.version)} is not supported (this milec reads ${STATE_VERSION})`);
  for (const k of ['step', 'seed', 'dataPosition', 'batch'] as const)
    if (!isInt(j[k])) bad(`"${k}" must be a non-negative integer, got ${JSON.stringify(j[k])}`);
  for (const k of ['lr', 'weightDecay'] as const) if (typeof j[k] !== 'number' || !Number.isFinite(j[k])) bad(`"${k}" must be a number`);
  for (const k of ['model', 'tune', 'weights'] as const) if (typeof j[k] !== 'string') bad(`"${k}" must be a string`);
  if (j.rng !== RNG_SCHEME) bad(`unknown RNG scheme ${JSON.stringify(j.rng)}`);
  const ps = j.params;
  if (ps === null || typeof ps !== 'object' || Array.isArray(ps)) bad('"params" must map parameter names to shapes');
  const shapes = new Map<string, number[]>();
  for (const [n, sh] of Object.entries(ps as Record<string, unknown>)) {
    if (!Array.isArray(sh) || !sh.every(isInt)) bad(`shape of "${n}" must be a list of sizes`);
    shapes.set(n, sh as number[]);
  }
  return shapes;
}

/** One safetensors file of the checkpoint, which must have been written at `step` (the step of its `state.json`). */
async function readStateTensors(p: string, step: number): Promise<SafetensorsFile> {
  let f: SafetensorsFile;
  try {
    f = await readSafetensors(p);
  } catch (e) {
    if (e instanceof FormatError) throw new CheckpointError(p, e.reason);
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(p, code === 'ENOENT' ? 'missing' : (e as Error).message);
  }
  if (f.metadata.step !== String(step))
    throw new CheckpointError(
      p,
      `written at step ${f.metadata.step ?? '(none)'}, but state.json says step ${step}: files of different checkpoints`,
    );
  return f;
}

/**
 * The parameters (of `pf`) and AdamW moments (of `of`) of every parameter `state.json` lists,
 * by the compiler's paths; each tensor must be F32 of the listed shape, and neither file may
 * hold a tensor the list lacks.
 */
function stateTensors(
  pf: SafetensorsFile,
  of: SafetensorsFile,
  shapes: ReadonlyMap<string, number[]>,
): Pick<TrainState, 'params' | 'm' | 'v'> {
  const params = new Map<string, Float32Array>();
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  // In memory, paths are the compiler's (either spelling on disk).
  for (const [n, sh] of shapes) {
    params.set(internalPath(n), takeTensor(pf, n, sh));
    m.set(internalPath(n), takeTensor(of, `m.${n}`, sh));
    v.set(internalPath(n), takeTensor(of, `v.${n}`, sh));
  }
  const extraP = pf.names.filter((n) => !shapes.has(n));
  if (extraP.length) throw new CheckpointError(pf.path, `tensors not listed in state.json: ${extraP.join(', ')}`);
  const extraO = of.names.filter((n) => !/^[mv]\./.test(n) || !shapes.has(n.slice(2)));
  if (extraO.length) throw new CheckpointError(of.path, `tensors not listed in state.json: ${extraO.join(', ')}`);
  return { params, m, v };
}

/** The F32 data of tensor `key` of `f`, which must have `shape`. */
function takeTensor(f: SafetensorsFile, key: string, shape: number[]): Float32Array {
  const t = f.tensors[key];
  if (!t) throw new CheckpointError(f.path, `tensor "${key}" is missing`);
  if (t.dtype !== 'F32' || !(t.data instanceof Float32Array))
    throw new CheckpointError(f.path, `tensor "${key}" is ${t.dtype}, expected F32`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new CheckpointError(f.path, `tensor "${key}" has shape [${t.shape.join(', ')}], state.json says [${shape.join(', ')}]`);
  return t.data;
}

/**
 * Checks a loaded state against the run about to resume it: same model, tune, batch and
 * trainable parameters (names and shapes). Returns nothing; throws CheckpointError.
 */
export function checkResumable(
  dir: string,
  s: TrainState,
  run: { model: string; tune: string; batch: number; seed: number; trainable: ReadonlyMap<string, readonly number[]> },
): void {
  const bad = (reason: string): never => {
    throw new CheckpointError(dir, `cannot resume: ${reason}`);
  };
  if (s.model !== run.model) bad(`it is a checkpoint of model ${s.model}, not ${run.model}`);
  if (s.tune !== run.tune) bad(`it was trained with tune ${s.tune}, not ${run.tune}`);
  if (s.batch !== run.batch) bad(`it was trained with --batch ${s.batch}, not ${run.batch}`);
  if (s.seed !== run.seed) bad(`it was trained with --seed ${s.seed}, not ${run.seed}`);
  const missing = [...run.trainable.keys()].filter((n) => !s.shapes.has(n));
  const extra = [...s.shapes.keys()].filter((n) => !run.trainable.has(n));
  const shown = (ns: string[]) => ns.map(displayPath).join(', ');
  if (missing.length || extra.length)
    bad(
      `trainable parameters differ (${[missing.length ? `not in the checkpoint: ${shown(missing)}` : '', extra.length ? `not trainable here: ${shown(extra)}` : ''].filter(Boolean).join('; ')})`,
    );
  for (const [n, sh] of run.trainable) {
    const got = s.shapes.get(n)!;
    if (got.length !== sh.length || got.some((d, i) => d !== sh[i]))
      bad(`${displayPath(n)} has shape [${got.join(', ')}] in the checkpoint, [${sh.join(', ')}] here`);
  }
}
