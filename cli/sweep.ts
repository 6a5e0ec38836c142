/**
 * `milec sweep`: trains every tune of a file with the same data, seed and schedule, evaluates
 * each, and writes one comparison (sweep.md, sweep.csv, sweep.json, report.html).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileFrontEnd } from '../compiler/pipeline.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import { planTraining } from '../compiler/cost/report.ts';
import { loadProgram } from '../compiler/sema/load.ts';
import { DataError, type Dataset } from '../runtime/data/index.ts';
import { openDevice } from '../runtime/device.ts';
import { openEvalSource } from '../runtime/eval/sources.ts';
import { EvalError, type EvalSource, evaluateVqa } from '../runtime/eval/vqa.ts';
import { initialParams } from '../runtime/params.ts';
import { type LoadedWeights, WeightsError } from '../runtime/weights.ts';
import { type SweepReport, type SweepRow, sweepCsv, sweepHtml, sweepJson, sweepMarkdown } from '../runtime/report/sweep.ts';
import { loadBackbone, openTrainData, parameterCounts, trainConfig, type TrainSettings } from '../runtime/train-setup.ts';
import { NonFiniteLossError, Trainer } from '../runtime/train.ts';
import { report } from './compile.ts';
import { asUserError, boundSizes, UserError } from './errors.ts';
import { progressBar, withProgress } from './progress.ts';
import { suggestion } from '../core/diagnostic.ts';
import { fileHost } from '../runtime/source-files.ts';

/** The training options a sweep shares with `milec train`, plus its own. */
export interface SweepCliOptions extends TrainSettings {
  /** PEFT methods of `--plugin` files, with the built-ins (built-ins only when absent). */
  registry?: MethodRegistry;
  model?: string;
  dim?: string[];
  out: string;
  json?: boolean;
  software?: boolean;
  tunes?: string;
  evalData?: string;
  beams: number;
}

