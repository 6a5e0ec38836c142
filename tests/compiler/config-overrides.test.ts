/**
 * `--config name=value`: a config value given from outside the file replaces the declared one
 * before later entries are evaluated (so derived values and input shapes follow), keeps the
 * declared kind, and an unknown name or a value of the wrong kind is a located error.
 */
import { describe, expect, it } from 'vitest';
import { compileFrontEnd } from '../../compiler/pipeline.ts';
import { fileHost } from '../../runtime/source-files.ts';
import { at } from './helpers.ts';

const SRC = `use std.nn
model M {
  config { vocab = 16, dim = 8, wide = dim * 2, qlen = 4, scale = 0.5, bias = true }
  input tokens: i32[B, qlen]
  input labels: i32[B]
  embed = Embedding(vocab, dim)
  head  = Linear(dim, wide, bias = bias)
  forward {
    let h = head(mean(embed(tokens), dim = 1)) * scale
    loss cross_entropy(h, labels)
  }
}
`;

function compileWith(config: Record<string, string>) {
  return compileFrontEnd({ host: fileHost(), file: 'test.mile', text: SRC, config: new Map(Object.entries(config)), training: false });
}

describe('--config overrides', () => {
  it('replaces a value; entries derived from it and input shapes follow', () => {
    const fe = compileWith({ dim: '12', qlen: '24' }).result!;
    expect(fe.model.config.get('dim')).toEqual({ kind: 'int', v: 12 });
    expect(fe.model.config.get('wide')).toEqual({ kind: 'int', v: 24 });
    expect(fe.model.inputs.find((i) => i.name === 'tokens')!.shape).toEqual(['B', 24]);
    const shapes = Object.fromEntries(fe.forward.params.map((p) => [p.name, p.shape]));
    expect(Object.values(shapes)).toContainEqual([24, 12]);
  });

  it('keeps the declared kind: floats and bools', () => {
    const fe = compileWith({ scale: '2', bias: 'false' }).result!;
    expect(fe.model.config.get('scale')).toEqual({ kind: 'float', v: 2 });
    expect(fe.model.config.get('bias')).toEqual({ kind: 'bool', v: false });
    expect(fe.forward.params.some((p) => String(p.name).endsWith('bias'))).toBe(false);
  });

  it('an unknown name is an error at the model, with a did-you-mean', () => {
    const d = compileWith({ qlem: '24' }).diagnostics[0]!;
    expect(d.message).toBe('--config qlem: `M` has no config entry `qlem`');
    expect({ line: d.span.line, col: d.span.col }).toEqual(at(SRC, 'M {'));
    expect(d.help).toMatch(/did you mean `qlen`\?/);
  });

  it('a value of the wrong kind is an error at the entry', () => {
    for (const [name, value, kind] of [
      ['qlen', '2.5', 'an int'],
      ['scale', 'big', 'a float'],
      ['bias', 'yes', 'a bool (true or false)'],
    ] as const) {
      const d = compileWith({ [name]: value }).diagnostics[0]!;
      expect(d.message).toBe(`--config ${name}=${value}: \`${name}\` is ${kind} here`);
      expect({ line: d.span.line, col: d.span.col }).toEqual(at(SRC, `${name} =`));
    }
  });
});
