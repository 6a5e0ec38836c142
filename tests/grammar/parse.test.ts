/**
 * Valid input: the all-constructs fixture parses cleanly into the expected AST, with exact spans.
 * Also: diagnostic rendering, and a seeded mutation fuzz proving `parseMile` never throws.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseMile } from '../../grammar/parse.ts';
import type * as A from '../../grammar/ast.ts';
import { renderDiagnostic } from '../../core/render.ts';
import type { Span } from '../../core/span.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const fixture = readFileSync(join(here, 'fixtures', 'all-constructs.mile'), 'utf8');

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

const at = (line: number, col: number, endCol: number): Span => ({ file: 'all.mile', line, col, endLine: line, endCol });
const num = (value: number, isInt = true) => ({ kind: 'number', value, isInt });
const name = (n: string) => ({ kind: 'name', name: n });

function byKind<K extends A.TopDecl['kind']>(f: A.MileFile, kind: K, i = 0): Extract<A.TopDecl, { kind: K }> {
  return f.decls.filter((d): d is Extract<A.TopDecl, { kind: K }> => d.kind === kind)[i]!;
}
function forwardOf(items: readonly (A.ModuleItem | A.ModelItem)[]): A.ForwardDecl {
  return items.find((i): i is A.ForwardDecl => i.kind === 'forward')!;
}

describe('parseMile on the all-constructs fixture', () => {
  const { ast, diagnostics } = parseMile(fixture, 'all.mile');

  it('has no diagnostics', () => {
    expect(diagnostics).toEqual([]);
  });

  it('parses every top-level declaration', () => {
    expect(ast.file).toBe('all.mile');
    expect(ast.decls.map((d) => d.kind)).toEqual(['use', 'use', 'module', 'module', 'model', 'tune']);
    expect(strip(ast.decls[0])).toEqual({ kind: 'use', paths: [{ parts: ['std', 'nn'] }, { parts: ['std', 'attention'] }] });
    expect(ast.span).toMatchObject({ line: 1, col: 1 });
  });

  it('parses module arguments, params with inits and conditions', () => {
    const linear = byKind(ast, 'module');
    expect(linear.name).toEqual({ name: 'Linear', span: at(6, 8, 14) });
    expect(strip(linear.args)).toEqual([
      { name: { name: 'in' }, type: 'int' },
      { name: { name: 'out' }, type: 'int' },
      { name: { name: 'bias' }, type: 'bool', default: { kind: 'bool', value: true } },
    ]);
    expect(strip(linear.items[1])).toEqual({
      kind: 'param',
      name: { name: 'bias' },
      type: { dtype: 'f32', dims: [{ kind: 'dim', expr: name('out') }] },
      init: { name: { name: 'zeros' }, args: [] },
      condition: name('bias'),
    });
    expect(linear.items[0]!.span).toEqual({ file: 'all.mile', line: 7, col: 3, endLine: 7, endCol: 47 });
  });

  it('parses forward with `x @ weight^T + bias` at the right precedence and spans', () => {
    const fwd = forwardOf(byKind(ast, 'module').items);
    expect(strip(fwd.params)).toEqual([
      { name: { name: 'x' }, type: { dtype: 'f32', dims: [{ kind: 'ellipsis' }, { kind: 'dim', expr: name('in') }] } },
    ]);
    expect(strip(fwd.returns?.dims)).toEqual([{ kind: 'ellipsis' }, { kind: 'dim', expr: name('out') }]);
    expect(fwd.body.stmts).toEqual([]);
    const r = fwd.body.result as A.BinaryExpr;
    expect(strip(r)).toEqual({
      kind: 'binary',
      op: '+',
      left: { kind: 'binary', op: '@', left: name('x'), right: { kind: 'transpose', operand: name('weight') } },
      right: name('bias'),
    });
    // `  forward(x: f32[..., in]) -> f32[..., out] { x @ weight^T + bias }`
    expect(r.opSpan).toEqual(at(9, 60, 61));
    expect(r.span).toEqual(at(9, 47, 66));
    expect((r.left as A.BinaryExpr).opSpan).toEqual(at(9, 49, 50));
    expect((r.left as A.BinaryExpr).right.span).toEqual(at(9, 51, 59));
  });

  it('parses children: plain, repeat, conditional, dotted module, named args', () => {
    const block = byKind(ast, 'module', 1);
    const children = block.items.filter((i): i is A.ChildDecl => i.kind === 'child');
    expect(strip(children)).toEqual([
      {
        kind: 'child',
        name: { name: 'attn' },
        module: { name: 'MultiHeadAttention' },
        args: [{ value: name('dim') }, { value: name('heads') }],
      },
      { kind: 'child', name: { name: 'norm1' }, module: { name: 'LayerNorm' }, args: [{ value: name('dim') }] },
      { kind: 'child', name: { name: 'layers' }, module: { name: 'Layer' }, args: [{ value: name('dim') }], repeat: num(4) },
      {
        kind: 'child',
        name: { name: 'extra' },
        module: { name: 'Linear' },
        args: [{ value: name('dim') }, { value: name('dim') }],
        condition: { kind: 'binary', op: '>', left: name('heads'), right: num(1) },
      },
      {
        kind: 'child',
        name: { name: 'vision' },
        module: { name: 'vit.Encoder' },
        args: [{ value: name('dim') }, { name: { name: 'depth' }, value: num(2) }],
      },
    ]);
    expect(children[4]!.module.span).toEqual(at(17, 12, 23));
    const scale = block.items.find((i): i is A.ParamDecl => i.kind === 'param' && i.name.name === 'scale')!;
    expect(strip(scale.type.dims)).toEqual([
      { kind: 'dim', expr: { kind: 'binary', op: '/', left: name('dim'), right: name('heads') } },
      { kind: 'dim', expr: { kind: 'binary', op: '*', left: name('dim'), right: num(4) } },
    ]);
    expect(strip(scale.init)).toEqual({
      name: { name: 'kaiming_uniform' },
      args: [{ name: { name: 'a' }, value: { kind: 'call', callee: name('sqrt'), args: [{ value: num(5) }] } }],
    });
  });

  it('parses statements, slicing, unary minus, members, transpose chains and literals', () => {
    const fwd = forwardOf(byKind(ast, 'module', 1).items);
    expect(strip(fwd.params[1])).toEqual({
      name: { name: 'context' },
      type: {
        dtype: 'f32',
        dims: [
          { kind: 'dim', expr: name('B') },
          { kind: 'dim', expr: name('S') },
          { kind: 'dim', expr: name('dim') },
        ],
      },
      default: { kind: 'none' },
    });
    const lets = Object.fromEntries(fwd.body.stmts.map((s) => [s.kind === 'loss' ? 'loss' : s.name.name, s.value]));
    expect(strip(lets['y'])).toEqual({ kind: 'indexing', target: name('h'), items: [{ kind: 'slice' }, { kind: 'index', value: num(0) }] });
    expect(strip(lets['a'])).toEqual({
      kind: 'indexing',
      target: name('h'),
      items: [
        { kind: 'slice', start: num(1) },
        { kind: 'slice', stop: { kind: 'unary', op: '-', operand: num(1) } },
        { kind: 'ellipsis' },
        { kind: 'slice', step: num(2) },
        { kind: 'slice', start: num(0), stop: num(4), step: num(2) },
      ],
    });
    // -h.output * 2 % 3 / 4 - 1e-5  ==  ((((-(h.output)) * 2) % 3) / 4) - 1e-5
    expect(strip(lets['s'])).toEqual({
      kind: 'binary',
      op: '-',
      left: {
        kind: 'binary',
        op: '/',
        left: {
          kind: 'binary',
          op: '%',
          left: {
            kind: 'binary',
            op: '*',
            left: { kind: 'unary', op: '-', operand: { kind: 'member', target: name('h'), member: { name: 'output' } } },
            right: num(2),
          },
          right: num(3),
        },
        right: num(4),
      },
      right: num(1e-5, false),
    });
    expect(strip(lets['q'])).toEqual({
      kind: 'binary',
      op: '@',
      left: name('h'),
      right: { kind: 'indexing', target: { kind: 'transpose', operand: name('h') }, items: [{ kind: 'index', value: num(0) }] },
    });
    expect(strip(lets['c'])).toEqual({
      kind: 'list',
      items: [
        num(1),
        num(2.5, false),
        { kind: 'string', value: 'text' },
        { kind: 'bool', value: true },
        { kind: 'bool', value: false },
        { kind: 'none' },
        { kind: 'list', items: [] },
      ],
    });
    const b = lets['b'] as A.BinaryExpr;
    expect(b.op).toBe('or');
    expect((b.left as A.BinaryExpr).op).toBe('and');
    expect(((b.left as A.BinaryExpr).left as A.BinaryExpr).op).toBe('<');
    expect(strip(fwd.body.result)).toEqual(name('h'));
    // `    let h = x + attn(norm1(x))`
    const h = fwd.body.stmts[0]!;
    expect(h.kind === 'let' && h.name).toEqual({ name: 'h', span: at(22, 9, 10) });
    expect((h.value as A.BinaryExpr).left.span).toEqual(at(22, 13, 14));
    expect((h.value as A.BinaryExpr).opSpan).toEqual(at(22, 15, 16));
    expect(h.value.span).toEqual(at(22, 13, 31));
    expect(h.span).toEqual(at(22, 5, 31));
  });

  it('parses `not` below comparisons and above `and`', () => {
    const flag = byKind(ast, 'module', 1).items.find((i): i is A.ParamDecl => i.kind === 'param' && i.name.name === 'flag')!;
    expect(flag.type).toMatchObject({ dtype: 'i32', dims: [] });
    const c = flag.condition as A.BinaryExpr;
    expect(c.op).toBe('and');
    expect(strip(c.left)).toMatchObject({ kind: 'unary', op: 'not', operand: { kind: 'binary', op: 'or' } });
    expect(strip(c.right)).toMatchObject({ kind: 'binary', op: '!=' });
  });

  it('parses a model: config (commas and newlines), inputs, children, params, forward', () => {
    const model = byKind(ast, 'model');
    expect(model.name.name).toBe('TinyClassifier');
    expect(model.items.map((i) => i.kind)).toEqual(['config', 'config', 'input', 'input', 'child', 'child', 'param', 'forward']);
    const [c1, c2] = model.items as [A.ConfigDecl, A.ConfigDecl];
    expect(c1.entries.map((e) => e.name.name)).toEqual(['vocab', 'seq', 'dim', 'heads', 'classes']);
    expect(strip(c2.entries)).toEqual([
      { name: { name: 'lr' }, value: num(1e-3, false) },
      { name: { name: 'dropout' }, value: num(0.1, false) },
    ]);
    expect(strip(model.items[2])).toEqual({
      kind: 'input',
      name: { name: 'tokens' },
      type: {
        dtype: 'i32',
        dims: [
          { kind: 'dim', expr: name('B') },
          { kind: 'dim', expr: name('seq') },
        ],
      },
    });
    const fwd = forwardOf(model.items);
    expect(fwd.params).toEqual([]);
    expect(fwd.returns).toBeUndefined();
    expect(fwd.body.stmts.map((s) => s.kind)).toEqual(['let', 'output', 'loss']);
    expect(strip(fwd.body.stmts[1])).toEqual({
      kind: 'output',
      name: { name: 'logits' },
      value: {
        kind: 'call',
        callee: name('head'),
        args: [{ value: { kind: 'call', callee: name('mean'), args: [{ value: name('x') }, { name: { name: 'dim' }, value: num(1) }] } }],
      },
    });
    const loss = fwd.body.stmts[2]!;
    expect(loss.kind === 'loss' && loss.value.kind === 'call' && loss.value.args[2]!.name?.name).toBe('input');
  });

  it('parses tunings and every selector segment kind', () => {
    const tune = byKind(ast, 'tune');
    expect(tune.name.name).toBe('lora_qv');
    expect(tune.model).toEqual({ name: 'TinyClassifier', span: at(51, 18, 32) });
    expect(strip(tune.items)).toEqual([
      { kind: 'train', selectors: [{ segments: [{ kind: 'name', name: 'head' }] }, { segments: [{ kind: 'name', name: 'embed' }] }] },
      {
        kind: 'freeze',
        selectors: [
          {
            segments: [
              { kind: 'name', name: 'blocks' },
              { kind: 'range', start: 0, end: 1 },
            ],
          },
        ],
      },
      {
        kind: 'apply',
        method: { name: 'lora' },
        args: [
          { name: { name: 'r' }, value: num(8) },
          { name: { name: 'alpha' }, value: num(16) },
          { name: { name: 'dropout' }, value: num(0.1, false) },
        ],
        selectors: [{ segments: [{ kind: 'globstar' }, { kind: 'alt', names: [{ name: 'query' }, { name: 'value' }] }] }],
      },
      {
        kind: 'apply',
        method: { name: 'ia3' },
        args: [],
        selectors: [
          {
            segments: [
              { kind: 'name', name: 'blocks' },
              { kind: 'range', start: 0, end: 2 },
              { kind: 'star' },
              { kind: 'name', name: 'key' },
            ],
          },
          { segments: [{ kind: 'globstar' }, { kind: 'name', name: 'value' }] },
        ],
      },
      {
        kind: 'apply',
        method: { name: 'prefix' },
        args: [{ name: { name: 'tokens' }, value: num(10) }],
        selectors: [
          {
            segments: [
              { kind: 'name', name: 'layers' },
              { kind: 'range', start: 2 },
              { kind: 'name', name: 'attention' },
              { kind: 'name', name: 'output' },
            ],
          },
        ],
      },
    ]);
    // `  freeze blocks[0]`: the range is its own segment, spanning the brackets.
    const freeze = tune.items[1]! as Extract<A.TuneItem, { kind: 'freeze' }>;
    expect(freeze.selectors[0]!.segments.map((s) => s.span)).toEqual([at(53, 10, 16), at(53, 16, 19)]);
    expect(freeze.selectors[0]!.span).toEqual(at(53, 10, 19));
  });
});

describe('small inputs', () => {
  const expr = (src: string): A.Expr => {
    const r = parseMile(`model M { forward { ${src} } }`, 'e.mile');
    expect(r.diagnostics).toEqual([]);
    return forwardOf(byKind(r.ast, 'model').items).body.result!;
  };

  it('groups `*` and `@` at one level, left to right', () => {
    expect(strip(expr('a * b @ c'))).toEqual({
      kind: 'binary',
      op: '@',
      left: { kind: 'binary', op: '*', left: name('a'), right: name('b') },
      right: name('c'),
    });
  });

  it('chains `^T` with other postfixes: `q @ k^T`, `w^T[0]`, `x^T^T`', () => {
    expect(strip(expr('q @ k^T'))).toEqual({ kind: 'binary', op: '@', left: name('q'), right: { kind: 'transpose', operand: name('k') } });
    expect(strip(expr('x^T^T'))).toEqual({ kind: 'transpose', operand: { kind: 'transpose', operand: name('x') } });
    expect(strip(expr('f(x)^T.y'))).toEqual({
      kind: 'member',
      target: { kind: 'transpose', operand: { kind: 'call', callee: name('f'), args: [{ value: name('x') }] } },
      member: { name: 'y' },
    });
  });

  it('treats `^Tx` as a name after a bare `^` (an error)', () => {
    expect(parseMile('model M { forward { w^Tx } }', 'e.mile').diagnostics[0]!.message).toBe(
      '`^` must be followed immediately by `T` (transpose)',
    );
  });

  it('widens a parenthesized expression to cover its parentheses', () => {
    expect(expr('(a + b) * c').span).toMatchObject({ col: 21, endCol: 32 });
  });

  it('accepts `;` separators and keyword member / argument names', () => {
    const r = parseMile('model M { forward { let a = 1; let b = x.input; output o = f(output = a, for = b); o; } }', 'e.mile');
    expect(r.diagnostics).toEqual([]);
  });

  it('accepts an empty module, a module with `()` and escapes in strings', () => {
    const r = parseMile('module A {}\nmodule B() { forward() { "a\\"b\\n" } }', 'e.mile');
    expect(r.diagnostics).toEqual([]);
    const b = byKind(r.ast, 'module', 1);
    expect(strip(forwardOf(b.items).body.result)).toEqual({ kind: 'string', value: 'a"b\n' });
  });
});

describe('rendering a parse diagnostic', () => {
  it('puts the caret under the offending token', () => {
    const src = 'module A {\n  forward(x: f32[3]) {\n    f(a {\n  }\n}';
    const d = parseMile(src, 'bad.mile').diagnostics[0]!;
    const out = renderDiagnostic(d, new Map([['bad.mile', src]]));
    const lines = out.split('\n');
    expect(lines[0]).toBe('bad.mile:3:9: error: expected `)` to close the argument list, found `{`');
    expect(lines[1]).toBe(' 3 |     f(a {');
    expect(lines[2]).toBe('   |         ^');
    // The caret sits exactly under the `{` (column 9 of the source line).
    const gutter = lines[1]!.indexOf('|') + 2;
    expect(lines[2]!.indexOf('^') - gutter + 1).toBe(9);
    expect(lines[1]![lines[2]!.indexOf('^')]).toBe('{');
    expect(lines[3]).toBe('bad.mile:3:6: note: `(` opened here');
  });

  it('underlines a whole multi-character token', () => {
    const src = 'model M { forward { let model = 3 } }';
    const d = parseMile(src, 'k.mile').diagnostics[0]!;
    const caret = renderDiagnostic(d, new Map([['k.mile', src]])).split('\n')[2]!;
    expect(caret).toBe('   |                         ^^^^^');
  });
});

describe('robustness', () => {
  it('parses the repository examples and standard library without diagnostics', () => {
    const files = ['examples', 'std'].flatMap((dir) =>
      readdirSync(join(root, dir))
        .filter((f) => f.endsWith('.mile'))
        .map((f) => join(root, dir, f)),
    );
    for (const f of files) {
      const { diagnostics } = parseMile(readFileSync(f, 'utf8'), f);
      expect(diagnostics, f).toEqual([]);
    }
  });

  it('never throws and always returns finite spans on mangled input', () => {
    let seed = 20240601;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const pieces = [
      '{',
      '}',
      '(',
      ')',
      '[',
      ']',
      ',',
      '=',
      'let',
      'model',
      '^',
      '..',
      '...',
      ':',
      '"',
      '1.2.3',
      '$',
      '\n',
      'x',
      '-',
      '->',
      'if',
      'repeat',
      'on',
      '**',
      '.',
    ];
    const finite = (v: unknown): boolean => {
      if (Array.isArray(v)) return v.every(finite);
      if (v && typeof v === 'object') {
        const s = v as Partial<Span>;
        if (typeof s.line === 'number') return [s.line, s.col, s.endLine, s.endCol].every((n) => Number.isFinite(n) && n! >= 1);
        return Object.values(v).every(finite);
      }
      return true;
    };
    for (let i = 0; i < 400; i++) {
      let s = fixture;
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) {
        const pos = Math.floor(rnd() * s.length);
        const r = rnd();
        if (r < 0.4) s = s.slice(0, pos) + s.slice(pos + 1 + Math.floor(rnd() * 5));
        else if (r < 0.8) s = s.slice(0, pos) + pieces[Math.floor(rnd() * pieces.length)] + s.slice(pos);
        else s = s.slice(0, pos);
      }
      const { ast, diagnostics } = parseMile(s, 'fuzz.mile');
      expect(ast).toBeDefined();
      expect(diagnostics.filter((d) => d.message.startsWith('internal'))).toEqual([]);
      expect(finite(ast) && finite(diagnostics)).toBe(true);
    }
  });
});
