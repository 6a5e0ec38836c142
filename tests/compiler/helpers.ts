import { compileFrontEnd, type FrontEnd } from '../../compiler/pipeline.ts';
import type { Diagnostic } from '../../core/diagnostic.ts';
import { fileHost } from '../../runtime/source-files.ts';

/** Line and column (1-based) of the `nth` occurrence of `needle` in `src`. */
export function at(src: string, needle: string, nth = 0): { line: number; col: number } {
  let idx = -1;
  for (let i = 0; i <= nth; i++) {
    idx = src.indexOf(needle, idx + 1);
    if (idx < 0) throw new Error(`needle ${JSON.stringify(needle)} not found`);
  }
  const before = src.slice(0, idx).split('\n');
  return { line: before.length, col: before[before.length - 1]!.length + 1 };
}

/** Compiles source text as if it were the file `test.mile` in the project root. */
export function compileText(
  text: string,
  opts: { tune?: string; training?: boolean } = {},
): { fe?: FrontEnd; diagnostics: readonly Diagnostic[] } {
  const r = compileFrontEnd({ host: fileHost(), file: 'test.mile', text, tune: opts.tune, training: opts.training ?? false });
  return { fe: r.result, diagnostics: r.diagnostics };
}

export function compileOk(text: string, opts: { tune?: string; training?: boolean } = {}): FrontEnd {
  const r = compileText(text, opts);
  if (!r.fe) throw new Error(`expected success, got: ${r.diagnostics.map((d) => `${d.span.line}:${d.span.col} ${d.message}`).join('; ')}`);
  return r.fe;
}
