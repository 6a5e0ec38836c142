/**
 * `formatMile`: the canonical layout rule by rule, text that does not parse, and the properties
 * every `.mile` file of the repository must have (idempotent, same tokens and comments, already
 * formatted), plus whitespace mutations of the examples that must format back to the same text.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatMile, sameTokens } from '../../grammar/format.ts';
import { mileLexer } from '../../grammar/tokens.ts';
import { mileFiles } from '../../cli/fmt.ts';
import type { IToken } from 'chevrotain';
import { mulberry32 } from '../../core/random.ts';

const fmt = (s: string, width?: number) => {
  const r = formatMile(s, width === undefined ? {} : { width });
  expect(r.diagnostics).toEqual([]);
  return r.text;
};
const lines = (...ls: string[]) => ls.join('\n') + '\n';

describe('formatMile: spacing and indentation', () => {
  it('spaces binary operators, not brackets, members, slices, calls or unary minus', () => {
    const src = lines(
      'module   M ( d:int,p : float=0.1 ){',
      'forward( x:f32[ B,d ] )->f32[B,d]{',
      'let a=x [ :, : -1 ]+x[ 0:4:2 ,... ]*-1',
      'let b=f ( x,dim=-1 ) @ w ^T',
      'let c=[ 1 ,2 ]',
      'a.output-b+c[0]',
      '}',
      '}',
    );
    expect(fmt(src)).toBe(
      lines(
        'module M(d: int, p: float = 0.1) {',
        '  forward(x: f32[B, d]) -> f32[B, d] {',
        '    let a = x[:, :-1] + x[0:4:2, ...] * -1',
        '    let b = f(x, dim = -1) @ w^T',
        '    let c = [1, 2]',
        '    a.output - b + c[0]',
        '  }',
        '}',
      ),
    );
  });

  it('writes selectors tight and one-line blocks with inner spaces', () => {
    const src = lines(
      'tune t for M{',
      'train   head ,**.bias',
      'lora( r=4 )on blocks . * . { query ,value },layers[ 0 .. 2 ].*',
      'optimizer{lr=1e-3}',
      '}',
    );
    expect(fmt(src)).toBe(
      lines(
        'tune t for M {',
        '  train head, **.bias',
        '  lora(r = 4) on blocks.*.{query, value}, layers[0..2].*',
        '  optimizer { lr = 1e-3 }',
        '}',
      ),
    );
  });

  it('indents a statement continued on the next line one level more, and a broken list one level', () => {
    const src = lines('tune t for M {', 'lora() on a.b,', 'c.d,', '        e', 'train x', '}', 'model N {', 'x = Foo(1,', '2)', '}');
    expect(fmt(src)).toBe(
      lines('tune t for M {', '  lora() on a.b,', '    c.d,', '    e', '  train x', '}', 'model N {', '  x = Foo(1,', '    2)', '}'),
    );
  });

  it('keeps at most one blank line, none at the ends or just inside braces', () => {
    const src = '\n\nuse std.nn\n\n\n\nmodule M {\n\n  forward(x) { x }\n\n}\n\n\n';
    expect(fmt(src)).toBe(lines('use std.nn', '', 'module M {', '  forward(x) { x }', '}'));
  });
});

describe('formatMile: alignment', () => {
  it('aligns the = of consecutive children across comment lines, not across a blank line or another item', () => {
    const src = lines(
      'model M {',
      'a = X()',
      '# about b',
      'bbbbbb = Y()',
      '',
      'cc = Z()',
      'd = Z()',
      'param w: f32[1] = ones',
      'eee = Z()',
      '}',
    );
    expect(fmt(src)).toBe(
      lines(
        'model M {',
        '  a      = X()',
        '  # about b',
        '  bbbbbb = Y()',
        '',
        '  cc = Z()',
        '  d  = Z()',
        '  param w: f32[1] = ones',
        '  eee = Z()',
        '}',
      ),
    );
  });

  it('aligns param and input types; param initialisers only when the types are of similar width', () => {
    const src = lines(
      'module L(i: int, o: int) {',
      'param weight: f32[o, i] = normal(0, 0.02)',
      'param bias: f32[o] = zeros if true',
      '',
      'param filters: f32[o, i, i, i, i] = ones',
      'param b: f32[o] = zeros',
      'forward(x) { x }',
      '}',
      'model M {',
      'input image: f32[B, 3]',
      'input question_ids: i32[B]',
      '}',
    );
    expect(fmt(src)).toBe(
      lines(
        'module L(i: int, o: int) {',
        '  param weight: f32[o, i] = normal(0, 0.02)',
        '  param bias:   f32[o]    = zeros if true',
        '',
        '  param filters: f32[o, i, i, i, i] = ones',
        '  param b:       f32[o] = zeros',
        '  forward(x) { x }',
        '}',
        'model M {',
        '  input image:        f32[B, 3]',
        '  input question_ids: i32[B]',
        '}',
      ),
    );
  });

  it('does not align config entries; aligns trailing comments of consecutive lines two spaces after the longest', () => {
    const src = lines('model M {', '  config {', '    vocab = 3 # a', '    qlen = 35, alen = 10      # b', '    p = 0.1', '  }', '}');
    expect(fmt(src)).toBe(
      lines('model M {', '  config {', '    vocab = 3             # a', '    qlen = 35, alen = 10  # b', '    p = 0.1', '  }', '}'),
    );
  });
});

describe('formatMile: comments and errors', () => {
  it('keeps every comment, indented like the code after it (inside the block before a closer)', () => {
    const src = lines('# file', '   // slash', 'model M {', '# first', '  forward {', 'let x = 1   ', '      # last', '}', '}   # end   ');
    expect(fmt(src)).toBe(
      lines('# file', '// slash', 'model M {', '  # first', '  forward {', '    let x = 1', '    # last', '  }', '}  # end'),
    );
  });

  it('returns text that does not parse unchanged, with its diagnostics', () => {
    const src = 'model M {\n  input x: f32[B, 4\n}\n';
    const r = formatMile(src, { file: 'bad.mile' });
    expect(r.text).toBe(src);
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(r.diagnostics[0]!.span.file).toBe('bad.mile');
    const lexBad = 'model M { forward { let y = 1.2.3 } }\n';
    expect(formatMile(lexBad).text).toBe(lexBad);
    expect(formatMile(lexBad).diagnostics[0]!.code).toBe('lex');
  });

  it('formats an empty file to an empty file', () => {
    expect(fmt('')).toBe('');
    expect(fmt('\n\n  \n')).toBe('');
  });
});

describe('formatMile: width', () => {
  it('splits a long sum before its operators and a long list one element per line, then is stable', () => {
    const src = lines(
      'module VeryLongModuleName(first_argument: int, second_argument: int, third_argument: float = 0.5) {',
      '  forward(x) {',
      '    first_call(x, 1) + second_call(x, 2) + third_call(x, 3) + fourth_call(x, 4)',
      '  }',
      '}',
    );
    const out = fmt(src, 60);
    expect(out).toBe(
      lines(
        'module VeryLongModuleName(',
        '  first_argument: int,',
        '  second_argument: int,',
        '  third_argument: float = 0.5',
        ') {',
        '  forward(x) {',
        '    first_call(x, 1)',
        '      + second_call(x, 2)',
        '      + third_call(x, 3)',
        '      + fourth_call(x, 4)',
        '  }',
        '}',
      ),
    );
    expect(fmt(out, 60)).toBe(out);
    expect(fmt(src)).toBe(src);
  });
});

// ---------------------------------------------------------------- every .mile file of the repository

/** The repository's .mile files (tests/editor/fixtures/lexical.mile opts out: it must not parse). */
const repoFiles = mileFiles(['.']);
const LEXICAL = 'tests/editor/fixtures/lexical.mile';
const parseable = repoFiles.filter((f) => {
  const r = formatMile(readFileSync(f, 'utf8'));
  return r.diagnostics.length === 0 && !r.off;
});

