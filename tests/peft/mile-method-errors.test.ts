/**
 * Invalid `.mile` methods and their uses: each is reported once, at the exact source position
 * (inside the method where the mistake is there), with a message a user can act on.
 */
import { describe, expect, it } from 'vitest';
import { renderDiagnostic } from '../../core/render.ts';
import { at, compileText } from '../compiler/helpers.ts';

const model = (methods: string, tune = 'my_lora(r = 2) on lin') => `use std.nn
${methods}
model L1 {
  input x: f32[B, 3, 5]
  input y: f32[B, 3, 4]
  lin = Linear(5, 4)
  forward {
    output out = lin(x)
    loss mean((out - y) * (out - y))
  }
}
tune t for L1 {
  ${tune}
}
`;

const lora = `method my_lora(r: int = 8, alpha: float = 8, dropout: float = 0.0) on Linear(in, out) {
  param A: f32[r, in]  = kaiming_uniform(a = sqrt(5))
  param B: f32[out, r] = zeros
  rewrite(x) { base(x) + (alpha / r) * (dropout(x, dropout) @ A^T @ B^T) }
}`;

interface Case {
  name: string;
  src: string;
  message: string | RegExp;
  /** Text whose first character the diagnostic must point at (nth occurrence). */
  where: string;
  nth?: number;
  help?: string | RegExp;
  /** The message of a note, when the error is inside a method used by a tune. */
  note?: string;
  training?: boolean;
}

