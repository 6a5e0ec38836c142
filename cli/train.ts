/** `milec train`: compile, open the GPU, train, checkpoint, evaluate, report. */
import { join } from 'node:path';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import { CheckpointError } from '../runtime/checkpoint.ts';
import { DataError } from '../runtime/data/index.ts';
import { openDevice } from '../runtime/device.ts';
import { evaluateHeldOut } from '../runtime/eval/held-out.ts';
import { AdapterError } from '../runtime/peft-format.ts';
import { fileHost } from '../runtime/source-files.ts';
import {
  openTrainData,
  parameterCounts,
  runCheckpoints,
  saveTrainedAdapter,
  startRun,
  trainConfig,
  type TrainSettings,
} from '../runtime/train-setup.ts';
import { NonFiniteLossError, Trainer } from '../runtime/train.ts';
import { WeightsError } from '../runtime/weights.ts';
import { report } from './compile.ts';
import { asUserError, boundSizes, UserError } from './errors.ts';
import { progressBar, withProgress } from './progress.ts';

export interface TrainCliOptions extends TrainSettings {
  /** PEFT methods of `--plugin` files, with the built-ins (built-ins only when absent). */
  registry?: MethodRegistry;
  tune?: string;
  model?: string;
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
}

/** The runtime's errors about the user's files and data, printed as one line. */
const USER_FACING = [DataError, WeightsError, AdapterError, CheckpointError];

export async function trainCommand(file: string, o: TrainCliOptions): Promise<number> {
  const fe = compileFrontEnd({ host: fileHost(), file, tune: o.tune, model: o.model, training: true, registry: o.registry });
  if (report(fe)) return 1;
  const { model, train, infer } = fe.result!;
  const tune = fe.result!.tune.tune ?? '(full)';
  const bindings = boundSizes(train!, { batch: o.batch, dims: o.dim });
  const cfg = trainConfig(o, {
    bindings,
    checkpointEvery: o.checkpointEvery,
    evalBatches: o.evalBatches,
    outDir: o.out,
    metadata: { model: model.name, tune, source: file, seed: String(o.seed) },
  });
  const log = (s: string) => process.stderr.write(s + '\n');
  let data;
  try {
    data = openTrainData(o, model);
  } catch (e) {
    throw asUserError(e, USER_FACING);
  }

  let trainer: Trainer | undefined;
  const ctx = await openDevice({ preferSoftware: o.software });
  try {
    const compileStart = performance.now();
    trainer = await Trainer.create(ctx, train!, cfg);
    const { totalParams, trainableParams } = parameterCounts(trainer.backend.graph);
    const start = await startRun(trainer, fe.result!, o);
    if (start.backboneTensors !== undefined && !o.json) log(`milec: loaded ${start.backboneTensors} tensors from ${o.weights}`);
    for (const n of start.notes) log(`  ${n}`);
    if (start.adapterTensors !== undefined && !o.json) log(`milec: loaded adapter ${o.adapter} (${start.adapterTensors} tensors)`);
    if (start.resumedFrom) {
      if (start.step >= o.steps)
        throw new UserError(`${start.resumedFrom} is at step ${start.step}; --steps ${o.steps} leaves nothing to train`);
      if (!o.json) log(`milec: resuming from ${start.resumedFrom} at step ${start.step}`);
    }
    if (!o.json) {
      log(`milec: training ${model.name}${fe.result!.tune.tune ? ` / ${fe.result!.tune.tune}` : ''} on ${ctx.description}`);
      log(
        `  ${trainableParams.toLocaleString('en-US')} of ${totalParams.toLocaleString('en-US')} parameters trainable (${((100 * trainableParams) / totalParams).toFixed(2)}%), ` +
          `${trainer.backend.plan.steps.length} kernels, ${(trainer.backend.plan.peakBytes / 1048576).toFixed(2)} MiB on the device, data: ${data.name}`,
      );
    }
    const checkpoint = runCheckpoints(trainer, fe.result!, { out: o.out, every: o.checkpointEvery, weights: o.weights });
    const bar = progressBar('  {bar} {value}/{total} steps | loss {loss} | {speed} steps/s | ETA {eta_formatted}', o);
    bar?.start(o.steps, start.step, { loss: '-', speed: '-' });
    const tStart = performance.now();
    const run = await trainer
      .run(data, {
        from: start.step,
        to: o.steps,
        onStep: (done, loss, speed) => {
          if (done % o.logEvery === 0 || done === o.steps || done === start.step + 1) {
            if (o.json) process.stdout.write(JSON.stringify({ step: done, loss: round(loss), stepsPerSec: round(speed) }) + '\n');
            else if (!bar) log(`  step ${done}/${o.steps}  loss ${loss.toFixed(4)}  ${speed.toFixed(1)} steps/s`);
          }
          bar?.update(done, { loss: loss.toFixed(4), speed: speed.toFixed(1) });
        },
        checkpoint,
      })
      .finally(() => bar?.stop());
    const dispatchesPerStep = trainer.executor.dispatchCount;
    const adapter = await saveTrainedAdapter(trainer, fe.result!, start, o);
    const ev = await withProgress(
      `evaluating ${o.evalBatches} held-out batches`,
      o.evalBatches,
      { json: o.json || o.evalBatches === 0 },
      (onProgress) => evaluateHeldOut(ctx, infer, adapter.params, data, { bindings, batch: o.batch, batches: o.evalBatches, onProgress }),
    );
    const [lossFirst, lossLast] = [run.losses[0]!, run.losses[run.losses.length - 1]!];
    const summary = {
      done: true,
      steps: o.steps,
      lossFirst: round(lossFirst),
      lossLast: round(lossLast),
      checkpoint: checkpoint.path,
      adapter: adapter.dir,
      state: join(o.out, 'checkpoint'),
      startStep: start.step,
      evalLoss: ev.loss === undefined ? undefined : round(ev.loss),
      accuracy: ev.accuracy === undefined ? undefined : round(ev.accuracy),
      msPerStep: round(run.msPerStep),
      dispatchesPerStep,
      trainableParams,
      totalParams,
      device: ctx.description,
      compileMs: Math.round(tStart - compileStart),
    };
    if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else {
      log(
        `  loss ${lossFirst.toFixed(4)} -> ${lossLast.toFixed(4)} in ${o.steps} steps (${run.msPerStep.toFixed(1)} ms/step, ${dispatchesPerStep} dispatches/step)`,
      );
      if (ev.accuracy !== undefined) log(`  held-out accuracy ${(100 * ev.accuracy).toFixed(1)}% (eval loss ${ev.loss?.toFixed(4)})`);
      log(`  saved trained weights to ${checkpoint.path}`);
    }
    return 0;
  } catch (e) {
    if (e instanceof NonFiniteLossError) {
      if (o.json)
        process.stdout.write(
          JSON.stringify({ done: false, error: 'non-finite', what: e.what, step: e.step, checkpoint: e.checkpoint ?? null }) + '\n',
        );
      throw new UserError(e.message);
    }
    throw asUserError(e, USER_FACING);
  } finally {
    trainer?.destroy();
    ctx.close();
  }
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}