function comments(text: string): string[] {
  return ((mileLexer.tokenize(text).groups['comments'] ?? []) as IToken[]).map((t) => t.image.trimEnd());
}

describe('every .mile file in the repository', () => {
  it('finds the examples, std and the fixtures', () => {
    expect(repoFiles).toContain('std/bert.mile');
    expect(repoFiles).toContain('examples/miss_vqa.mile');
    expect(parseable.length).toBeGreaterThanOrEqual(13);
  });

  it.each(parseable)('%s: formatting is idempotent and keeps every token and comment', (file) => {
    const src = readFileSync(file, 'utf8');
    const once = fmt(src);
    expect(fmt(once)).toBe(once);
    expect(sameTokens(src, once)).toBeUndefined();
    expect(comments(once)).toEqual(comments(src));
    const narrow = fmt(src, 100);
    expect(fmt(narrow, 100)).toBe(narrow);
    expect(sameTokens(src, narrow)).toBeUndefined();
  });

  it.each(repoFiles)('%s is formatted (milec fmt --check)', (file) => {
    const src = readFileSync(file, 'utf8');
    expect(formatMile(src).text).toBe(src);
  });

  it('leaves a file that does not parse exactly as it is', () => {
    const src = readFileSync(LEXICAL, 'utf8').split('\n').slice(1).join('\n');
    const r = formatMile(src);
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(r.text).toBe(src);
  });

  it('keeps a file whose first line is `# milec fmt: off` as written', () => {
    const messy = 'model  M {\n    config { a=1 }\n}\n';
    expect(formatMile(messy).text).not.toBe(messy);
    for (const off of ['# milec fmt: off\n', '// milec fmt: off (hand-aligned)\n', '  #milec fmt:off\n'])
      expect(formatMile(off + messy)).toEqual({ text: off + messy, diagnostics: [], off: true });
    // Only the first line opts out, and only this spelling.
    for (const not of ['\n# milec fmt: off\n', '# fmt: off\n', '# milec fmt: offline\n'])
      expect(formatMile(not + messy).off).toBeUndefined();
  });
});

