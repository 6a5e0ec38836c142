/**
 * `method` declarations (PEFT methods written in `.mile`): the AST of valid ones, with spans,
 * and the exact message, line and column of the first diagnostic of invalid ones.
 */
import { describe, expect, it } from 'vitest';
import { parseMile } from '../../grammar/parse.ts';
import type * as A from '../../grammar/ast.ts';

/** The AST without spans, for shape comparisons. */
function strip(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => k !== 'span' && k !== 'opSpan')
        .map(([k, x]) => [k, strip(x)]),
    );
  }
  return v;
}

const id = (name: string) => ({ name });
const bind = (name: string, member = name) => ({ member: id(member), name: id(name) });

const lora = `# LoRA, written in .mile
method lora(r: int = 8, alpha: float = 8, dropout: float = 0.0) on Linear(in, out) {
  param A: f32[r, in]  = kaiming_uniform(a = sqrt(5))
  param B: f32[out, r] = zeros
  rewrite(x) { base(x) + (alpha / r) * (dropout(x, dropout) @ A^T @ B^T) }
}
`;

describe('parsing `method`', () => {
  it('parses options, the site, params and the rewrite', () => {
    const { ast, diagnostics } = parseMile(lora, 'm.mile');
    expect(diagnostics).toEqual([]);
    expect(ast.decls).toHaveLength(1);
    const m = ast.decls[0] as A.MethodDecl;
    expect(m.kind).toBe('method');
    expect(m.name).toEqual({ name: 'lora', span: { file: 'm.mile', line: 2, col: 8, endLine: 2, endCol: 12 } });
    expect(strip(m.options)).toEqual([
      { name: id('r'), type: 'int', default: { kind: 'number', value: 8, isInt: true } },
      { name: id('alpha'), type: 'float', default: { kind: 'number', value: 8, isInt: true } },
      { name: id('dropout'), type: 'float', default: { kind: 'number', value: 0, isInt: false } },
    ]);
    expect(strip(m.sites)).toEqual([{ module: id('Linear'), bindings: [bind('in'), bind('out')] }]);
    expect(m.sites[0]!.span).toMatchObject({ line: 2, col: 68, endCol: 83 });
    expect(m.items.map((i) => i.kind)).toEqual(['param', 'param', 'rewrite']);
    const [a, , rw] = m.items as [A.MethodParamDecl, A.MethodParamDecl, A.RewriteDecl];
    expect(a.shared).toBe(false);
    expect(a.name.name).toBe('A');
    expect(strip(a.init)).toEqual({
      name: id('kaiming_uniform'),
      args: [
        {
          name: id('a'),
          value: { kind: 'call', callee: { kind: 'name', name: 'sqrt' }, args: [{ value: { kind: 'number', value: 5, isInt: true } }] },
        },
      ],
    });
    expect(strip(rw.inputs)).toEqual([id('x')]);
    expect(rw.span).toMatchObject({ line: 5, col: 3 });
    expect(rw.body.stmts).toEqual([]);
    expect(rw.body.result).toMatchObject({ kind: 'binary', op: '+', left: { kind: 'call', callee: { kind: 'name', name: 'base' } } });
  });

  it('parses several site types, renamed and empty bindings, shared params, hooks and statements', () => {
    const src = `method prefixish(n: int, flag: bool = true) on MultiHeadAttention(dim, heads) | CrossAttention(width = dim, heads) | Other {
  shared param E: f32[n, dim] = normal(0, 1)
  param g: f32[heads] = ones if flag
  hook keys(k) { let e = E; k }
  hook values(v) { v }
  rewrite(x, context) {
    let y = base(x, context);
    y
  }
}`;
    const { ast, diagnostics } = parseMile(src, 'm.mile');
    expect(diagnostics).toEqual([]);
    const m = ast.decls[0] as A.MethodDecl;
    expect(strip(m.options)).toEqual([
      { name: id('n'), type: 'int' },
      { name: id('flag'), type: 'bool', default: { kind: 'bool', value: true } },
    ]);
    expect(strip(m.sites)).toEqual([
      { module: id('MultiHeadAttention'), bindings: [bind('dim'), bind('heads')] },
      { module: id('CrossAttention'), bindings: [bind('dim', 'width'), bind('heads')] },
      { module: id('Other'), bindings: [] },
    ]);
    expect(m.items.map((i) => `${i.kind}:${i.kind === 'param' ? i.shared : i.kind === 'hook' ? i.name.name : i.inputs.length}`)).toEqual([
      'param:true',
      'param:false',
      'hook:keys',
      'hook:values',
      'rewrite:2',
    ]);
    const g = m.items[1] as A.MethodParamDecl;
    expect(strip(g.condition)).toEqual({ kind: 'name', name: 'flag' });
    const keys = m.items[2] as A.MethodHookDecl;
    expect(keys.input.name).toBe('k');
    expect(keys.body.stmts).toHaveLength(1);
    const rw = m.items[4] as A.RewriteDecl;
    expect(rw.body.stmts.map((s) => s.kind)).toEqual(['let']);
    // The shared param item spans `shared param …`.
    expect(m.items[0]!.span).toMatchObject({ line: 2, col: 3 });
  });

  it('allows a method without options or site parentheses, next to other declarations', () => {
    const src = `use std.nn\nmethod twice on Linear { rewrite(x) { 2 * base(x) } }\nmodule M { forward(x) { x } }\ntune t for X { twice() on a }\n`;
    const { ast, diagnostics } = parseMile(src, 'm.mile');
    expect(diagnostics).toEqual([]);
    expect(ast.decls.map((d) => d.kind)).toEqual(['use', 'method', 'module', 'tune']);
    expect(strip((ast.decls[1] as A.MethodDecl).sites)).toEqual([{ module: id('Linear'), bindings: [] }]);
    expect((ast.decls[1] as A.MethodDecl).options).toEqual([]);
  });

  it('keeps `rewrite`, `shared` and `base` usable as ordinary names', () => {
    const src = `module M(shared: int) {\n  param rewrite: f32[shared] = zeros\n  forward(base) { let shared2 = base; rewrite + shared2 }\n}\n`;
    expect(parseMile(src, 'm.mile').diagnostics).toEqual([]);
  });

  it('reserves `method`', () => {
    const d = parseMile('model M { forward { let method = 3 } }', 'm.mile').diagnostics[0]!;
    expect(d.message).toBe('`method` is a reserved word and cannot be used as a name');
  });
});

