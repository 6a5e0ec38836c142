/**
 * `milec fmt`: the one canonical layout of `.mile` text.
 *
 * The formatter works line by line on the token stream (comments included, from the lexer's
 * `comments` group) and reads the parser's CST only to know where items and statements start
 * and what kind they are. It keeps the author's line breaks, as gofmt does: newlines are not
 * significant in `.mile`, and where a long argument list is broken is a choice the author made.
 * What it decides:
 *
 * - spacing inside a line (one space around binary operators, none inside brackets, `a.b`,
 *   `x[:, :-1]`, `f(x)`, `weight^T`, `.{query, value}`; `{ x }` for a one-line block);
 * - indentation: two spaces per open bracket; a line that continues a statement (a broken
 *   selector list, an operator at the end of the line before) gets one more level;
 * - blank lines: at most one in a row, none at the start or end of the file or just inside a
 *   block's braces;
 * - alignment, as std and the examples write it: the `=` of consecutive child declarations,
 *   the type column of consecutive `param` and `input` lines, the `=` of consecutive `param`
 *   initialisers when their types are of similar width, and trailing comments of consecutive
 *   lines. Comment lines inside such a run do not break it; blank lines and other items do.
 *   Config entries are not aligned (several share a line in the examples);
 * - comments: kept verbatim (trailing whitespace trimmed), indented like the code they precede.
 *
 * Text that does not parse is returned unchanged with its diagnostics: the formatter never
 * guesses at broken code. As a last guard, the output is re-lexed and must hold the same tokens
 * and comments as the input, or the input is returned with an internal-error diagnostic.
 */
import type { CstNode, IToken, TokenType } from 'chevrotain';
import { error, hasErrors, type Diagnostic } from '../core/diagnostic.ts';
import { MileSyntax, parseMile } from './parse.ts';
import { breakLongLines } from './format-break.ts';
import { alignLines, type AlignKind, type Piece, type RenderedLine } from './format-align.ts';
import * as T from './tokens.ts';

export interface FormatOptions {
  /**
   * Split lines longer than this at their widest `( … )` list, one element per line
   * (`format-break.ts`). Unset (the default), the author's line breaks are kept, as std and the
   * examples have long module headers by choice.
   */
  width?: number;
  /** The file name used in diagnostics. Default `input.mile`. */
  file?: string;
}

export interface FormatResult {
  /** The formatted text, or the input unchanged when it has errors or opts out. */
  text: string;
  /** Parse diagnostics (or an internal-error diagnostic); empty when the text was formatted. */
  diagnostics: Diagnostic[];
  /** The file opts out with `# milec fmt: off` on its first line, and was left as written. */
  off?: boolean;
}

/**
 * A first line `# milec fmt: off` (or `// milec fmt: off`) keeps a file as written, as black's
 * `# fmt: off` or rustfmt's `#[rustfmt::skip]`: for text that is unusual on purpose (the editor
 * tests' fixtures keep malformed numbers and odd spacing to check highlighting on them).
 */
