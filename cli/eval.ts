/**
 * `milec eval FILE --checkpoint PATH|--adapter DIR --data SPEC`: generate answers with a trained model on
 * the GPU (inference plan, no gradient buffers) and report open, closed and global
 * exact-match accuracy; optionally write one JSON line per item.
 *
 * The weights (runtime/eval/checkpoint.ts), the data specs (runtime/eval/sources.ts, the
 * `items:` format in runtime/eval/items-file.ts) and the evaluation itself (runtime/eval/vqa.ts)
 * live in the runtime; this file parses, calls and prints.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import { DataError } from '../runtime/data/index.ts';
import { openDevice } from '../runtime/device.ts';
import { paramsWithAdapter, readAdapterFolder } from '../runtime/eval/adapter.ts';
import { paramsWithCheckpoint, readEvalCheckpoint } from '../runtime/eval/checkpoint.ts';
import { openEvalSource } from '../runtime/eval/sources.ts';
import { EvalError, evaluateVqa, isClassifierVqa } from '../runtime/eval/vqa.ts';
import { formatAccuracy } from '../runtime/metrics.ts';
import { AdapterError } from '../runtime/peft-format.ts';
import { FormatError } from '../runtime/safetensors.ts';
import { startingWeights, weightsNote, withWeightsOrigin } from '../runtime/starting-weights.ts';
import { fileHost } from '../runtime/source-files.ts';
import { loadWeights, weightsSources, WeightsError } from '../runtime/weights.ts';
import { report } from './compile.ts';
import { asUserError, boundSizes, UserError } from './errors.ts';
import { withProgress } from './progress.ts';

export interface EvalCliOptions {
  /** PEFT methods of `--plugin` files, with the built-ins (built-ins only when absent). */
  registry?: MethodRegistry;
  tune?: string;
  model?: string;
  /** A run folder or `adapter.safetensors` of `milec train`; or else: */
  checkpoint?: string;
  /** An adapter folder (peft's layout, or milec's), over `--weights` or the model's own weights. */
  adapter?: string;
  weights?: string;
  weightsMap?: string;
  data: string;
  beams: number;
  maxLen: number;
  batch: number;
  seed?: number;
  dim?: string[];
  rankClosed?: boolean;
  vocab?: string;
  /** A malformed data item is an error instead of a reported, skipped item. */
  strict?: boolean;
  json?: boolean;
  predictions?: string;
  software?: boolean;
}

/** The runtime's errors about the user's files and data, printed as one line. */
const USER_FACING = [DataError, EvalError, FormatError, WeightsError, AdapterError];

export async function evalCommand(file: string, o: EvalCliOptions): Promise<number> {
  try {
    return await evaluate(file, o);
  } catch (e) {
    throw asUserError(e, USER_FACING);
  }
}

async function evaluate(file: string, o: EvalCliOptions): Promise<number> {
  if ((o.checkpoint === undefined) === (o.adapter === undefined))
    throw new UserError('milec eval needs one of --checkpoint (a milec train run) or --adapter (an adapter folder)');
  if (o.checkpoint !== undefined && o.weights !== undefined)
    throw new UserError('--weights goes with --adapter: a checkpoint records the backbone it was trained from');
  const ckpt = o.checkpoint !== undefined ? await readEvalCheckpoint(o.checkpoint, o.tune) : undefined;
  const folder = o.adapter !== undefined ? await readAdapterFolder(o.adapter, o.tune) : undefined;
  const tune = ckpt?.tune ?? folder?.tune;
  const fe = compileFrontEnd({ host: fileHost(), file, tune, model: o.model, training: false, registry: o.registry });
  if (report(fe)) return 1;
  const { model, infer: graph } = fe.result!;
  let params: Map<string, Float32Array>;
  let seed: number;
  if (ckpt) {
    if (ckpt.model && ckpt.model !== model.name)
      throw new UserError(`${ckpt.path} was trained on model \`${ckpt.model}\`, not \`${model.name}\``);
    seed = ckpt.seed ?? o.seed ?? 0;
    // The frozen backbone the checkpoint was trained on, as its metadata records it.
    const backbone = ckpt.weights
      ? await loadWeights(weightsSources(ckpt.weights, ckpt.weightsMap), graph.params, { allowMissing: true })
      : undefined;
    params = paramsWithCheckpoint(graph, ckpt, seed, backbone?.values);
  } else {
    seed = o.seed ?? 0;
    const start = startingWeights(o, model);
    const loaded = await paramsWithAdapter(fe.result!, folder!, start, seed).catch((e) => {
      throw withWeightsOrigin(e, start);
    });
    params = loaded.params;
    if (!o.json)
      process.stderr.write(
        `milec: adapter ${folder!.dir} (${folder!.peftType}, ${loaded.adapterTensors} tensors) over ` +
          (start.weights ? `${start.weights} (${loaded.backboneTensors} tensors)${weightsNote(start)}` : `random weights (seed ${seed})`) +
          '\n',
      );
  }
  const source = openEvalSource(o.data, graph, model, seed, o.vocab, o.strict);
  // B is the evaluation's own batch (items × beams per forward).
  const bindings = boundSizes(graph, { dims: o.dim });

  const ctx = await openDevice({ preferSoftware: o.software });
  try {
    const t0 = performance.now();
    const { accuracy, predictions } = await withProgress(`evaluating ${source.items.length} items`, source.items.length, o, (onProgress) =>
      evaluateVqa(ctx, graph, params, source, {
        beams: o.beams,
        maxLen: o.maxLen,
        itemsPerBatch: o.batch,
        bindings,
        rankClosed: o.rankClosed,
        onProgress,
      }),
    );
    if (o.predictions) {
      mkdirSync(dirname(o.predictions), { recursive: true });
      writeFileSync(o.predictions, predictions.map((p) => JSON.stringify(p) + '\n').join(''));
    }
    if (o.json) {
      process.stdout.write(
        JSON.stringify({
          open: accuracy.open,
          closed: accuracy.closed,
          global: accuracy.global,
          n: accuracy.n,
          nOpen: accuracy.nOpen,
          nClosed: accuracy.nClosed,
        }) + '\n',
      );
    } else {
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      const how = isClassifierVqa(graph)
        ? `classifier head over ${source.answers?.length} answers`
        : o.beams === 1
          ? 'greedy'
          : `beam ${o.beams}`;
      process.stdout.write(
        `milec: evaluated ${model.name}${tune ? ` / ${tune}` : ''} on ${source.name} (${accuracy.n} items, ${how}, ${ctx.description}, ${s} s)\n` +
          `  open    ${formatAccuracy(accuracy.open)}  (${accuracy.nOpen} items)\n` +
          `  closed  ${formatAccuracy(accuracy.closed)}  (${accuracy.nClosed} items)\n` +
          `  global  ${formatAccuracy(accuracy.global)}  (${accuracy.n} items)\n` +
          (o.predictions ? `  predictions written to ${o.predictions}\n` : ''),
      );
    }
    return 0;
  } finally {
    ctx.close();
  }
}