type Case = [name: string, source: string, line: number, col: number, message: string];

// prettier-ignore
const invalid: Case[] = [
  ["method without a name", "method (r: int) on Linear { }", 1, 8, "expected a method name after `method`, found `(`"],
  ["keyword as a method name", "method model() on Linear { }", 1, 8, "`model` is a reserved word and cannot be used as a name"],
  ["method without on", "method m(r: int = 8) {\n  rewrite(x) { x }\n}", 1, 22, "expected `on` and the site type the method attaches to, such as `on Linear(in, out)`, found `{`"],
  ["on without a site type", "method m() on { }", 1, 15, "expected a site module type after `on`, such as `Linear(in, out)`, found `{`"],
  ["nothing after |", "method m() on Linear | { }", 1, 24, "expected a site module type after `|`, found `{`"],
  ["option without a type", "method m(r = 8) on Linear { }", 1, 12, "expected `:` and a type (`int`, `float` or `bool`) after option `r`, found `=`"],
  ["tensor-typed option", "method m(r: f32) on Linear { }", 1, 13, "expected a type `int`, `float` or `bool` after `:`, found keyword `f32`"],
  ["number as an option", "method m(8) on Linear { }", 1, 10, "expected `)` or an option `name: type = default`, found `8`"],
  ["number as a site binding", "method m() on Linear(8) { }", 1, 22, "expected `)` or the name of a site argument, parameter or child, found `8`"],
  ["missing comma between bindings", "method m() on Linear(in out) { }", 1, 25, "expected `,` or `)` after a site binding, found `out`"],
  ["unclosed site bindings", "method m() on Linear(in {\n}", 1, 25, "expected `)` to close the site bindings, found `{`"],
  ["let in a method body", "method m() on Linear {\n  let x = 1\n}", 2, 3, "expected a method item (`param`, `shared param`, `rewrite(...)`, `hook NAME(...)`) or `}`, found keyword `let`"],
  ["forward in a method body", "method m() on Linear {\n  forward(x) { x }\n}", 2, 3, "expected a method item (`param`, `shared param`, `rewrite(...)`, `hook NAME(...)`) or `}`, found keyword `forward`"],
  ["misspelled rewrite", "method m() on Linear {\n  rewrit(x) { x }\n}", 2, 3, "expected a method item (`param`, `shared param`, `rewrite(...)`, `hook NAME(...)`) or `}`, found `rewrit`"],
  ["rewrite without inputs", "method m() on Linear {\n  rewrite { x }\n}", 2, 11, "expected `(` and names for the site's inputs after `rewrite`, found `{`"],
  ["rewrite without a body", "method m() on Linear {\n  rewrite(x) x\n}", 2, 14, "expected `{` to start the rewrite body, found `x`"],
  ["typed rewrite input", "method m() on Linear {\n  rewrite(x: f32[3]) { x }\n}", 2, 12, "expected `,` or `)` after an input, found `:`"],
  ["two rewrites", "method m() on Linear {\n  rewrite(x) { x }\n  rewrite(y) { y }\n}", 3, 3, "method `m` has a second `rewrite` block"],
  ["shared without param", "method m() on Linear {\n  shared x: f32[3] = zeros\n}", 2, 10, "expected `param` after `shared`, found `x`"],
  ["hook without a name", "method m() on Linear {\n  hook (h) { h }\n}", 2, 8, "expected a hook name after `hook`, found `(`"],
  ["hook without an input", "method m() on Linear { hook keys { k } }", 1, 34, "expected `(` and a name for the hooked tensor after `hook keys`, found `{`"],
  ["unclosed rewrite body", "method m() on Linear {\n  rewrite(x) { base(x)\n}", 3, 2, "expected `}` to close the method body, found end of input"],
  ["misspelled method keyword", "metod m() on Linear {}", 1, 1, "expected `use`, `module`, `model`, `tune` or `method` at top level, found `metod`"],
  ["stray | in a tune", "tune t for M { lora() on a | b }", 1, 28, "expected `train`, `freeze`, `method(...) on selector` or `}`, found `|`"],
];

