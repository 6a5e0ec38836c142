/** `milec check` and `milec compile`. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMile } from '../grammar/parse.ts';
import { buildBackend, printShaders } from '../compiler/backend.ts';
import { hasErrors } from '../core/diagnostic.ts';
import { elementCount } from '../core/dim.ts';
import { renderDiagnostics } from '../core/render.ts';
import { printGraph } from '../compiler/ir/print.ts';
import { pictureDot } from '../compiler/picture/dot.ts';
import { modelPicture } from '../compiler/picture/model-picture.ts';
import { compileFrontEnd, type FrontEnd, type StageResult } from '../compiler/pipeline.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import type { ConfigOverrides } from '../compiler/sema/elaborate.ts';
import { printPlan } from '../compiler/plan/buffers.ts';
import { printAst } from './ast-print.ts';
import { boundSizes, UserError } from './errors.ts';
import { readFileSync, existsSync } from 'node:fs';
import { fileHost } from '../runtime/source-files.ts';

export const emitKinds = ['ast', 'ir', 'grad', 'wgsl', 'plan', 'graph'] as const;
export type EmitKind = (typeof emitKinds)[number];

/** Prints diagnostics; returns true when there were errors. */
export function report<T>(r: StageResult<T>): r is StageResult<T> & { result: undefined } {
  if (r.diagnostics.length) process.stderr.write(renderDiagnostics(r.diagnostics, r.sources) + '\n');
  const failed = hasErrors(r.diagnostics) || r.result === undefined;
  if (failed) {
    const n = r.diagnostics.filter((d) => d.severity === 'error').length;
    process.stderr.write(`\n${n} error${n === 1 ? '' : 's'}\n`);
  }
  return failed;
}

/** What every compiling command passes on to the front end: `--tune`, `--model`, `--config`, `--plugin`'s methods. */
export interface FrontEndCliOptions {
  tune?: string;
  model?: string;
  config?: ConfigOverrides;
  registry?: MethodRegistry;
}

/** `compileFrontEnd` on a file on disk with a command's options. */
export function compileFile(file: string, o: FrontEndCliOptions, training: boolean): StageResult<FrontEnd> {
  return compileFrontEnd({ host: fileHost(), file, tune: o.tune, model: o.model, config: o.config, training, registry: o.registry });
}

export function checkCommand(file: string, o: FrontEndCliOptions): number {
  const r = compileFile(file, o, false);
  if (report(r)) return 1;
  const fe = r.result!;
  const params = fe.forward.params;
  const trainable = params.filter((p) => p.trainable);
  const count = (ps: typeof params) => ps.reduce((n, p) => n + elementCount(p.shape), 0);
  process.stdout.write(
    `${file}: ok — model ${fe.model.name}${fe.tune.tune ? `, tune ${fe.tune.tune}` : ''}: ${count(params).toLocaleString('en-US')} parameters, ` +
      `${count(trainable).toLocaleString('en-US')} trainable\n`,
  );
  return 0;
}

/** The options of `milec compile`, as parsed. */
export interface CompileCliOptions {
  tune?: string;
  model?: string;
  config?: ConfigOverrides;
  emit?: EmitKind;
  batch: number;
  dim?: string[];
  eval?: boolean;
  out?: string;
  target?: 'gpu' | 'cpu';
}

export async function compileCommand(file: string, o: CompileCliOptions & { registry?: MethodRegistry }): Promise<number> {
  if (o.emit === 'ast') {
    if (!existsSync(file)) throw new UserError(`cannot read ${file}: no such file`);
    const text = readFileSync(file, 'utf8');
    const { ast, diagnostics } = parseMile(text, file);
    if (report({ result: ast, diagnostics, sources: new Map([[file, text]]) })) return 1;
    process.stdout.write(printAst(ast) + '\n');
    return 0;
  }
  // `--emit ir` shows the forward (inference) graph and `--emit graph` the model picture, so they also work for models without a loss.
  const training = !o.eval && o.emit !== 'ir' && o.emit !== 'graph';
  let r = compileFile(file, o, training);
  // `-o` of a model that cannot train (no `loss`, nothing trainable) writes an inference module, as `--eval` does.
  if (training && o.out && o.emit !== 'grad' && r.diagnostics.length > 0 && r.diagnostics.every((d) => d.code === 'train')) {
    process.stderr.write(`note: ${r.diagnostics.map((d) => d.message).join('; ')}: writing an inference module\n`);
    r = compileFile(file, o, false);
  }
  if (report(r)) return 1;
  const fe = r.result!;
  const graph = fe.train ?? fe.forward;
  if (o.emit === 'ir') {
    process.stdout.write(printGraph(fe.forward) + '\n');
    return 0;
  }
  if (o.emit === 'graph') {
    process.stdout.write(pictureDot(modelPicture(fe.model, fe.tune)));
    return 0;
  }
  if (o.emit === 'grad') {
    if (!fe.train) throw new UserError('--emit grad needs a training graph (drop --eval)');
    process.stdout.write(printGraph(fe.train) + '\n');
    return 0;
  }
  const bindings = boundSizes(graph, { batch: o.batch, dims: o.dim });
  const be = buildBackend(graph, bindings, { target: o.target });
  if (o.emit === 'wgsl') process.stdout.write(printShaders(be) + '\n');
  if (o.emit === 'plan') process.stdout.write(printPlan(be.plan) + '\n');
  if (o.out) {
    mkdirSync(join(o.out, 'kernels'), { recursive: true });
    for (const s of be.shaders) writeFileSync(join(o.out, 'kernels', `k${String(s.kernel).padStart(4, '0')}.wgsl`), s.code);
    writeFileSync(join(o.out, 'plan.txt'), printPlan(be.plan) + '\n');
    writeFileSync(join(o.out, 'ir.txt'), printGraph(graph) + '\n');
    // The typed TypeScript module (ts-morph is imported only here: it is slow to load).
    const { writeTypedModule } = await import('./emit-module.ts');
    const mod = writeTypedModule(file, o, fe, o.out);
    process.stdout.write(`wrote ${be.shaders.length} kernels, the plan and ${mod} to ${o.out}\n`);
  }
  if (!o.emit && !o.out) {
    process.stdout.write(
      `${file}: ${be.shaders.length} kernels, ${be.plan.buffers.length} buffers, peak ${(be.plan.peakBytes / 1024).toFixed(1)} KiB at batch ${o.batch}\n`,
    );
  }
  return 0;
}
