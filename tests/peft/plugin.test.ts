/** The TypeScript plugin example (examples/plugins/ssf.ts), registered through MethodRegistry. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { builtinMethods, MethodRegistry } from '../../compiler/peft/registry.ts';
import { ssf } from '../../examples/plugins/ssf.ts';
import {
  addedCount,
  B,
  compile,
  expectClose,
  gradCheck,
  initParams,
  linearInputs,
  linearModel,
  linearRows,
  perFeature,
  randomParams,
  run,
} from './helpers.ts';
import { fileHost } from '../../runtime/source-files.ts';

const registry = new MethodRegistry([...builtinMethods, ssf]);
const text = linearModel(`
tune ssf for L1 { ssf() on lin }
tune scale_only for L1 { ssf(shift = false) on lin }
tune with_lora for L1 {
  lora(r = 2) on lin
  ssf() on lin
}
`);

describe('a plugin method (SSF)', () => {
  it('is unknown without registration, with a located error', () => {
    const r = compileFrontEnd({ host: fileHost(), file: 'test.mile', text, tune: 'ssf', training: true });
    expect(r.result).toBeUndefined();
    expect(r.diagnostics[0]!.message).toBe('unknown PEFT method `ssf`');
    const line = text.split('\n').findIndex((l) => l.startsWith('tune ssf')) + 1;
    expect([r.diagnostics[0]!.span.line, r.diagnostics[0]!.span.col]).toEqual([line, 'tune ssf for L1 { '.length + 1]);
  });

  it('registered, it rewrites its sites: γ ⊙ base(x) + β', () => {
    const fe = compile(text, 'ssf', { registry });
    expect(addedCount(fe, 'ssf')).toBe(2 * 4);
    expect(addedCount(compile(text, 'scale_only', { registry }), 'ssf')).toBe(4);
    const inputs = linearInputs();
    const p = randomParams(fe.forward, 1, { B });
    const base = linearRows(inputs.get('x')!, B * 3, p.get('lin.weight')!, 4, p.get('lin.bias')!);
    const want = perFeature(
      perFeature(base, p.get('lin.ssf_scale')!, (y, g) => y * g),
      p.get('lin.ssf_shift')!,
      (y, b) => y + b,
    );
    expectClose(run(fe.forward, { B }, p, inputs).out!, want);
    gradCheck(fe, { B }, p, inputs, (n) => n.includes('ssf_'));
  });

  it('is a no-op at initialisation and stacks with built-ins', () => {
    const inputs = linearInputs();
    const base = compile(text, 'base', { registry });
    const want = Array.from(run(base.forward, { B }, initParams(base.forward, { B }), inputs).out!);
    for (const tune of ['ssf', 'with_lora']) {
      const fe = compile(text, tune, { registry });
      expect(Array.from(run(fe.forward, { B }, initParams(fe.forward, { B }), inputs).out!)).toEqual(want);
    }
  });

  it('checks its own sites like a built-in', () => {
    const src = readFileSync('examples/tiny_classifier.mile', 'utf8') + '\ntune bad for TinyClassifier { ssf() on embed }\n';
    const r = compileFrontEnd({
      host: fileHost(),
      file: 'examples/tiny_classifier.mile',
      text: src,
      tune: 'bad',
      training: true,
      registry,
    });
    const d = r.diagnostics[0]!;
    expect(d.message).toBe('`ssf` attaches to Linear or LayerNorm sites, but `embed` is a Embedding');
    const line = src.split('\n').findIndex((l) => l.startsWith('tune bad')) + 1;
    expect([d.span.line, d.span.col]).toEqual([line, 'tune bad for TinyClassifier { ssf() on '.length + 1]);
    // The tiny example's blocks accept it: LayerNorms and Linears.
    const ok = compileFrontEnd({
      host: fileHost(),
      file: 'examples/tiny_classifier.mile',
      text: src.replace('ssf() on embed', 'ssf() on blocks.*.norm1, blocks.*.mlp.fc1'),
      tune: 'bad',
      training: true,
      registry,
    });
    expect(ok.diagnostics).toEqual([]);
  });
});