describe('invalid methods', () => {
  it('covers at least 8 invalid methods', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(8);
  });

  it.each(invalid)('%s', (_name, source, line, col, message) => {
    const { ast, diagnostics } = parseMile(source, 'bad.mile');
    expect(ast).toBeDefined();
    const first = diagnostics[0]!;
    expect(first.message).toBe(message);
    expect([first.span.line, first.span.col]).toEqual([line, col]);
    expect(first.span.file).toBe('bad.mile');
    expect(first.code).toBe('parse');
  });

  it('points a second rewrite at the first', () => {
    const d = parseMile('method m() on Linear {\n  rewrite(x) { x }\n  rewrite(y) { y }\n}', 'bad.mile').diagnostics[0]!;
    expect(d.related).toEqual([{ span: { file: 'bad.mile', line: 2, col: 3, endLine: 2, endCol: 10 }, message: 'first `rewrite` here' }]);
    expect(d.help).toBe('a method has one `rewrite`; combine the two into one block');
  });

  it('gives help for method items and a missing `on`', () => {
    const first = (src: string) => parseMile(src, 'bad.mile').diagnostics[0]!;
    expect(first('method m() on Linear {\n  forward(x) { x }\n}').help).toMatch(/rewrite\(inputs\)/);
    expect(first('method m(r: int = 8) { }').help).toBe('write `method NAME(options) on SITE(names) { ... }`');
    expect(first('method m() on Linear {\n  rewrite { x }\n}').help).toBe('write `rewrite(x) { base(x) ... }`');
  });

  it('resumes at the next top-level `method` after garbage', () => {
    const { ast, diagnostics } = parseMile('}}\nmethod m on Linear { rewrite(x) { x } }', 'bad.mile');
    expect(diagnostics).toHaveLength(1);
    expect(ast.decls.map((d) => d.kind)).toEqual(['method']);
  });

  it('never throws on mutated methods, and keeps every span finite', () => {
    const src = `${lora}method g on Linear(out) | LayerNorm(dim = out) {\n  shared param s: f32[out] = ones\n  hook keys(k) { k * s }\n  rewrite(x) { base(x) * s }\n}\n`;
    let seed = 777;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const pieces = ['{', '}', '(', ')', ',', '=', '|', 'method', 'rewrite', 'shared', 'param', 'hook', 'on', ':', 'x', '\n'];
    const finite = (v: unknown): boolean => {
      if (Array.isArray(v)) return v.every(finite);
      if (v && typeof v === 'object') {
        const sp = v as { line?: number; col?: number; endLine?: number; endCol?: number };
        if (typeof sp.line === 'number') return [sp.line, sp.col, sp.endLine, sp.endCol].every((n) => Number.isFinite(n) && n! >= 1);
        return Object.values(v).every(finite);
      }
      return true;
    };
    for (let i = 0; i < 300; i++) {
      let s = src;
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) {
        const pos = Math.floor(rnd() * s.length);
        const r = rnd();
        if (r < 0.4) s = s.slice(0, pos) + s.slice(pos + 1 + Math.floor(rnd() * 5));
        else if (r < 0.8) s = s.slice(0, pos) + pieces[Math.floor(rnd() * pieces.length)] + s.slice(pos);
        else s = s.slice(0, pos);
      }
      const { ast, diagnostics } = parseMile(s, 'fuzz.mile');
      expect(diagnostics.filter((d) => d.message.startsWith('internal'))).toEqual([]);
      expect(finite(ast) && finite(diagnostics)).toBe(true);
    }
  });
});
