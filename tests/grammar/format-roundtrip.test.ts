/**
 * Formatting never changes what a file means: every model file of the repository, with std,
 * compiles to the same printed IR (`milec compile --emit ir`'s `printGraph` of the forward
 * graph, with its first tune applied) before and after `formatMile`, at the default layout and
 * with a narrow `width` that splits many lines (there only the source locations in the IR move).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { printGraph } from '../../compiler/ir/print.ts';
import type { SourceHost } from '../../compiler/sema/source-host.ts';
import { formatMile } from '../../grammar/format.ts';
import { parseMile } from '../../grammar/parse.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { mileFiles } from '../../cli/fmt.ts';

/** The files host, with every `.mile` it reads (the file itself and std) passed through `formatMile` first. */
function formattingHost(width?: number): SourceHost {
  const host = fileHost();
  return {
    ...host,
    readFile: (path) => {
      const text = host.readFile(path);
      if (text === undefined || !path.endsWith('.mile')) return text;
      const r = formatMile(text, width === undefined ? {} : { width });
      expect(r.diagnostics, path).toEqual([]);
      return r.text;
    },
  };
}

/** IR of the forward graph with the file's first tune, or the diagnostics' messages when it does not compile. */
function ir(host: SourceHost, file: string): string {
  const { ast } = parseMile(readFileSync(file, 'utf8'), file);
  const tune = ast.decls.find((d) => d.kind === 'tune');
  const r = compileFrontEnd({ host, file: resolve(file), tune: tune?.kind === 'tune' ? tune.name.name : undefined, training: false });
  return r.result ? printGraph(r.result.forward) : r.diagnostics.map((d) => `${d.code}: ${d.message}`).join('\n');
}

/** Files with a model: the examples and the test fixtures written as complete programs. */
const models = mileFiles(['examples', 'tests/weights/fixtures']);

describe('compile(format(src)) has the IR of compile(src)', () => {
  it('covers the examples', () => {
    expect(models).toContain('examples/miss_tiny.mile');
  });

  it.each(models)('%s', (file) => {
    const before = ir(fileHost(), file);
    expect(before).toMatch(/param|input/);
    expect(ir(formattingHost(), file)).toBe(before);
    // Splitting lines moves the source locations the IR notes (`# std/nn.mile:7:3`), nothing else.
    const noLocations = (s: string) => s.replace(/ {2}# \S+:\d+:\d+$/gm, '');
    const narrow = ir(formattingHost(40), file);
    expect(narrow).not.toBe(before);
    expect(noLocations(narrow)).toBe(noLocations(before));
  });
});
