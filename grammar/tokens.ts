/**
 * The token vocabulary of `.mile` files: one flat list, in the order the lexer tries them.
 *
 * - Keywords come before `Identifier` and use `longer_alt: Identifier`, so `forward_fn` is a name.
 * - `Name` is a category shared by identifiers and keywords: places where any word is fine
 *   (member names `x.output`, named arguments `f(input = 3)`, selector segments) consume `Name`.
 * - Operator families are categories (`AddOp`, `MulOp`, `CmpOp`) so the grammar can say "any of these".
 * - `BadNumber`, `UnterminatedString` and a lone `Caret` are error tokens: the lexer accepts them
 *   so the parse can go on, and `parse.ts` turns them into diagnostics.
 */
import type { CustomPatternMatcherReturn, TokenType } from 'chevrotain';
import { createToken, Lexer } from './chevrotain.ts';

// ---------------------------------------------------------------- categories

/** Any word: an identifier or a keyword. */
export const Name = createToken({ name: 'Name', pattern: Lexer.NA, label: 'a name' });
export const AddOp = createToken({ name: 'AddOp', pattern: Lexer.NA, label: '`+` or `-`' });
export const MulOp = createToken({ name: 'MulOp', pattern: Lexer.NA, label: '`*`, `/`, `%` or `@`' });
export const CmpOp = createToken({ name: 'CmpOp', pattern: Lexer.NA, label: 'a comparison' });

// ---------------------------------------------------------------- trivia

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\f]+/, group: Lexer.SKIPPED, line_breaks: true });
/**
 * Comments go to the lexer's `comments` group: the parser never sees them, but the formatter and
 * the language server (semantic tokens) read them from `lexResult.groups.comments`.
 */
export const Comment = createToken({ name: 'Comment', pattern: /(?:#|\/\/)[^\n\r]*/, group: 'comments' });

// ---------------------------------------------------------------- literals

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, categories: [Name], label: 'a name' });

export const StringLit = createToken({ name: 'StringLit', pattern: /"(?:[^"\\\r\n]|\\.)*"/, label: 'a string' });
/** A string whose closing quote is missing on its line. */
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\r\n]|\\.)*/, label: 'a string' });

const DIGITS = '0123456789'.split('');

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}
function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_]/.test(c);
}

/**
 * Scans a number starting at `offset`: `768`, `0.02`, `1e-5`, `1.5e3`. A number glued to more
 * dotted digits (`1.2.3`) or to letters (`1e`, `3px`) is scanned whole and marked bad.
 * `0..5` scans as `0` (the `..` belongs to a selector range).
 */
export function scanNumber(text: string, offset: number): { length: number; bad: boolean } | undefined {
  let i = offset;
  if (!isDigit(text[i])) return undefined;
  while (isDigit(text[i])) i++;
  if (text[i] === '.' && isDigit(text[i + 1])) {
    i++;
    while (isDigit(text[i])) i++;
  }
  if (text[i] === 'e' || text[i] === 'E') {
    let j = i + 1;
    if (text[j] === '+' || text[j] === '-') j++;
    if (isDigit(text[j])) {
      while (isDigit(text[j])) j++;
      i = j;
    }
  }
  let bad = false;
  while (text[i] === '.' && isDigit(text[i + 1])) {
    bad = true;
    i++;
    while (isDigit(text[i])) i++;
  }
  if (isWordChar(text[i])) {
    bad = true;
    while (isWordChar(text[i])) i++;
  }
  return { length: i - offset, bad };
}

function numberMatcher(wantBad: boolean) {
  return (text: string, offset: number): CustomPatternMatcherReturn | null => {
    const r = scanNumber(text, offset);
    if (r === undefined || r.bad !== wantBad) return null;
    return [text.slice(offset, offset + r.length)];
  };
}

/** `1.2.3`, `1e`, `3px`: reported as a lexical error, parsed as a number. */
export const BadNumber = createToken({
  name: 'BadNumber',
  pattern: { exec: numberMatcher(true) },
  line_breaks: false,
  start_chars_hint: DIGITS,
  label: 'a number',
});
export const NumberLit = createToken({
  name: 'NumberLit',
  pattern: { exec: numberMatcher(false) },
  line_breaks: false,
  start_chars_hint: DIGITS,
  label: 'a number',
});

// ---------------------------------------------------------------- keywords

export const KEYWORDS = [
  'use',
  'module',
  'model',
  'param',
  'forward',
  'let',
  'loss',
  'config',
  'input',
  'tune',
  'for',
  'on',
  'train',
  'freeze',
  'repeat',
  'if',
  'and',
  'or',
  'not',
  'true',
  'false',
  'none',
  'int',
  'float',
  'bool',
  'f32',
  'i32',
  'hook',
  'method',
] as const;
export type Keyword = (typeof KEYWORDS)[number];

function keyword(word: Keyword): TokenType {
  const name = word[0]!.toUpperCase() + word.slice(1);
  return createToken({ name, pattern: word, longer_alt: Identifier, categories: [Name], label: `\`${word}\`` });
}

