/**
 * Invalid inputs: each case pins the first diagnostic's message, line and column.
 * Columns are 1-based; at end of input the position is just past the last token.
 */
import { describe, expect, it } from 'vitest';
import { parseMile } from '../../grammar/parse.ts';

type Case = [name: string, source: string, line: number, col: number, message: string];

// prettier-ignore
const cases: Case[] = [
  ["unclosed module brace at end of input", "module A {\n  param w: f32[3]\n", 2, 18, "expected `}` to close the module body, found end of input"],
  ["unclosed call parenthesis", "module A {\n  forward(x: f32[3]) {\n    f(a {\n  }\n}", 3, 9, "expected `)` to close the argument list, found `{`"],
  ["unclosed shape bracket", "module A {\n  param w: f32[3, 4\n}", 3, 1, "expected `]` to close the shape, found `}`"],
  ["unclosed index bracket", "model M {\n  forward { x[0 }\n}", 2, 17, "expected `]` to close the index, found `}`"],
  ["unclosed block at end of input", "model M {\n  forward {\n    let a = 1\n", 3, 14, "expected `}` to close the block, found end of input"],
  ["unclosed parenthesized expression", "model M { forward { let a = (1 + 2 } }", 1, 36, "expected `)` to close the parenthesized expression, found `}`"],
  ["unclosed list", "model M { forward { let a = [1, 2 } }", 1, 35, "expected `]` to close the list, found `}`"],
  ["missing = in config", "model M {\n  config { vocab 64 }\n}", 2, 18, "expected `=` after config entry `vocab`, found `64`"],
  ["missing type in param", "module A {\n  param w = zeros\n}", 2, 11, "expected `:` and a tensor type after parameter `w`, found `=`"],
  ["bad dtype f64", "module A {\n  param w: f64[3]\n}", 2, 12, "unknown tensor type `f64`: expected `f32` or `i32`"],
  ["stray character", "module A $ {}", 1, 10, "unexpected character `$`"],
  ["method without on", "tune t for M {\n  lora(r = 8) blocks\n}", 2, 15, "expected `on` and a selector after the method's arguments, found `blocks`"],
  ["tune without for", "tune x { }", 1, 8, "expected `for` and a model name after `tune x`, found `{`"],
  ["empty selector", "tune t for M {\n  train\n}", 3, 1, "expected a selector after `train`, found `}`"],
  ["empty selector after comma", "tune t for M { train a, }", 1, 25, "expected a selector after `,`, found `}`"],
  ["let without name", "model M { forward { let = 3 } }", 1, 25, "expected a name after `let`, found `=`"],
  ["two trailing expressions", "model M {\n  forward {\n    x\n    y\n  }\n}", 4, 5, "expected `}` after the block's final expression, found `y`"],
  ["statement after the final expression", "model M { forward { x; let z = 1 } }", 1, 24, "expected `}` after the block's final expression, found keyword `let`"],
  ["missing comma in arguments", "model M { forward { f(a b) } }", 1, 25, "expected `,` or `)` after an argument, found `b`"],
  ["forward with -> but no type", "module A {\n  forward(x: f32[3]) -> { x }\n}", 2, 25, "expected a return type after `->`, such as `f32[B, dim]`, found `{`"],
  ["unterminated string", "model M { forward { let s = \"abc } }", 1, 29, "unterminated string: missing closing `\"`"],
  ["malformed number 1.2.3", "model M { config { a = 1.2.3 } }", 1, 24, "malformed number `1.2.3`"],
  ["keyword used as a let name", "model M { forward { let model = 3 } }", 1, 25, "`model` is a reserved word and cannot be used as a name"],
  ["repeat without a count", "module A {\n  layers = repeat Layer(dim)\n}", 2, 19, "expected a repeat count after `repeat`, found the module call"],
  ["repeat count without a module", "module A { layers = repeat 4 }", 1, 28, "expected a module call after the repeat count, e.g. `repeat 4 Layer(dim)`"],
  ["^ not followed by T", "module A { forward(x: f32[3]) { x ^ 2 } }", 1, 35, "`^` must be followed immediately by `T` (transpose)"],
  ["^ separated from T", "module A { forward(x: f32[3]) { x ^ T } }", 1, 35, "`^` must be followed immediately by `T` (transpose)"],
  ["chained comparison", "model M { forward { a < b < c } }", 1, 27, "comparisons cannot be chained, found a second comparison `<`"],
  ["missing comma in module parameters", "module A(x: int y: int) {}", 1, 17, "expected `,` or `)` after a parameter, found `y`"],
  ["model with a parameter list", "model M(x: int) {}", 1, 8, "expected `{` to start the model body, found `(`"],
  ["child without parentheses", "module A {\n  norm = LayerNorm\n  forward(x) { x }\n}", 3, 3, "expected `(` after `LayerNorm`, found keyword `forward`"],
  ["stray closing brace at top level", "module A {}\n}\nmodule B {}", 2, 1, "expected `use`, `module`, `model`, `tune` or `method` at top level, found `}`"],
  ["unknown word at top level", "modul A {}", 1, 1, "expected `use`, `module`, `model`, `tune` or `method` at top level, found `modul`"],
  ["empty index", "model M { forward { x[] } }", 1, 23, "expected an index, a slice (`a:b`) or `...` after `[`, found `]`"],
  ["number after dot", "model M { forward { x.0 } }", 1, 23, "expected a member name after `.`, found `0`"],
  ["fractional selector index", "tune t for M { train a[0.5] }", 1, 24, "selector indices must be non-negative integers, found `0.5`"],
  ["empty selector range", "tune t for M { train a[5..2] }", 1, 23, "empty selector range `[5..2]`: the end (exclusive) must be greater than the start"],
  ["tensor type for a module argument", "module A(x: f32) {}", 1, 13, "expected a type `int`, `float` or `bool` after `:`, found keyword `f32`"],
  ["use without a path", "use\nmodule A {}", 2, 1, "expected a module path such as `std.nn` after `use`, found keyword `module`"],
  ["exclamation mark", "model M { forward { let a = !b } }", 1, 29, "unexpected character `!`"],
  ["input without a type", "model M { input x }", 1, 19, "expected `:` and a tensor type after input `x`, found `}`"],
  ["missing expression", "model M { forward { let x = ) } }", 1, 29, "expected an expression after `=`, found `)`"],
  ["input item in a module", "module A { input x: f32[3] }", 1, 12, "expected a module item (`param`, `name = Module(...)`, `forward`) or `}`, found keyword `input`"],
  ["number as initializer", "module A { param w: f32[3] = 0.5 }", 1, 30, "expected an initializer such as `zeros` or `normal(0, 0.02)` after `=`, found `0.5`"],
  ["letters glued to a number", "model M { config { a = 3px } }", 1, 24, "malformed number `3px`"],
  ["keyword as a parameter name", "module A { param input: f32[3] }", 1, 18, "`input` is a reserved word and cannot be used as a name"],
  ["config entry without value", "model M { config { a = } }", 1, 24, "expected an expression after `=`, found `}`"],
  ["unclosed selector alternatives", "tune t for M { train **.{a, b) }", 1, 30, "expected `}` to close the alternatives, found `)`"],
  // `output` is a soft keyword: without `=` it reads as a name, then `y` is a second expression.
  ["output without =", "model M { forward { output y } }", 1, 28, "expected `}` after the block's final expression, found `y`"],
  ["method without parentheses", "tune t for M { lora on x }", 1, 21, "expected `(` after `lora`, found keyword `on`"],
  ["negative selector index", "tune t for M { train a[-1] }", 1, 24, "expected an integer index in `[...]`, found `-`"],
  ["module without a name", "module { }", 1, 8, "expected a module name after `module`, found `{`"],
];

