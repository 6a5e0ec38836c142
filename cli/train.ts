/** `milec train`: compile, open the GPU, train, checkpoint, evaluate, report. */
import cliProgress from 'cli-progress';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import { symbolicSizes } from '../compiler/backend.ts';
import type { ElaboratedModel } from '../compiler/sema/instance.ts';
import { DataError, type Dataset, openDataset } from '../runtime/data/index.ts';
import { openDevice } from '../runtime/device.ts';
import { initialParams } from '../runtime/params.ts';
import { checkpointPath, evaluate, NonFiniteLossError, type TrainConfig, Trainer } from '../runtime/train.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, checkResumable, loadTrainState } from '../runtime/checkpoint.ts';
import { AdapterError, adapterLayout, loadAdapter, saveAdapter } from '../runtime/peft-format.ts';
import { type LoadedWeights, loadWeights, type ModelParamInfo, WeightsError, weightsSources } from '../runtime/weights.ts';
import { report } from './compile.ts';
import { parseDims, UserError } from './errors.ts';
import { fileHost } from '../runtime/source-files.ts';

export interface TrainCliOptions {
  tune?: string;
  model?: string;
  data: string;
  vocab?: string;
  steps: number;
  batch: number;
  lr: number;
  schedule: 'constant' | 'cosine';
  warmup: number;
  weightDecay: number;
  seed: number;
  dim?: string[];
  logEvery: number;
  checkpointEvery: number;
  evalBatches: number;
  out: string;
  json?: boolean;
  software?: boolean;
  /** `PATH[@PREFIX][,PATH[@PREFIX]]`: backbone weights (safetensors). */
  weights?: string;
  /** Name mapping(s) for --weights: one, or one per file. */
  weightsMap?: string;
  allowMissing?: boolean;
  /** A saved adapter folder (peft or milec format) to start from. */
  adapter?: string;
  /** A run folder (or its `checkpoint/`) to continue. */
  resume?: string;
}

const numel = (shape: readonly unknown[]) => shape.reduce<number>((a, d) => a * Number(d), 1);

/** The dataset of `--data` (and `--vocab`) for `model`; a bad data file is a one-line user error. */
export function openTrainData(o: Pick<TrainCliOptions, 'data' | 'seed' | 'vocab'>, model: ElaboratedModel): Dataset {
  try {
    return openDataset(o.data, model, o.seed, { vocabPath: o.vocab });
  } catch (e) {
    if (e instanceof DataError) throw new UserError(e.message);
    throw e;
  }
}