const cases: Case[] = [
  {
    name: 'unknown site type',
    src: model(lora.replace('on Linear(in, out)', 'on Linaer(in, out)')),
    message: 'unknown site type `Linaer`',
    where: 'Linaer',
    help: 'did you mean `Linear`?',
  },
  {
    name: 'site type that is a model',
    src: model(lora.replace('on Linear(in, out)', 'on L1(in, out)')),
    message: 'unknown site type `L1` (a model, not a module)',
    where: 'L1(in',
  },
  {
    name: 'site argument the module lacks',
    src: model(lora.replace('Linear(in, out)', 'Linear(in, outt)')),
    message: 'site type `Linear` has no argument, parameter or child `outt`',
    where: 'outt',
    help: 'did you mean `out`?',
  },
  {
    name: 'renamed binding of a missing member',
    src: model(lora.replace('Linear(in, out)', 'Linear(in, dim = out)')),
    message: 'site type `Linear` has no argument, parameter or child `dim`',
    where: 'dim = out',
  },
  {
    name: 'site types binding different names',
    src: model(lora.replace('Linear(in, out)', 'Linear(in, out) | LayerNorm(dim = in)')),
    message: 'every site type must bind the same names: `LayerNorm` binds (in), `Linear` binds (in, out)',
    where: 'LayerNorm(dim',
  },
  {
    name: 'unknown option in a tune',
    src: model(lora, 'my_lora(rank = 2) on lin'),
    message: '`my_lora` has no option `rank`',
    where: 'rank',
    help: 'options of `my_lora`: r, alpha, dropout',
  },
  {
    name: 'misspelled option in a tune',
    src: model(lora, 'my_lora(alhpa = 2) on lin'),
    message: '`my_lora` has no option `alhpa`',
    where: 'alhpa',
    help: 'did you mean `alpha`?',
  },
  {
    name: 'option type mismatch in a tune',
    src: model(lora, 'my_lora(r = 2.5) on lin'),
    message: 'option `r` is int, got 2.5',
    where: '2.5',
  },
  {
    name: 'bool option given a number',
    src: model(lora.replace('dropout: float = 0.0', 'dropout: float = 0.0, merge: bool = false'), 'my_lora(merge = 1) on lin'),
    message: 'option `merge` is bool, got int 1',
    where: '1) on lin',
  },
  {
    name: 'option default of the wrong type',
    src: model(lora.replace('r: int = 8', 'r: int = 0.5')),
    message: 'option `r` is int, but its default is float 0.5',
    where: '0.5',
  },
  {
    name: 'required option left out',
    src: model(lora.replace('r: int = 8', 'r: int'), 'my_lora(alpha = 2) on lin'),
    message: '`my_lora` needs option `r` (int)',
    where: 'my_lora(alpha',
    help: 'write `my_lora(r = …)`',
  },
  {
    name: 'shape error inside rewrite',
    src: model(lora.replace('@ A^T @ B^T', '@ A @ B^T')),
    message: 'matmul inner dimensions differ: [B, 3, 5] @ [2, 5] (5 vs 2)',
    where: 'dropout(x, dropout) @ A @',
    note: 'in `my_lora` at `lin` (Linear), applied here',
  },
  {
    name: 'broadcast error inside rewrite',
    src: model(lora.replace('base(x) + (alpha', 'x + (alpha')),
    message: /do not broadcast/,
    where: '+ (alpha',
    note: 'in `my_lora` at `lin` (Linear), applied here',
  },
  {
    name: 'base called with too many inputs',
    src: model(lora.replace('base(x) +', 'base(x, x) +')),
    message: '`base` takes 1 tensor input here (those of this call of `lin`), got 2',
    where: 'base(x, x)',
    help: 'call it like the site itself, e.g. `base(x)`',
  },
  {
    name: 'base used as a value',
    src: model(lora.replace('base(x) +', 'base +')),
    message: 'expected a tensor, got function `base`',
    where: 'base +',
    help: 'call it: `base(x)`',
  },
  {
    name: 'base called by name',
    src: model(lora.replace('base(x) +', 'base(x = x) +')),
    message: "`base` takes the site's inputs by position, not by name (`x`)",
    where: 'x = x',
  },
  {
    name: 'base declared as a name',
    src: model(lora.replace('param B:', 'param base:').replace('B^T', 'base^T')),
    message: "`base` cannot be declared in a method: it names the site's original forward",
    where: 'base:',
  },
  {
    name: 'duplicate method name',
    src: model(`${lora}\n${lora}`),
    message: 'method `my_lora` is defined twice',
    where: 'my_lora(r: int',
    nth: 1,
  },
  {
    name: 'clash with a built-in method',
    src: model(lora.replace('method my_lora', 'method lora'), 'lora(r = 2) on lin'),
    message: 'method `lora` clashes with the built-in PEFT method `lora`',
    where: 'lora(r: int',
    help: /rename it, e.g. `my_lora`/,
  },
  {
    name: 'param without initializer',
    src: model(lora.replace('param B: f32[out, r] = zeros', 'param B: f32[out, r]')),
    message: 'parameter `B` needs an initializer (e.g. `= zeros` or `= normal(0, 0.02)`)',
    where: 'B: f32',
  },
  {
    name: 'unknown initializer',
    src: model(lora.replace('= zeros', '= zero')),
    message: 'unknown initializer `zero`',
    where: 'zero\n',
    help: 'did you mean `zeros`?',
  },
  {
    name: 'unknown name in a parameter shape',
    src: model(lora.replace('f32[r, in]', 'f32[rr, in]')),
    message: 'unknown name `rr` in the parameter `A`',
    where: 'rr',
    help: 'did you mean `r`?',
  },
  {
    name: 'a bound site parameter in a shape',
    src: model(lora.replace('Linear(in, out)', 'Linear(in, out, weight)').replace('f32[r, in]', 'f32[r, weight]')),
    message: 'unknown name `weight` in the parameter `A`',
    where: 'weight]',
  },
  {
    name: 'non-positive parameter dimension',
    src: model(lora.replace('f32[r, in]', 'f32[r - 2, in]')),
    message: 'dimension must be positive, got 0',
    where: 'r - 2',
    note: 'while adding the parameters of `my_lora` at `lin` (Linear)',
  },
  {
    name: 'unknown name in rewrite',
    src: model(lora.replace('(alpha / r)', '(alpah / r)')),
    message: 'unknown name `alpah`',
    where: 'alpah',
    help: 'did you mean `alpha`?',
  },
  {
    name: 'unknown function in rewrite',
    src: model(lora.replace('dropout(x, dropout)', 'droput(x, dropout)')),
    message: 'unknown function `droput`',
    where: 'droput',
    help: 'did you mean `dropout`?',
  },
  {
    name: 'site name not bound',
    src: model(lora.replace('base(x) +', 'base(x) + weight[0, 0] +')),
    message: 'unknown name `weight`',
    where: 'weight[',
  },
  {
    name: 'rewrite with too many inputs',
    src: model(lora.replace('rewrite(x)', 'rewrite(x, y)')),
    message: '`rewrite` names 2 inputs, but the forward of `Linear` takes 1 (`x`)',
    where: 'y)',
  },
  {
    name: 'rewrite with too few inputs',
    src: model(lora.replace('rewrite(x) { base(x) + (alpha / r) * (dropout(x, dropout) @ A^T @ B^T) }', 'rewrite() { A }')),
    message: '`rewrite` names 0 inputs, but the forward of `Linear` needs 1 (`x`)',
    where: 'rewrite()',
    help: 'write `rewrite(x)`',
  },
  {
    name: 'method without rewrite',
    src: model('method my_lora(r: int = 8) on Linear(in) {\n  param A: f32[r, in] = zeros\n}'),
    message: 'method `my_lora` has no `rewrite` block',
    where: 'my_lora(r: int',
  },
  {
    name: 'rewrite without a result',
    src: model(lora.replace('rewrite(x) { base(x)', 'rewrite(x) { let y = base(x)').replace('@ B^T) }', '@ B^T); }')),
    message: 'the `rewrite` block has no result expression',
    where: '{ let y',
  },
  {
    name: 'name declared twice',
    src: model(lora.replace('param B:', 'param r:').replace('B^T', 'r^T')),
    message: '`r` is declared twice in method `my_lora` (an option and a parameter)',
    where: 'r: f32',
  },
  {
    name: "added parameter clashes with the site's",
    src: model(lora.replace('param B:', 'param weight:').replace('B^T', 'weight^T')),
    message: '`my_lora` adds parameter `weight` at `lin`, which already has a parameter `weight` (a parameter of Linear)',
    where: 'weight:',
  },
  {
    name: 'applied at a site of the wrong type',
    src: model(lora.replace('Linear(in, out)', 'LayerNorm(dim = in)').replace('f32[out, r]', 'f32[in, r]')),
    message: '`my_lora` attaches to LayerNorm sites, but `lin` is a Linear',
    where: 'lin\n',
  },
];