describe('parse errors', () => {
  it('covers at least 30 invalid inputs', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases)('%s', (_name, source, line, col, message) => {
    const { ast, diagnostics } = parseMile(source, 'bad.mile');
    expect(ast).toBeDefined();
    expect(diagnostics.length).toBeGreaterThan(0);
    const first = diagnostics[0]!;
    expect(first.message).toBe(message);
    expect([first.span.line, first.span.col]).toEqual([line, col]);
    expect(first.span.file).toBe('bad.mile');
    expect(first.severity).toBe('error');
    expect(['lex', 'parse']).toContain(first.code);
  });
});

describe('error details', () => {
  const first = (src: string) => parseMile(src, 'bad.mile').diagnostics[0]!;

  it('uses the lex code for lexical errors and parse for the rest', () => {
    expect(first('module A $ {}').code).toBe('lex');
    expect(first('model M { config { a = 1.2.3 } }').code).toBe('lex');
    expect(first('model M { forward { let s = "abc } }').code).toBe('lex');
    expect(first('tune x { }').code).toBe('parse');
  });

  it('spans the whole offending token', () => {
    const d = first('model M { forward { let model = 3 } }');
    expect(d.span).toEqual({ file: 'bad.mile', line: 1, col: 25, endLine: 1, endCol: 30 });
    expect(first('model M { config { a = 1.2.3 } }').span).toMatchObject({ col: 24, endCol: 29 });
    expect(first('module A $$ {}')).toMatchObject({ message: 'unexpected characters `$$`', span: { col: 10, endCol: 12 } });
  });

  it('points at the opening delimiter of an unclosed group', () => {
    const d = first('module A {\n  forward(x: f32[3]) {\n    f(a {\n  }\n}');
    expect(d.related).toEqual([{ span: { file: 'bad.mile', line: 3, col: 6, endLine: 3, endCol: 7 }, message: '`(` opened here' }]);
    const eof = first('model M {\n  forward {\n    let a = 1\n');
    expect(eof.related?.[0]?.span).toMatchObject({ line: 2, col: 11 });
  });

  it('gives help for reserved words, `^` and chained comparisons', () => {
    expect(first('model M { forward { let model = 3 } }').help).toContain('choose another name');
    expect(first('module A { forward(x: f32[3]) { x ^ T } }').help).toBe('remove the space: write `x^T`');
    expect(first('model M { forward { a < b < c } }').help).toContain('and');
  });

  it('reports an empty file as valid and garbage-only input without throwing', () => {
    expect(parseMile('', 'e.mile').diagnostics).toEqual([]);
    expect(parseMile('# only a comment', 'e.mile').diagnostics).toEqual([]);
    const r = parseMile('}}}', 'e.mile');
    expect(r.ast.decls).toEqual([]);
    expect(r.diagnostics[0]!.message).toBe('expected `use`, `module`, `model`, `tune` or `method` at top level, found `}`');
  });

  it('keeps going after an error and reports independent errors on later lines', () => {
    const src = ['model M {', '  config { vocab 64 }', '  input x f32[B]', '  forward { let = 1 }', '}', 'module Ok {}'].join('\n');
    const { ast, diagnostics } = parseMile(src, 'bad.mile');
    expect(diagnostics.map((d) => d.span.line)).toEqual([2, 3, 4]);
    expect(ast.decls.map((d) => d.kind)).toEqual(['model', 'module']);
  });

  it('resumes at the next declaration after stray top-level input', () => {
    const { ast, diagnostics } = parseMile('module A {}\n) ) )\nmodule B {}\n', 'bad.mile');
    expect(diagnostics).toHaveLength(1);
    expect(ast.decls.map((d) => (d.kind === 'module' ? d.name.name : d.kind))).toEqual(['A', 'B']);
  });
});