/** The trainer settings `milec train` and `milec sweep` share, plus what differs per run. */
export function trainConfig(
  o: Pick<TrainCliOptions, 'steps' | 'batch' | 'lr' | 'schedule' | 'warmup' | 'weightDecay' | 'seed'>,
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

/** The backbone weights of `--weights` for `params`, or undefined without it; bad files are user errors. */
export async function loadBackbone(o: Pick<TrainCliOptions, 'weights' | 'weightsMap' | 'allowMissing'>, params: readonly ModelParamInfo[]): Promise<LoadedWeights | undefined> {
  if (!o.weights) return undefined;
  try {
    return await loadWeights(weightsSources(o.weights, o.weightsMap ?? 'none'), params, { allowMissing: o.allowMissing });
  } catch (e) {
    if (e instanceof WeightsError) throw new UserError(e.message);
    throw e;
  }
}

export async function trainCommand(file: string, o: TrainCliOptions): Promise<number> {
  const fe = compileFrontEnd({ host: fileHost(), file, tune: o.tune, model: o.model, training: true });
  if (report(fe)) return 1;
  const inf = compileFrontEnd({ host: fileHost(), file, tune: o.tune, model: o.model, training: false });
  if (report(inf)) return 1;
  const { model, train } = fe.result!;
  const bindings = parseDims(o.dim, o.batch);
  const missing = symbolicSizes(train!).filter((s) => !(s in bindings));
  if (missing.length) throw new UserError(`bind the symbolic size${missing.length > 1 ? 's' : ''} ${missing.join(', ')} with --dim NAME=SIZE`);
  const data = openTrainData(o, model);
  const ckpt = checkpointPath(o.out);
  const cfg = trainConfig(o, {
    bindings,
    checkpointEvery: o.checkpointEvery,
    evalBatches: o.evalBatches,
    outDir: o.out,
    metadata: { model: model.name, tune: fe.result!.tune.tune ?? '(full)', source: file, seed: String(o.seed) },
  });
  const params = train!.params;
  const totalParams = params.reduce((n, p) => n + numel(p.shape), 0);
  const trainableParams = params.filter((p) => p.trainable).reduce((n, p) => n + numel(p.shape), 0);

  const ctx = await openDevice({ preferSoftware: o.software });
  const log = (s: string) => process.stderr.write(s + '\n');
  let trainer: Trainer | undefined;
  try {
    const compileStart = performance.now();
    trainer = await Trainer.create(ctx, train!, cfg);
    const tuneName = fe.result!.tune.tune ?? '(full)';
    // Loaded before the initial values are drawn, so inits derived from a weight (DoRA's
    // magnitude) see the loaded one, and no parameter is drawn only to be replaced.
    const w = await loadBackbone(o, trainer.backend.graph.params);
    const initial = initialParams(trainer.backend.graph, o.seed, w?.values);
    if (w && !o.json) log(`milec: loaded ${w.values.size} tensors from ${o.weights}`);
    for (const n of w?.notes ?? []) log(`  ${n}`);
    try {
      if (o.adapter) {
        const a = await loadAdapter(o.adapter, adapterLayout(model, { tune: tuneName }));
        for (const [k, v] of a) initial.set(k, v);
        if (!o.json) log(`milec: loaded adapter ${o.adapter} (${a.size} tensors)`);
      }
    } catch (e) {
      if (e instanceof WeightsError || e instanceof AdapterError) throw new UserError(e.message);
      throw e;
    }
    trainer.load(initial);
    let startStep = 0;
    if (o.resume) {
      const dir = existsSync(join(o.resume, 'checkpoint', 'state.json')) ? join(o.resume, 'checkpoint') : o.resume;
      try {
        const st = await loadTrainState(dir);
        const trainable = new Map(trainer.backend.graph.params.filter((p) => p.trainable).map((p) => [p.name, p.shape as number[]]));
        checkResumable(dir, st, { model: model.name, tune: tuneName, batch: o.batch, seed: o.seed, trainable });
        if (st.weights !== (o.weights ?? '')) throw new CheckpointError(dir, `cannot resume: it was trained from --weights ${JSON.stringify(st.weights)}, not ${JSON.stringify(o.weights ?? '')}`);
        trainer.restoreState(st);
        startStep = st.step;
      } catch (e) {
        if (e instanceof CheckpointError) throw new UserError(e.message);
        throw e;
      }
      if (startStep >= o.steps) throw new UserError(`${dir} is at step ${startStep}; --steps ${o.steps} leaves nothing to train`);
      if (!o.json) log(`milec: resuming from ${dir} at step ${startStep}`);
    }
    if (!o.json) {
      log(`milec: training ${model.name}${fe.result!.tune.tune ? ` / ${fe.result!.tune.tune}` : ''} on ${ctx.description}`);
      log(
        `  ${trainableParams.toLocaleString('en-US')} of ${totalParams.toLocaleString('en-US')} parameters trainable (${((100 * trainableParams) / totalParams).toFixed(2)}%), ` +
          `${trainer.backend.plan.steps.length} kernels, ${(trainer.backend.plan.peakBytes / 1048576).toFixed(2)} MiB on the device, data: ${data.name}`,
      );
    }
    const bar =
      !o.json && process.stderr.isTTY
        ? new cliProgress.SingleBar(
            { format: '  {bar} {value}/{total} steps | loss {loss} | {speed} steps/s', barsize: 30, hideCursor: true, clearOnComplete: false, stream: process.stderr },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
    bar?.start(o.steps, startStep, { loss: '-', speed: '-' });
    const tStart = performance.now();
    let run;
    try {
      run = await trainer.run(data, {
        from: startStep,
        to: o.steps,
        onStep: (done, loss, speed) => {
          if (done % o.logEvery === 0 || done === o.steps || done === startStep + 1) {
            if (o.json) process.stdout.write(JSON.stringify({ step: done, loss: round(loss), stepsPerSec: round(speed) }) + '\n');
            else if (!bar) log(`  step ${done}/${o.steps}  loss ${loss.toFixed(4)}  ${speed.toFixed(1)} steps/s`);
          }
          bar?.update(done, { loss: loss.toFixed(4), speed: speed.toFixed(1) });
        },
        checkpoint: {
          every: o.checkpointEvery,
          path: ckpt,
          after: (done) => trainer!.saveState(join(o.out, 'checkpoint'), done, { model: model.name, tune: tuneName, weights: o.weights }),
        },
      });
    } finally {
      bar?.stop();
    }
    const { msPerStep } = run;
    const lossFirst = run.losses[0]!;
    const lossLast = run.losses[run.losses.length - 1]!;
    const finalParams = new Map(initial);
    const trained = await trainer.trainedParams();
    for (const [k, v] of trained) finalParams.set(k, v);
    const adapterDir = join(o.out, 'adapter');
    await saveAdapter(adapterDir, adapterLayout(model, { baseModel: o.weights || model.name, tune: tuneName }), trained);
    const ev = await evaluate(ctx, inf.result!.forward, finalParams, data, cfg);
    const summary = {
      done: true,
      steps: o.steps,
      lossFirst: round(lossFirst),
      lossLast: round(lossLast),
      checkpoint: ckpt,
      adapter: adapterDir,
      state: join(o.out, 'checkpoint'),
      startStep,
      evalLoss: ev.loss === undefined ? undefined : round(ev.loss),
      accuracy: ev.accuracy === undefined ? undefined : round(ev.accuracy),
      msPerStep: round(msPerStep),
      dispatchesPerStep: trainer.executor.dispatchCount,
      trainableParams,
      totalParams,
      device: ctx.description,
      compileMs: Math.round(tStart - compileStart),
    };
    if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else {
      log(`  loss ${lossFirst.toFixed(4)} -> ${lossLast.toFixed(4)} in ${o.steps} steps (${msPerStep.toFixed(1)} ms/step, ${summary.dispatchesPerStep} dispatches/step)`);
      if (ev.accuracy !== undefined) log(`  held-out accuracy ${(100 * ev.accuracy).toFixed(1)}% (eval loss ${ev.loss?.toFixed(4)})`);
      log(`  saved trained weights to ${ckpt}`);
    }
    return 0;
  } catch (e) {
    if (e instanceof NonFiniteLossError) {
      if (o.json) process.stdout.write(JSON.stringify({ done: false, error: 'non-finite', what: e.what, step: e.step, checkpoint: e.checkpoint ?? null }) + '\n');
      throw new UserError(e.message);
    }
    throw e;
  } finally {
    trainer?.destroy();
    ctx.close();
  }
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}

export { DataError };