export async function sweepCommand(file: string, o: SweepCliOptions): Promise<number> {
  const loaded = loadProgram(fileHost(), file);
  if (report({ result: loaded.program, diagnostics: loaded.diagnostics, sources: loaded.sources })) return 1;
  const all = loaded.program!.tunes.map((t) => t.name.name);
  const tunes = o.tunes ? o.tunes.split(',').map((t) => t.trim()).filter(Boolean) : all;
  for (const t of tunes) {
    if (!all.includes(t)) throw new UserError(`no tune named \`${t}\` in ${file}${suggestion(t, all).help ? ` (${suggestion(t, all).help})` : ''}`);
  }
  if (tunes.length === 0) throw new UserError(`${file} declares no tunes to sweep`);
  const evalSpec = o.evalData ?? (o.data === 'synthetic' ? 'synthetic-vqa:64' : o.data);
  const log = (s: string) => process.stderr.write(s + '\n');

  const ctx = await openDevice({ preferSoftware: o.software });
  const rows: SweepRow[] = [];
  let data: Dataset | undefined;
  let weights: LoadedWeights | undefined;
  let evalSource: EvalSource | undefined;
  try {
    if (!o.json) log(`milec sweep: ${tunes.length} tunes × ${o.steps} steps on ${ctx.description}`);
    for (const tune of tunes) {
      const t0 = performance.now();
      const fe = compileFrontEnd({ host: fileHost(), file, tune, model: o.model, training: true, registry: o.registry });
      if (report(fe)) return 1;
      const { model, train, infer } = fe.result!;
      const bindings = boundSizes(train!, { batch: o.batch, dims: o.dim });
      const predicted = planTraining(fe.result!, { bindings }).memory.peakBytes;
      // Every tune reads the same data, opened (files read, images decoded) once.
      data ??= openTrainData(o, model);
      const cfg = trainConfig(o, {
        bindings,
        checkpointEvery: o.steps,
        evalBatches: 0,
        outDir: join(o.out, tune),
        metadata: { model: model.name, tune, source: file, seed: String(o.seed) },
      });
      const trainer = await Trainer.create(ctx, train!, cfg);
      const t1 = performance.now();
      let losses: number[] = [];
      let msPerStep = NaN;
      let diverged = false;
      let params: Map<string, Float32Array>;
      try {
        // Every tune starts from the same backbone: drawn from the seed, or loaded (--weights,
        // read once: the tunes share the base parameters), which is how the study compares
        // placements on one pretrained model.
        if (o.weights && !weights) {
          weights = await loadBackbone(o, trainer.backend.graph);
          if (!o.json) for (const n of weights?.notes ?? []) log(`  ${n}`);
        }
        params = initialParams(trainer.backend.graph, o.seed, weights?.values);
        trainer.load(params);
        mkdirSync(cfg.outDir, { recursive: true });
        const bar = progressBar(`  ${tune.padEnd(20)} {bar} {value}/{total} | loss {loss} | ETA {eta_formatted}`, o);
        bar?.start(o.steps, 0, { loss: '-' });
        try {
          const run = await trainer.run(data, {
            from: 0,
            to: o.steps,
            onStep: (done, loss) => {
              losses.push(loss);
              bar?.update(done, { loss: loss.toFixed(4) });
            },
            checkpoint: { every: o.steps, path: join(cfg.outDir, 'adapter.safetensors') },
          });
          losses = run.losses;
          msPerStep = run.msPerStep;
        } catch (e) {
          // A diverged tune is a result of the sweep (its row says so), not the end of it.
          if (!(e instanceof NonFiniteLossError)) throw e;
          diverged = true;
          losses.push(NaN);
        } finally {
          bar?.stop();
        }
        for (const [k, v] of await trainer.trainedParams()) params.set(k, v);
      } finally {
        trainer.destroy();
      }
      const measured = trainer.backend.plan.peakBytes;
      let acc: { open: number | null; closed: number | null; global: number | null } = { open: null, closed: null, global: null };
      let t2 = performance.now();
      if (!diverged) {
        // The tunes share the model's inputs, so the eval items are read once too.
        evalSource ??= openEvalSource(evalSpec, infer, model, o.seed, o.vocab);
        const source = evalSource;
        const evalBindings = boundSizes(infer, { dims: o.dim });
        t2 = performance.now();
        const evaluated = await withProgress(`${tune.padEnd(20)} evaluating`, source.items.length, { json: o.json || !process.stderr.isTTY }, (onProgress) =>
          evaluateVqa(ctx, infer, params, source, { beams: o.beams, bindings: evalBindings, onProgress }),
        );
        acc = evaluated.accuracy;
      }
      const { totalParams: total, trainableParams: trainable } = parameterCounts(trainer.backend.graph);
      const row: SweepRow = {
        tune,
        trainableParams: trainable,
        totalParams: total,
        trainablePercent: (100 * trainable) / total,
        predictedPeakBytes: predicted,
        measuredPeakBytes: measured,
        msPerStep,
        steps: losses.length,
        open: acc.open ?? undefined,
        closed: acc.closed ?? undefined,
        global: acc.global ?? undefined,
        losses,
      };
      rows.push(row);
      // Where a tune's wall time went: compiling (front end, kernels, pipelines), training, evaluating.
      const seconds = { compile: (t1 - t0) / 1000, train: (t2 - t1) / 1000, eval: (performance.now() - t2) / 1000 };
      if (o.json) process.stdout.write(JSON.stringify({ ...row, losses: undefined, lossFirst: losses[0], lossLast: losses[losses.length - 1], diverged, seconds }) + '\n');
      else log(`  ${tune}: loss ${losses[0]?.toFixed(3)} -> ${losses[losses.length - 1]?.toFixed(3)}${diverged ? ' (diverged)' : ''}, global ${row.global === undefined ? '–' : (100 * row.global).toFixed(1) + '%'}, ${row.msPerStep.toFixed(0)} ms/step; ${seconds.compile.toFixed(1)} s compiling, ${seconds.train.toFixed(1)} s training, ${seconds.eval.toFixed(1)} s evaluating`);
    }
  } catch (e) {
    throw asUserError(e, [DataError, WeightsError, EvalError]);
  } finally {
    ctx.close();
  }
  const rep: SweepReport = { title: `milec sweep: ${file}`, source: file, data: `${o.data} (eval: ${evalSpec})${o.weights ? `; every tune from --weights ${o.weights}` : ''}`, device: ctx.description, rows };
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'sweep.md'), sweepMarkdown(rep));
  writeFileSync(join(o.out, 'sweep.csv'), sweepCsv(rep));
  writeFileSync(join(o.out, 'sweep.json'), sweepJson(rep));
  writeFileSync(join(o.out, 'report.html'), sweepHtml(rep));
  if (o.json) process.stdout.write(JSON.stringify({ done: true, tunes: rows.length, out: o.out }) + '\n');
  else process.stdout.write(sweepMarkdown(rep) + `\nwrote sweep.md, sweep.csv, sweep.json and report.html to ${o.out}\n`);
  return 0;
}