const FORMAT_OFF = /^\s*(#|\/\/)\s*milec fmt:\s*off\b/;

const MAX_SPLIT_ROUNDS = 32;

export function formatMile(source: string, options: FormatOptions = {}): FormatResult {
  const file = options.file ?? 'input.mile';
  if (FORMAT_OFF.test(source.slice(0, source.indexOf('\n') + 1 || undefined))) return { text: source, diagnostics: [], off: true };
  const first = formatOnce(source, file);
  if (first.diagnostics.length || options.width === undefined) return first;
  let text = first.text;
  // Each round splits every over-long line once; a split is never undone, so rounds are bounded by
  // the nesting of lists. The cap only guards an editor against a bug here looping forever.
  for (let round = 0; round < MAX_SPLIT_ROUNDS; round++) {
    const next = breakLongLines(text, options.width);
    if (next === undefined) break;
    const r = formatOnce(next, file);
    if (r.diagnostics.length) return { text: source, diagnostics: r.diagnostics };
    text = r.text;
  }
  return { text, diagnostics: [] };
}

function formatOnce(source: string, file: string): FormatResult {
  const parsed = parseMile(source, file);
  if (hasErrors(parsed.diagnostics)) return { text: source, diagnostics: parsed.diagnostics };
  const lexed = T.mileLexer.tokenize(source);
  const comments = (lexed.groups['comments'] ?? []) as IToken[];
  const parser = MileSyntax.shared.cstParser;
  parser.input = lexed.tokens;
  const cst = parser.file();
  if (parser.errors.length) return { text: source, diagnostics: [internal(file, 'the CST parse disagrees with parseMile')] };
  const text = layout(lexed.tokens, comments, analyse(cst));
  const problem = sameTokens(source, text);
  if (problem) return { text: source, diagnostics: [internal(file, problem)] };
  return { text, diagnostics: [] };
}

function internal(file: string, why: string): Diagnostic {
  return error('format', `internal formatter error: ${why}; the text was left unchanged`, { file, line: 1, col: 1, endLine: 1, endCol: 1 });
}

// ---------------------------------------------------------------- what the CST tells

interface Syntax {
  /** First tokens of items, statements and config entries: a line starting with one is not a continuation. */
  starts: Set<IToken>;
  /** The kind of alignable item each start token begins, with the tokens its columns align on. */
  align: Map<IToken, AlignKind>;
  /** `{` and `}` of selector alternatives (`.{query, value}`): no space inside. */
  selectorBraces: Set<IToken>;
}

const STATEMENT_RULES = new Set(['topDecl', 'moduleItem', 'modelItem', 'tuneItem', 'methodItem', 'configEntry', 'statement']);
const BLOCK_RULES = new Set(['block', 'rewriteBody', 'hookBody']);
const CLASSIFIED_RULES = new Set(['childDecl', 'paramDecl', 'inputDecl', 'methodItem']);

function isToken(x: CstNode | IToken): x is IToken {
  return (x as IToken).tokenType !== undefined;
}

/** The node's first token: each child list is in source order, so only its head can hold it. */
function firstToken(node: CstNode): IToken | undefined {
  let best: IToken | undefined;
  for (const key in node.children) {
    const c = node.children[key]![0];
    const t = c === undefined ? undefined : isToken(c) ? c : firstToken(c);
    if (t && (!best || t.startOffset < best.startOffset)) best = t;
  }
  return best;
}

function childToken(node: CstNode, tokenType: TokenType): IToken | undefined {
  for (const list of Object.values(node.children)) {
    for (const c of list) if (isToken(c) && c.tokenType === tokenType) return c;
  }
  return undefined;
}

function childNode(node: CstNode, name: string): CstNode | undefined {
  const c = node.children[name]?.[0];
  return c && !isToken(c) ? c : undefined;
}

function analyse(root: CstNode): Syntax {
  const s: Syntax = { starts: new Set(), align: new Map(), selectorBraces: new Set() };
  const visit = (node: CstNode): void => {
    const first = STATEMENT_RULES.has(node.name) || CLASSIFIED_RULES.has(node.name) ? firstToken(node) : undefined;
    if (first && STATEMENT_RULES.has(node.name)) s.starts.add(first);
    if (BLOCK_RULES.has(node.name)) {
      for (const c of [...(node.children['expr'] ?? []), ...(node.children['Semicolon'] ?? [])]) {
        const t = isToken(c) ? c : firstToken(c);
        if (t) s.starts.add(t);
      }
    }
    if (node.name === 'selectorAlt') {
      for (const b of [childToken(node, T.LBrace), childToken(node, T.RBrace)]) if (b) s.selectorBraces.add(b);
    }
    if (first) classify(node, first, s.align);
    for (const list of Object.values(node.children)) for (const c of list) if (!isToken(c)) visit(c);
  };
  visit(root);
  return s;
}

function classify(node: CstNode, first: IToken, align: Map<IToken, AlignKind>): void {
  if (node.name === 'childDecl') {
    const eq = childToken(node, T.Equals);
    if (eq) align.set(first, { kind: 'child', eq });
  } else if (node.name === 'paramDecl' || node.name === 'inputDecl') {
    const colon = childToken(node, T.Colon);
    const type = childNode(node, 'tensorType');
    const typeStart = type && firstToken(type);
    if (!colon || !typeStart) return;
    const eq = node.name === 'paramDecl' ? childToken(node, T.Equals) : undefined;
    // `shared param …` starts at `shared`, one node up (methodItem): the paramDecl's own first token is `param`.
    align.set(first, { kind: node.name === 'paramDecl' ? 'param' : 'input', type: typeStart, ...(eq ? { eq } : {}) });
  } else if (node.name === 'methodItem' && node.children['sharedKeyword']) {
    const param = childNode(node, 'paramDecl');
    const inner = param && firstToken(param);
    if (param && inner) {
      classify(param, inner, align);
      const k = align.get(inner);
      if (k) align.set(first, k);
    }
  }
}

// ---------------------------------------------------------------- spacing inside a line

const OPENERS = new Set<TokenType>([T.LParen, T.LBracket, T.LBrace]);
const CLOSERS = new Set<TokenType>([T.RParen, T.RBracket, T.RBrace]);
/** Tokens after which an expression can end: a `-` after one is binary, a `[` after one indexes. */
const VALUE_ENDS = new Set<TokenType>([
  T.Identifier,
  T.NumberLit,
  T.BadNumber,
  T.StringLit,
  T.RParen,
  T.RBracket,
  T.Transpose,
  T.True,
  T.False,
  T.None,
]);

/** Per-token facts that depend on the tokens before it, computed once over the whole file. */
interface Context {
  unary: Set<IToken>;
  sliceColons: Set<IToken>;
  valueEnds: Set<IToken>;
}

function context(tokens: IToken[]): Context {
  const c: Context = { unary: new Set(), sliceColons: new Set(), valueEnds: new Set() };
  const brackets: { index: boolean }[] = [];
  tokens.forEach((t, i) => {
    const prev = tokens[i - 1];
    // A keyword after `.` is a member name (`layer.input`), so it ends a value like any name.
    if (VALUE_ENDS.has(t.tokenType) || (prev?.tokenType === T.Dot && T.keywordTokenTypes.has(t.tokenType))) c.valueEnds.add(t);
    const afterValue = prev !== undefined && c.valueEnds.has(prev);
    if ((t.tokenType === T.Minus || t.tokenType === T.Plus) && !afterValue) c.unary.add(t);
    if (OPENERS.has(t.tokenType)) brackets.push({ index: t.tokenType === T.LBracket && afterValue });
    else if (CLOSERS.has(t.tokenType)) brackets.pop();
    else if (t.tokenType === T.Colon && brackets[brackets.length - 1]?.index) c.sliceColons.add(t);
  });
  return c;
}

/** The space between two tokens on one line: '' or ' '. */
function gap(prev: IToken, cur: IToken, ctx: Context, syn: Syntax): string {
  const p = prev.tokenType;
  const k = cur.tokenType;
  if (k === T.Comma || k === T.Semicolon || k === T.RParen || k === T.RBracket) return '';
  if (p === T.LParen || p === T.LBracket) return '';
  if (p === T.Dot || k === T.Dot || p === T.DotDot || k === T.DotDot || k === T.Transpose) return '';
  if (syn.selectorBraces.has(prev) && p === T.LBrace) return '';
  if (syn.selectorBraces.has(cur) && k === T.RBrace) return '';
  if (p === T.LBrace && k === T.RBrace) return '';
  if (k === T.Colon) return ctx.sliceColons.has(cur) && p === T.Comma ? ' ' : '';
  if (p === T.Colon && ctx.sliceColons.has(prev)) return '';
  if (ctx.unary.has(prev)) return '';
  if (k === T.LParen) return p === T.Identifier || p === T.Forward || ctx.valueEnds.has(prev) ? '' : ' ';
  if (k === T.LBracket) return ctx.valueEnds.has(prev) || p === T.F32 || p === T.I32 ? '' : ' ';
  return ' ';
}

// ---------------------------------------------------------------- lines, indentation, blank lines

interface SourceLine {
  code: IToken[];
  comment?: IToken;
  /** Whether one or more blank lines came before it in the source. */
  blankBefore: boolean;
}

function sourceLines(tokens: IToken[], comments: IToken[]): SourceLine[] {
  const all = [...tokens, ...comments].sort((a, b) => a.startOffset - b.startOffset);
  const lines: SourceLine[] = [];
  let lastLine = 0;
  let current: SourceLine | undefined;
  for (const t of all) {
    const line = t.startLine ?? 1;
    if (!current || line !== lastLine) {
      current = { code: [], blankBefore: lastLine > 0 && line > lastLine + 1 };
      lines.push(current);
      lastLine = line;
    }
    if (t.tokenType === T.Comment) current.comment = t;
    else current.code.push(t);
  }
  return lines;
}

interface Open {
  token: IToken;
  /** Indent level of the line that opened it. */
  base: number;
}

/** Indent levels of the lines with code; comment-only lines get `undefined` here. */
function indents(lines: SourceLine[], syn: Syntax): { levels: (number | undefined)[]; blocks: (IToken | undefined)[] } {
  const stack: Open[] = [];
  const levels: (number | undefined)[] = [];
  const blocks: (IToken | undefined)[] = [];
  let prevCode: IToken | undefined;
  for (const line of lines) {
    const first = line.code[0];
    if (!first) {
      levels.push(undefined);
      blocks.push(stack[stack.length - 1]?.token);
      continue;
    }
    const top = stack[stack.length - 1];
    let level: number;
    if (CLOSERS.has(first.tokenType)) level = top?.base ?? 0;
    else {
      level = top ? top.base + 1 : 0;
      const inStatements = !top || (top.token.tokenType === T.LBrace && !syn.selectorBraces.has(top.token));
      const continues = inStatements ? !syn.starts.has(first) : prevCode !== top!.token && prevCode?.tokenType !== T.Comma;
      if (continues) level++;
    }
    levels.push(level);
    blocks.push(top?.token);
    for (const t of line.code) {
      if (OPENERS.has(t.tokenType)) stack.push({ token: t, base: level });
      else if (CLOSERS.has(t.tokenType)) stack.pop();
    }
    prevCode = line.code[line.code.length - 1];
  }
  // A comment line takes the indent of the code it precedes; before a closer, that of the block's contents.
  for (let i = levels.length - 1; i >= 0; i--) {
    if (levels[i] !== undefined) continue;
    const next = lines.slice(i + 1).findIndex((l) => l.code.length > 0);
    if (next < 0) levels[i] = 0;
    else {
      const j = i + 1 + next;
      const closes = CLOSERS.has(lines[j]!.code[0]!.tokenType);
      levels[i] = levels[j]! + (closes ? 1 : 0);
    }
  }
  return { levels, blocks };
}

function layout(tokens: IToken[], comments: IToken[], syn: Syntax): string {
  const lines = sourceLines(tokens, comments);
  const ctx = context(tokens);
  const { levels, blocks } = indents(lines, syn);
  const rendered: RenderedLine[] = lines.map((line, i) => {
    const pieces: Piece[] = line.code.map((t, j) => ({
      token: t,
      text: t.image,
      before: j === 0 ? '' : gap(line.code[j - 1]!, t, ctx, syn),
    }));
    const first = line.code[0];
    return {
      indent: '  '.repeat(levels[i]!),
      pieces,
      comment: line.comment?.image.trimEnd(),
      align: first ? syn.align.get(first) : undefined,
      block: blocks[i],
      blankBefore: line.blankBefore && i > 0 && !opensBlock(lines[i - 1]!) && !(first && CLOSERS.has(first.tokenType)),
    };
  });
  alignLines(rendered);
  const out: string[] = [];
  for (const r of rendered) {
    if (r.blankBefore) out.push('');
    const code = r.pieces.map((p) => p.before + p.text).join('');
    const sep = code ? (r.commentGap ?? '  ') : '';
    out.push((r.indent + code + (r.comment !== undefined ? sep + r.comment : '')).trimEnd());
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** A line whose last code token is an opener: a blank line right after it is dropped. */
function opensBlock(line: SourceLine): boolean {
  const last = line.code[line.code.length - 1];
  return last !== undefined && OPENERS.has(last.tokenType);
}

// ---------------------------------------------------------------- the last guard

/** Undefined when `b` has exactly the tokens and comments of `a`; else what differs. */
export function sameTokens(a: string, b: string): string | undefined {
  const la = T.mileLexer.tokenize(a);
  const lb = T.mileLexer.tokenize(b);
  const code = (r: typeof la) => r.tokens.map((t) => t.image);
  const notes = (r: typeof la) => ((r.groups['comments'] ?? []) as IToken[]).map((t) => t.image.trimEnd());
  const [ca, cb] = [code(la), code(lb)];
  const i = ca.findIndex((t, j) => t !== cb[j]);
  if (i >= 0 || ca.length !== cb.length)
    return `token ${i < 0 ? ca.length : i} changed (\`${ca[i] ?? 'end'}\` became \`${cb[i] ?? 'end'}\`)`;
  const [na, nb] = [notes(la), notes(lb)];
  if (na.length !== nb.length || na.some((c, j) => c !== nb[j])) return 'a comment changed';
  if (lb.errors.length) return 'the output does not lex';
  return undefined;
}
