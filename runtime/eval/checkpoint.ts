/**
 * The weights `milec eval` evaluates: the deterministic initial values (runtime/params.ts,
 * seeded from the checkpoint's metadata when it records one) overwritten by every tensor of
 * the checkpoint that `milec train` saved (its trainable parameters), named in either spelling
 * of core/param-path.ts (dotted since it became the one users see; brackets before).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '../../compiler/ir/graph.ts';
import { displayPath, internalPath } from '../../core/param-path.ts';
import { initialParams } from '../params.ts';
import { readSafetensors, type SafetensorsFile } from '../safetensors.ts';
import { EvalError } from './vqa.ts';

export interface EvalCheckpoint {
  /** The safetensors file read. */
  readonly path: string;
  readonly file: SafetensorsFile;
  /** The tune to compile: the one asked for, else the one the checkpoint records (undefined: a full fine-tune). */
  readonly tune: string | undefined;
  /** The model it was trained on, when recorded. */
  readonly model: string | undefined;
  /** The seed of its initial values, when recorded. */
  readonly seed: number | undefined;
  /**
   * The backbone it was trained from, in `--weights` form (undefined: the random initial values,
   * also for checkpoints that predate the record), and its mapping.
   */
  readonly weights: string | undefined;
  readonly weightsMap: string;
}

/**
 * Reads a checkpoint of `milec train`: `path` is the file or the run folder holding
 * `adapter.safetensors`. A `tune` other than the recorded one is an `EvalError`; a malformed
 * file a `FormatError`.
 */
export async function readEvalCheckpoint(path: string, tune?: string): Promise<EvalCheckpoint> {
  if (existsSync(path) && statSync(path).isDirectory()) path = join(path, 'adapter.safetensors');
  if (!existsSync(path)) throw new EvalError(`checkpoint ${path} does not exist`);
  const file = await readSafetensors(path);
  const meta = file.metadata;
  const recorded = meta.tune && meta.tune !== '(full)' ? meta.tune : undefined;
  if (tune && recorded && recorded !== tune) throw new EvalError(`${path} was trained with tune \`${meta.tune}\`, not \`${tune}\``);
  return {
    path,
    file,
    tune: tune ?? recorded,
    model: meta.model || undefined,
    seed: meta.seed !== undefined ? Number(meta.seed) : undefined,
    weights: meta.weights || undefined,
    weightsMap: meta.weights_map || 'none',
  };
}

/**
 * Every parameter of `graph`: the `backbone` values it was trained from (else drawn from `seed`),
 * then overwritten by the checkpoint's tensors (which must all belong to `graph`).
 */
export function paramsWithCheckpoint(
  graph: Graph,
  ckpt: EvalCheckpoint,
  seed: number,
  backbone?: ReadonlyMap<string, Float32Array>,
): Map<string, Float32Array> {
  const { path, file } = ckpt;
  const params = initialParams(graph, seed, backbone);
  const unknown: string[] = [];
  const byPath = new Map(graph.params.map((p) => [p.name, p]));
  for (const key of file.names) {
    const t = file.tensors[key]!;
    const p = byPath.get(internalPath(key));
    const name = displayPath(key);
    if (!p) {
      unknown.push(name);
      continue;
    }
    const want = p.shape.map(Number);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i]))
      throw new EvalError(`${path}: tensor ${name} has shape [${t.shape.join(', ')}], the model's is [${want.join(', ')}]`);
    if (!(t.data instanceof Float32Array)) throw new EvalError(`${path}: tensor ${name} is ${t.dtype}, not a float tensor`);
    params.set(p.name, t.data);
  }
  if (unknown.length)
    throw new EvalError(
      `${path}: ${unknown.length} tensor${unknown.length > 1 ? 's' : ''} the model does not have: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''} (wrong --tune?)`,
    );
  return params;
}
