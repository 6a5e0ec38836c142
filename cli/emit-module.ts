/**
 * The typed TypeScript module written by `milec compile -o DIR` (`DIR/<Model>.ts`). Loaded
 * lazily by cli/compile.ts, since ts-morph takes a while to import.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { PACKAGE_ROOT } from '../runtime/package-root.ts';
import { emitTypeScriptModule, moduleFileName } from '../compiler/emit/typescript.ts';
import { compileFrontEnd, type FrontEnd } from '../compiler/pipeline.ts';
import { fileHost } from '../runtime/source-files.ts';

/** The milec checkout this CLI runs from. */
const repoRoot = PACKAGE_ROOT;

/** Import path from `dir` to the checkout root, POSIX-style (`../..`, or `.`). */
export function runtimeBaseFrom(dir: string): string {
  const rel = relative(resolve(dir), repoRoot).split(sep).join('/');
  if (rel === '') return '.';
  return rel.startsWith('.') || rel.startsWith('/') ? rel : `./${rel}`;
}

/**
 * Writes the module for `fe` (the graph `compile` built) into `dir`, compiling the other of
 * training/inference as needed. A model that cannot train gets an inference-only module.
 */
export function writeTypedModule(file: string, o: { tune?: string; model?: string }, fe: FrontEnd, dir: string): string {
  const train = fe.train ?? compileFrontEnd({ host: fileHost(), file, tune: o.tune, model: o.model, training: true }).result?.train;
  const forward = fe.train ? compileFrontEnd({ host: fileHost(), file, tune: o.tune, model: o.model, training: false }).result?.forward : fe.forward;
  if (!forward) throw new Error(`internal: ${file} compiled for training but not for inference`);
  const text = emitTypeScriptModule({
    model: fe.model.name,
    tune: fe.tune.tune ?? null,
    source: file,
    train,
    forward,
    runtimeBase: runtimeBaseFrom(dir),
    command: `milec compile ${file}${o.tune ? ` --tune ${o.tune}` : ''}${o.model ? ` --model ${o.model}` : ''} -o ${dir}`,
  });
  mkdirSync(dir, { recursive: true });
  const path = join(dir, moduleFileName(fe.model.name));
  writeFileSync(path, text);
  return path;
}
