/**
 * `milec train`: compile, open the GPU, train, checkpoint, evaluate, report. The run on the
 * device (trainer, starting state, loop, adapter, summary record) is runtime/train-run.ts and
 * the held-out evaluation runtime/eval/held-out.ts; this file compiles, calls and prints.
 */
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import type { ConfigOverrides } from '../compiler/sema/elaborate.ts';
import type { ElaboratedModel } from '../compiler/sema/instance.ts';
import { CheckpointError } from '../runtime/checkpoint.ts';
import { type Dataset, DataError } from '../runtime/data/index.ts';
import { openDevice } from '../runtime/device.ts';
import { evaluateHeldOut } from '../runtime/eval/held-out.ts';
import { AdapterError } from '../runtime/peft-format.ts';
import { stepRecord, type TrainedLoop, type TrainRecord, TrainRun } from '../runtime/train-run.ts';
import {
  describeOptimizer,
  type OptimizerSettings,
  openTrainData,
  resolveOptimizer,
  TRAIN_OPTIMIZER_DEFAULTS,
  type TrainSettings,
} from '../runtime/train-setup.ts';
import { NonFiniteLossError } from '../runtime/train.ts';
import { WeightsError } from '../runtime/weights.ts';
import { type StartingWeights, startingWeights, weightsNote, withWeightsOrigin } from '../runtime/starting-weights.ts';
import { compileFile, report } from './compile.ts';
import { asUserError, boundSizes, UserError } from './errors.ts';
import { progressBar, withProgress } from './progress.ts';

/** `--lr`, `--weight-decay`, `--schedule` and `--warmup` are undefined when not given: the tune's `optimizer { ... }` or the defaults apply. */
export interface TrainCliOptions extends Omit<TrainSettings, keyof OptimizerSettings>, Partial<OptimizerSettings> {
  /** PEFT methods of `--plugin` files, with the built-ins (built-ins only when absent). */
  registry?: MethodRegistry;
  tune?: string;
  model?: string;
  /** `--config name=value`: config values replacing the model's own. */
  config?: ConfigOverrides;
  dim?: string[];
  logEvery: number;
  checkpointEvery: number;
  /** Held-out batches evaluated after training; 0 skips the evaluation. */
  evalBatches: number;
  out: string;
  json?: boolean;
  software?: boolean;
  /** A saved adapter folder (peft or milec format) to start from. */
  adapter?: string;
  /** A run folder (or its `checkpoint/`) to continue. */
  resume?: string;
  /** Also write the model's own parameters after training to this safetensors file (`TrainRun.saveWeights`). */
  saveWeights?: string;
}

/**
 * The options once the optimizer settings are resolved (command line, else the tune's, else the
 * defaults) and the starting weights chosen (`--weights`, else the model's `weights { ... }`).
 */
type ResolvedTrainOptions = TrainCliOptions & OptimizerSettings & { weightsOrigin: StartingWeights };

/** The runtime's errors about the user's files and data, printed as one line. */
const USER_FACING = [DataError, WeightsError, AdapterError, CheckpointError];

export async function trainCommand(file: string, cli: TrainCliOptions): Promise<number> {
  const fe = compileFile(file, cli, true);
  if (report(fe)) return 1;
  const tuned = fe.result!;
  const start = startingWeights(cli, tuned.model);
  const o: ResolvedTrainOptions = {
    ...cli,
    ...resolveOptimizer(cli, tuned.tune.optimizer, TRAIN_OPTIMIZER_DEFAULTS),
    weights: start.weights,
    weightsMap: start.weightsMap,
    weightsOrigin: start,
  };
  const bindings = boundSizes(tuned.train!, { batch: o.batch, dims: o.dim });
  const data = openData(o, tuned.model);

  let run: TrainRun | undefined;
  const ctx = await openDevice({ preferSoftware: o.software });
  try {
    run = await TrainRun.open(ctx, tuned, { source: file, bindings }, o);
    announceStart(run, data, ctx.description, o);
    const loop = await trainWithProgress(run, data, o);
    const adapter = await run.saveAdapter();
    if (o.saveWeights) {
      const n = await run.saveWeights(o.saveWeights, adapter.params, loop, commandLine());
      if (!o.json) log(`milec: wrote ${n} tensors of ${tuned.model.name} to ${o.saveWeights}`);
    }
    const ev = await withProgress(
      `evaluating ${o.evalBatches} held-out batches`,
      o.evalBatches,
      { json: o.json || o.evalBatches === 0 },
      (onProgress) =>
        evaluateHeldOut(ctx, tuned.infer, adapter.params, data, { bindings, batch: o.batch, batches: o.evalBatches, onProgress }),
    );
    printSummary(run.record(loop, adapter.dir, ev, ctx.description), loop, ev, o);
    return 0;
  } catch (e) {
    throw failure(withWeightsOrigin(e, start), o);
  } finally {
    run?.destroy();
    ctx.close();
  }
}