export const Use = keyword('use');
export const Module = keyword('module');
export const Model = keyword('model');
export const Param = keyword('param');
export const Forward = keyword('forward');
export const Let = keyword('let');
export const Loss = keyword('loss');
export const Config = keyword('config');
export const Input = keyword('input');
export const Tune = keyword('tune');
export const For = keyword('for');
export const On = keyword('on');
export const Train = keyword('train');
export const Freeze = keyword('freeze');
export const Repeat = keyword('repeat');
export const If = keyword('if');
export const And = keyword('and');
export const Or = keyword('or');
export const Not = keyword('not');
export const True = keyword('true');
export const False = keyword('false');
export const None = keyword('none');
export const Int = keyword('int');
export const Float = keyword('float');
export const Bool = keyword('bool');
export const F32 = keyword('f32');
export const I32 = keyword('i32');
export const Hook = keyword('hook');
export const Method = keyword('method');

/**
 * Soft keywords: ordinary names everywhere except where they start a construct, and never
 * reserved. `output` starts a statement (`output NAME = …`); `rewrite` and `shared` start
 * items of a `method` body (`rewrite(x) { … }`, `shared param …`).
 */
export const SOFT_KEYWORDS = ['output', 'rewrite', 'shared'] as const;

const keywordTokens: TokenType[] = [
  Use,
  Module,
  Model,
  Param,
  Forward,
  Let,
  Loss,
  Config,
  Input,
  Tune,
  For,
  On,
  Train,
  Freeze,
  Repeat,
  If,
  And,
  Or,
  Not,
  True,
  False,
  None,
  Int,
  Float,
  Bool,
  F32,
  I32,
  Hook,
  Method,
];

/** Keyword token types, for "`model` is a reserved word" messages. */
export const keywordTokenTypes: ReadonlySet<TokenType> = new Set(keywordTokens);

// ---------------------------------------------------------------- punctuation and operators

function punct(name: string, pattern: string | RegExp, label: string, categories: TokenType[] = []): TokenType {
  return createToken({ name, pattern, label: `\`${label}\``, categories });
}

export const Arrow = punct('Arrow', '->', '->');
export const Ellipsis = punct('Ellipsis', '...', '...');
export const DotDot = punct('DotDot', '..', '..');
export const Dot = punct('Dot', '.', '.');
export const GlobStar = punct('GlobStar', '**', '**');
export const Star = punct('Star', '*', '*', [MulOp]);
export const Slash = punct('Slash', '/', '/', [MulOp]);
export const Percent = punct('Percent', '%', '%', [MulOp]);
export const At = punct('At', '@', '@', [MulOp]);
export const Plus = punct('Plus', '+', '+', [AddOp]);
export const Minus = punct('Minus', '-', '-', [AddOp]);
export const EqEq = punct('EqEq', '==', '==', [CmpOp]);
export const NotEq = punct('NotEq', '!=', '!=', [CmpOp]);
export const LtEq = punct('LtEq', '<=', '<=', [CmpOp]);
export const GtEq = punct('GtEq', '>=', '>=', [CmpOp]);
export const Lt = punct('Lt', '<', '<', [CmpOp]);
export const Gt = punct('Gt', '>', '>', [CmpOp]);
export const Equals = punct('Equals', '=', '=');
/** `^T`: the caret glued to a `T` that is not the start of a longer name. */
export const Transpose = createToken({ name: 'Transpose', pattern: /\^T(?![A-Za-z0-9_])/, start_chars_hint: ['^'], label: '`^T`' });
/** A `^` that is not part of `^T`: always an error, kept as a token so the parser can explain it. */
export const Caret = punct('Caret', '^', '^');
export const Colon = punct('Colon', ':', ':');
/** `|` separates the site types of a method: `method m() on Linear(in) | Conv(in) { … }`. */
export const Pipe = punct('Pipe', '|', '|');
export const Comma = punct('Comma', ',', ',');
export const Semicolon = punct('Semicolon', ';', ';');
export const LParen = punct('LParen', '(', '(');
export const RParen = punct('RParen', ')', ')');
export const LBracket = punct('LBracket', '[', '[');
export const RBracket = punct('RBracket', ']', ']');
export const LBrace = punct('LBrace', '{', '{');
export const RBrace = punct('RBrace', '}', '}');

/** Longest keyword first, so a keyword that is a prefix of another (`for`, `forward`) never wins early. */
const keywordsByLength = [...keywordTokens].sort((a, b) => String(b.PATTERN).length - String(a.PATTERN).length);

/** Every token type, in lexing order (categories included: the parser needs them in its vocabulary). */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  StringLit,
  UnterminatedString,
  BadNumber,
  NumberLit,
  ...keywordsByLength,
  Identifier,
  Arrow,
  Ellipsis,
  DotDot,
  Dot,
  GlobStar,
  Star,
  Slash,
  Percent,
  At,
  Plus,
  Minus,
  EqEq,
  NotEq,
  LtEq,
  GtEq,
  Lt,
  Gt,
  Equals,
  Transpose,
  Caret,
  Colon,
  Pipe,
  Comma,
  Semicolon,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Name,
  AddOp,
  MulOp,
  CmpOp,
];

export const mileLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
