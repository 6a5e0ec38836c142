/**
 * The typed TypeScript module written by `milec compile -o DIR` (`DIR/<Model>.ts`). Loaded
 * lazily by cli/compile.ts, since ts-morph takes a while to import. The module imports the
 * runtime as `milec/runtime`, so it works wherever the project using it depends on milec.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emitTypeScriptModule, moduleFileName } from '../compiler/emit/typescript.ts';
import { compileFrontEnd, type FrontEnd } from '../compiler/pipeline.ts';
import type { MethodRegistry } from '../compiler/peft/registry.ts';
import { fileHost } from '../runtime/source-files.ts';

/**
 * Writes the module for `fe` (the front end `compile` ran) into `dir`, compiling for
 * training too when `fe` was not. A model that cannot train (no `loss`, nothing trainable)
 * gets an inference-only module.
 */
export function writeTypedModule(
  file: string,
  o: { tune?: string; model?: string; registry?: MethodRegistry },
  fe: FrontEnd,
  dir: string,
): string {
  const train =
    fe.train ??
    compileFrontEnd({ host: fileHost(), file, tune: o.tune, model: o.model, training: true, registry: o.registry }).result?.train;
  const text = emitTypeScriptModule({
    model: fe.model.name,
    tune: fe.tune.tune ?? null,
    source: file,
    train,
    forward: fe.infer,
    command: `milec compile ${file}${o.tune ? ` --tune ${o.tune}` : ''}${o.model ? ` --model ${o.model}` : ''} -o ${dir}`,
  });
  mkdirSync(dir, { recursive: true });
  const path = join(dir, moduleFileName(fe.model.name));
  writeFileSync(path, text);
  return path;
}