describe('docs/language.md', () => {
  it('every ```mile block is formatted', () => {
    const doc = readFileSync('docs/language.md', 'utf8').split('\n');
    let blocks = 0;
    for (let i = 0; i < doc.length; i++) {
      if (doc[i]!.trim() !== '```mile') continue;
      let j = i + 1;
      while (doc[j]!.trim() !== '```') j++;
      const code = doc.slice(i + 1, j).join('\n') + '\n';
      expect(formatMile(code).text, `block at line ${i + 2}`).toBe(code);
      blocks++;
      i = j;
    }
    expect(blocks).toBeGreaterThanOrEqual(10);
  });
});

// ---------------------------------------------------------------- whitespace mutations

/** Whether `a` and `b` written with nothing between them still lex as exactly those two tokens. */
function canTouch(a: string, b: string): boolean {
  const r = mileLexer.tokenize(a + b);
  const all = [...r.tokens, ...((r.groups['comments'] ?? []) as IToken[])];
  return r.errors.length === 0 && all.length === 2 && all.some((t) => t.image === a) && all.some((t) => t.image === b);
}

/**
 * `text` with its whitespace re-drawn at random, keeping what the layout may depend on: the
 * tokens, which of them share a line, and whether a gap between lines held a blank line.
 */
function mutate(text: string, random: () => number): string {
  const r = mileLexer.tokenize(text);
  const toks = [...r.tokens, ...((r.groups['comments'] ?? []) as IToken[])].sort((x, y) => x.startOffset - y.startOffset);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
  let out = pick(['', '\n', '\n\n\n', '  \n']);
  toks.forEach((t, i) => {
    const prev = toks[i - 1];
    if (prev) {
      const between = text.slice(prev.endOffset! + 1, t.startOffset);
      const newlines = (between.match(/\n/g) ?? []).length;
      const indent = pick(['', ' ', '    ', '\t', '          ']);
      const trailing = pick(['', ' ', '\t ']);
      if (newlines === 0) out += pick(canTouch(prev.image, t.image) ? ['', ' ', '   ', '\t'] : [' ', '   ', '\t']);
      else if (newlines === 1) out += trailing + '\n' + indent;
      else out += trailing + '\n' + pick(['', '  ', '\t']) + '\n'.repeat(1 + Math.floor(random() * 3)) + indent;
    }
    out += t.image;
  });
  return out + pick(['', '\n', '\n\n', '   \n']);
}

describe('whitespace mutations of the examples and std format back to the same text', () => {
  const files = parseable.filter((f) => f.startsWith('examples/') || f.startsWith('std/'));
  it.each(files)('%s', (file) => {
    const src = readFileSync(file, 'utf8');
    const canonical = fmt(src);
    for (let seed = 1; seed <= 4; seed++) {
      const mutated = mutate(src, mulberry32(seed * 7919 + file.length));
      expect(mutated).not.toBe(src);
      expect(fmt(mutated), `${file}, seed ${seed}`).toBe(canonical);
    }
  });
});

describe('mangled input', () => {
  it('never throws: text with a token deleted is either formatted with the same tokens or returned as it was', () => {
    const src = readFileSync('examples/tiny_classifier.mile', 'utf8');
    const tokens = mileLexer.tokenize(src).tokens;
    const random = mulberry32(42);
    let broken = 0;
    for (let n = 0; n < 30; n++) {
      const t = tokens[Math.floor(random() * tokens.length)]!;
      const mangled = src.slice(0, t.startOffset) + src.slice(t.endOffset! + 1);
      const r = formatMile(mangled);
      if (r.diagnostics.length) {
        broken++;
        expect(r.text).toBe(mangled);
      } else expect(sameTokens(mangled, r.text)).toBeUndefined();
    }
    expect(broken).toBeGreaterThan(10);
  });
});