describe('invalid .mile methods', () => {
  it('covers at least 8 invalid methods', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { fe, diagnostics } = compileText(c.src, { tune: 't', training: c.training ?? true });
    expect(fe).toBeUndefined();
    expect(diagnostics).toHaveLength(1);
    const d = diagnostics[0]!;
    expect(d.severity).toBe('error');
    if (typeof c.message === 'string') expect(d.message).toBe(c.message);
    else expect(d.message).toMatch(c.message);
    expect({ line: d.span.line, col: d.span.col }).toEqual(at(c.src, c.where, c.nth));
    if (c.help !== undefined) {
      if (typeof c.help === 'string') expect(d.help).toBe(c.help);
      else expect(d.help).toMatch(c.help);
    }
    if (c.note !== undefined) {
      expect(d.related?.map((r) => r.message)).toContain(c.note);
      const n = d.related!.find((r) => r.message === c.note)!;
      expect(n.span.file).toBe('test.mile');
    }
    // Renders with the source line and a caret.
    expect(renderDiagnostic(d, new Map([['test.mile', c.src]]))).toContain('^');
  });

  it('`base` cannot be called in a hook', () => {
    const src = `use std.nn
module Hooked(n: int) {
  param w: f32[n] = ones
  forward(x: f32[..., n]) -> f32[..., n] { hook keys(x) * w }
}
method bad on Hooked {
  hook keys(k) { base(k) }
}
model M {
  input x: f32[B, 3]
  h = Hooked(3)
  forward { loss mean(h(x)) }
}
tune t for M { bad() on h }
`;
    const d = compileText(src, { tune: 't' }).diagnostics[0]!;
    expect(d.message).toBe("`base` cannot be called in `hook keys`: it runs inside the site's forward");
    expect({ line: d.span.line, col: d.span.col }).toEqual(at(src, 'base(k)'));
  });

  it('reports an invalid method even when no tune uses it', () => {
    const src = model(`${lora}\nmethod unused on Linear(inn) { rewrite(x) { base(x) } }`, 'my_lora(r = 2) on lin');
    const { diagnostics } = compileText(src);
    expect(diagnostics.map((d) => d.message)).toEqual(['site type `Linear` has no argument, parameter or child `inn`']);
  });

  it('points the note of a shape error at the tune item that applied the method', () => {
    const src = model(lora.replace('@ A^T @ B^T', '@ A @ B^T'));
    const d = compileText(src, { tune: 't' }).diagnostics[0]!;
    const note = d.related!.find((r) => r.message.startsWith('in `my_lora`'))!;
    expect({ line: note.span.line, col: note.span.col }).toEqual(at(src, 'my_lora(r = 2) on lin'));
  });
});