const log = (s: string) => process.stderr.write(s + '\n');

/** This command as typed (`milec train …`, arguments quoted where the shell needs it): recorded with --save-weights. */
function commandLine(): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);
  return ['milec', ...process.argv.slice(2)].map(quote).join(' ');
}

/** The dataset of `--data`; a bad data file is a one-line error. */
function openData(o: ResolvedTrainOptions, model: ElaboratedModel): Dataset {
  try {
    return openTrainData(o, model);
  } catch (e) {
    throw asUserError(e, USER_FACING);
  }
}

/**
 * What the run starts from, what it trains and with which optimizer settings, on stderr (the weight loader's notes even
 * with `--json`). A resumed run with no steps left stops here, after its loads are reported.
 */
function announceStart(run: TrainRun, data: Dataset, device: string, o: ResolvedTrainOptions): void {
  const { start, tuned } = run;
  if (start.backboneTensors !== undefined && !o.json)
    log(`milec: loaded ${start.backboneTensors} tensors from ${o.weights}${weightsNote(o.weightsOrigin)}`);
  for (const n of start.notes) log(`  ${n}`);
  if (start.adapterTensors !== undefined && !o.json) log(`milec: loaded adapter ${o.adapter} (${start.adapterTensors} tensors)`);
  if (start.resumedFrom) {
    if (start.step >= o.steps)
      throw new UserError(`${start.resumedFrom} is at step ${start.step}; --steps ${o.steps} leaves nothing to train`);
    if (!o.json) log(`milec: resuming from ${start.resumedFrom} at step ${start.step}`);
  }
  if (o.json) return;
  const { totalParams, trainableParams } = run.counts;
  const { plan } = run.trainer.backend;
  log(`milec: training ${tuned.model.name}${tuned.tune.tune ? ` / ${tuned.tune.tune}` : ''} on ${device}`);
  log(
    `  ${trainableParams.toLocaleString('en-US')} of ${totalParams.toLocaleString('en-US')} parameters trainable (${((100 * trainableParams) / totalParams).toFixed(2)}%), ` +
      `${plan.steps.length} kernels, ${(plan.peakBytes / 1048576).toFixed(2)} MiB on the device, data: ${data.name}`,
  );
  log(`  optimizer: AdamW, ${describeOptimizer(o, true)}`);
}

/**
 * Runs the loop with a progress bar on a terminal; every `--log-every` steps (and the first
 * and last) a JSON line with `--json`, else, without a bar, a line on stderr.
 */
function trainWithProgress(run: TrainRun, data: Dataset, o: ResolvedTrainOptions): Promise<TrainedLoop> {
  const first = run.start.step + 1;
  const bar = progressBar('  {bar} {value}/{total} steps | loss {loss} | {speed} steps/s | ETA {eta_formatted}', o);
  bar?.start(o.steps, run.start.step, { loss: '-', speed: '-' });
  const onStep = (done: number, loss: number, speed: number) => {
    if (done % o.logEvery === 0 || done === o.steps || done === first) {
      if (o.json) process.stdout.write(JSON.stringify(stepRecord(done, loss, speed)) + '\n');
      else if (!bar) log(`  step ${done}/${o.steps}  loss ${loss.toFixed(4)}  ${speed.toFixed(1)} steps/s`);
    }
    bar?.update(done, { loss: loss.toFixed(4), speed: speed.toFixed(1) });
  };
  return run.train(data, onStep).finally(() => bar?.stop());
}

/** The record as a JSON line with `--json`; else the losses, speed and accuracy (unrounded) on stderr. */
function printSummary(record: TrainRecord, loop: TrainedLoop, ev: { accuracy?: number; loss?: number }, o: TrainCliOptions): void {
  if (o.json) {
    process.stdout.write(JSON.stringify(record) + '\n');
    return;
  }
  const [lossFirst, lossLast] = [loop.losses[0]!, loop.losses[loop.losses.length - 1]!];
  log(
    `  loss ${lossFirst.toFixed(4)} -> ${lossLast.toFixed(4)} in ${o.steps} steps (${loop.msPerStep.toFixed(1)} ms/step, ${loop.dispatchesPerStep} dispatches/step)`,
  );
  if (ev.accuracy !== undefined) log(`  held-out accuracy ${(100 * ev.accuracy).toFixed(1)}% (eval loss ${ev.loss?.toFixed(4)})`);
  log(`  saved trained weights to ${record.checkpoint}`);
}

/** The error to throw for `e`: a diverged run (also as a JSON line with `--json`) and the runtime's file errors as one line. */
function failure(e: unknown, o: TrainCliOptions): unknown {
  if (!(e instanceof NonFiniteLossError)) return asUserError(e, USER_FACING);
  if (o.json)
    process.stdout.write(
      JSON.stringify({ done: false, error: 'non-finite', what: e.what, step: e.step, checkpoint: e.checkpoint ?? null }) + '\n',
    );
  return new UserError(e.message);
}
