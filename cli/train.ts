/** `milec train`: compile, open the GPU, train, checkpoint, evaluate, report. */
import cliProgress from 'cli-progress';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import { symbolicSizes } from '../compiler/backend.ts';
import { DataError, openDataset } from '../runtime/data/index.ts';
import { openDevice } from '../runtime/device.ts';
import { initialParams } from '../runtime/params.ts';
import { checkpointPath, evaluate, NonFiniteLossError, type TrainConfig, Trainer } from '../runtime/train.ts';
import { report } from './compile.ts';
import { parseDims, UserError } from './errors.ts';

export interface TrainCliOptions {
  tune?: string;
  model?: string;
  data: string;
  steps: number;
  batch: number;
  lr: number;
  weightDecay: number;
  seed: number;
  dim?: string[];
  logEvery: number;
  checkpointEvery: number;
  evalBatches: number;
  out: string;
  json?: boolean;
  software?: boolean;
}

const numel = (shape: readonly unknown[]) => shape.reduce<number>((a, d) => a * Number(d), 1);

export async function trainCommand(file: string, o: TrainCliOptions): Promise<number> {
  const fe = compileFrontEnd({ file, tune: o.tune, model: o.model, training: true });
  if (report(fe)) return 1;
  const inf = compileFrontEnd({ file, tune: o.tune, model: o.model, training: false });
  if (report(inf)) return 1;
  const { model, train } = fe.result!;
  const bindings = parseDims(o.dim, o.batch);
  const missing = symbolicSizes(train!).filter((s) => !(s in bindings));
  if (missing.length) throw new UserError(`bind the symbolic size${missing.length > 1 ? 's' : ''} ${missing.join(', ')} with --dim NAME=SIZE`);
  let data;
  try {
    data = openDataset(o.data, model, o.seed);
  } catch (e) {
    if (e instanceof DataError) throw new UserError(e.message);
    throw e;
  }
  const ckpt = checkpointPath(o.out);
  const cfg: TrainConfig = {
    steps: o.steps,
    batch: o.batch,
    lr: o.lr,
    weightDecay: o.weightDecay,
    seed: o.seed,
    bindings,
    checkpointEvery: o.checkpointEvery,
    evalBatches: o.evalBatches,
    outDir: o.out,
    metadata: { model: model.name, tune: fe.result!.tune.tune ?? '(full)', source: file },
  };
  const params = train!.params;
  const totalParams = params.reduce((n, p) => n + numel(p.shape), 0);
  const trainableParams = params.filter((p) => p.trainable).reduce((n, p) => n + numel(p.shape), 0);

  const ctx = await openDevice({ preferSoftware: o.software });
  const log = (s: string) => process.stderr.write(s + '\n');
  let trainer: Trainer | undefined;
  try {
    const compileStart = performance.now();
    trainer = await Trainer.create(ctx, train!, cfg);
    const initial = initialParams(trainer.backend.graph, o.seed);
    trainer.load(initial);
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
    bar?.start(o.steps, 0, { loss: '-', speed: '-' });
    let lossFirst = NaN;
    let lossLast = NaN;
    let saved: string | undefined;
    let savedStep: number | undefined;
    const t0 = performance.now();
    let tFirst = 0;
    for (let step = 0; step < o.steps; step++) {
      const loss = await trainer.step(data, step);
      if (!Number.isFinite(loss)) {
        bar?.stop();
        throw new NonFiniteLossError(step + 1, `the loss (${loss})`, saved, savedStep);
      }
      if (step === 0) {
        lossFirst = loss;
        tFirst = performance.now();
      }
      lossLast = loss;
      const done = step + 1;
      const speed = step === 0 ? 0 : step / ((performance.now() - tFirst) / 1000);
      if (done % o.logEvery === 0 || done === o.steps || step === 0) {
        if (o.json) process.stdout.write(JSON.stringify({ step: done, loss: round(loss), stepsPerSec: round(speed) }) + '\n');
        else if (!bar) log(`  step ${done}/${o.steps}  loss ${loss.toFixed(4)}  ${speed.toFixed(1)} steps/s`);
      }
      bar?.update(done, { loss: loss.toFixed(4), speed: speed.toFixed(1) });
      if (done % o.checkpointEvery === 0 || done === o.steps) {
        const bad = await trainer.saveCheckpoint(ckpt, done);
        if (bad) {
          bar?.stop();
          throw new NonFiniteLossError(done, `parameter ${bad}`, saved, savedStep);
        }
        saved = ckpt;
        savedStep = done;
      }
    }
    bar?.stop();
    const trainMs = performance.now() - t0;
    const msPerStep = o.steps > 1 ? (performance.now() - tFirst) / (o.steps - 1) : trainMs;
    const finalParams = new Map(initial);
    for (const [k, v] of await trainer.trainedParams()) finalParams.set(k, v);
    const ev = await evaluate(ctx, inf.result!.forward, finalParams, data, cfg);
    const summary = {
      done: true,
      steps: o.steps,
      lossFirst: round(lossFirst),
      lossLast: round(lossLast),
      checkpoint: ckpt,
      evalLoss: ev.loss === undefined ? undefined : round(ev.loss),
      accuracy: ev.accuracy === undefined ? undefined : round(ev.accuracy),
      msPerStep: round(msPerStep),
      dispatchesPerStep: trainer.executor.dispatchCount,
      trainableParams,
      totalParams,
      device: ctx.description,
      compileMs: Math.round(tFirst - compileStart),
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
