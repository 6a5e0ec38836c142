/**
 * A model's `weights { ... }` blocks: parsed, checked at their source position (unknown block
 * word or setting with a did-you-mean, a missing `file`, a `prefix` that names no module), and
 * resolved by the runtime relative to the declaring file unless `--weights` overrides them.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startingWeights } from '../../runtime/starting-weights.ts';
import { at, compileOk, compileText } from './helpers.ts';

const model = (block: string) => `use std.nn
model M {
  config { vocab = 16, dim = 8, classes = 3 }
  input tokens: i32[B, 4]
  input labels: i32[B]
  embed = Embedding(vocab, dim)
  head  = Linear(dim, classes)
${block}
  forward {
    output logits = head(mean(embed(tokens), dim = 1))
    loss cross_entropy(logits, labels)
  }
}
`;

function firstError(src: string): { message: string; line: number; col: number; help?: string } {
  const { diagnostics } = compileText(src);
  expect(diagnostics.length).toBeGreaterThan(0);
  const d = diagnostics[0]!;
  return { message: d.message, line: d.span.line, col: d.span.col, help: d.help };
}

describe('weights { } in a model', () => {
  it('records file, map and prefix', () => {
    const fe = compileOk(
      model('  weights { file = "pre/m.safetensors", map = "none" }\n  weights { file = "head.safetensors", prefix = "head" }'),
    );
    expect(fe.model.weights.map(({ file, map, prefix }) => ({ file, map, prefix }))).toEqual([
      { file: 'pre/m.safetensors', map: 'none', prefix: '' },
      { file: 'head.safetensors', map: 'none', prefix: 'head' },
    ]);
  });

  it('a model without the block has none', () => {
    expect(compileOk(model('')).model.weights).toEqual([]);
  });

  it('a misspelt block word is located, with a did-you-mean', () => {
    const src = model('  weigths { file = "m.safetensors" }');
    const e = firstError(src);
    expect(e.message).toMatch(/unknown model block `weigths`/);
    expect({ line: e.line, col: e.col }).toEqual(at(src, 'weigths'));
    expect(e.help).toMatch(/`weights`/);
  });

  it('an unknown setting is located, with a did-you-mean', () => {
    const src = model('  weights { fiel = "m.safetensors" }');
    const e = firstError(src);
    expect(e.message).toMatch(/unknown weights setting `fiel`/);
    expect({ line: e.line, col: e.col }).toEqual(at(src, 'fiel'));
    expect(e.help).toMatch(/`file`/);
  });

  it('needs a file, given as a string', () => {
    expect(firstError(model('  weights { map = "none" }')).message).toMatch(/needs `file = "….safetensors"`/);
    const src = model('  weights { file = 3 }');
    const e = firstError(src);
    expect(e.message).toMatch(/weights setting `file` is a string/);
    expect({ line: e.line, col: e.col }).toEqual(at(src, '3 }', 1));
  });

  it('a prefix must name a module of the model', () => {
    const src = model('  weights { file = "h.safetensors", prefix = "haed" }');
    const e = firstError(src);
    expect(e.message).toMatch(/the model has no module `haed`/);
    expect(e.help).toMatch(/`head`/);
  });
});

describe('startingWeights', () => {
  const fe = compileOk(
    model('  weights { file = "pre/m.safetensors" }\n  weights { file = "h.safetensors", prefix = "head", map = "hf-bert" }'),
  );

  it("takes the model's files, relative to the declaring file, each with its prefix and mapping", () => {
    const s = startingWeights({}, fe.model);
    expect(s.origin).toBe('model');
    // compileText compiles `test.mile` in the working directory.
    expect(s.weights).toBe(`${join('pre', 'm.safetensors')},h.safetensors@head`);
    expect(s.weightsMap).toBe('none,hf-bert');
  });

  it('--weights overrides them, and --weights none starts from random values', () => {
    expect(startingWeights({ weights: 'x.safetensors', weightsMap: 'blip' }, fe.model)).toMatchObject({
      weights: 'x.safetensors',
      weightsMap: 'blip',
      origin: 'command line',
    });
    expect(startingWeights({ weights: 'none' }, fe.model)).toMatchObject({ weights: undefined, origin: 'none' });
  });

  it('an unknown mapping name fails when the weights are resolved', () => {
    const bad = compileOk(model('  weights { file = "m.safetensors", map = "hf-bret" }'));
    expect(() => startingWeights({}, bad.model)).toThrow(/unknown weights mapping "hf-bret"/);
  });
});
